"""Engine cache (TVM_TENSORRT_CACHE_DIR), runtime variables, prebuilt engines and load()."""

import json
import os
import re
import stat
import threading

import numpy as np
import pytest
from tvm import relax

import tvm_tensorrt
from model_utils import run_in_fresh_process

SHAPE = (1, 3, 8, 8)


def two_subgraph_module(weight_scale=1.0):
    """conv -> relu | cumprod (TVM) | conv -> softmax: two TensorRT subgraphs."""
    rng = np.random.default_rng(0)
    w1 = relax.const((rng.standard_normal((4, 3, 3, 3)) * weight_scale).astype("float32"))
    w2 = relax.const(rng.standard_normal((2, 4, 3, 3)).astype("float32"))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(SHAPE, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.relu(relax.op.nn.conv2d(x, w1, padding=(1, 1))))
            y = bb.emit(relax.op.cumprod(y, axis=3))
            y = bb.emit(relax.op.nn.softmax(relax.op.nn.conv2d(y, w2, padding=(1, 1)), axis=1))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get()


def compile_library(path, mod=None, **build_options):
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod or two_subgraph_module())
    tvm_tensorrt.build(partitioned, config=config, **build_options).export_library(str(path))
    return str(path)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return compile_library(tmp_path_factory.mktemp("lib") / "two.so")


def run(library, workdir, cache_dir, **env):
    x = np.random.default_rng(1).standard_normal(SHAPE).astype("float32")
    return run_in_fresh_process(library, x, str(workdir), env={"TVM_TENSORRT_CACHE_DIR": str(cache_dir), **env})


def messages(log, kind):
    return re.findall(rf"{kind} [^\n]*", log)


def entries(cache_dir):
    return sorted(f[:-5] for f in os.listdir(cache_dir) if f.endswith(".plan"))


def test_cold_then_warm_start(library, tmp_path):
    cache = tmp_path / "cache"
    out1, log1 = run(library, tmp_path, cache)
    for symbol in ("tensorrt_0", "tensorrt_1"):
        assert f"Building new TensorRT engine for subgraph {symbol}" in log1
        assert f"Finished building TensorRT engine for subgraph {symbol}" in log1
    keys = entries(cache)
    assert len(keys) == 2
    assert sorted(messages(log1, "Caching TensorRT engine to")) == \
        sorted(f"Caching TensorRT engine to {cache / k}.plan" for k in keys)
    out2, log2 = run(library, tmp_path, cache)
    assert "Building" not in log2 and "Caching" not in log2
    assert sorted(messages(log2, "Loading cached TensorRT engine from")) == \
        sorted(f"Loading cached TensorRT engine from {cache / k}.plan" for k in keys)
    np.testing.assert_array_equal(out1, out2)


def test_meta_records_what_made_the_engine(library, tmp_path):
    cache = tmp_path / "cache"
    run(library, tmp_path, cache, TVM_TENSORRT_USE_FP16="1", TVM_TENSORRT_MAX_WORKSPACE_SIZE=str(1 << 26))
    metas = [json.loads((cache / f"{k}.meta").read_text()) for k in entries(cache)]
    assert sorted(m["symbol"] for m in metas) == ["tensorrt_0", "tensorrt_1"]
    for key, meta in zip(entries(cache), metas):
        assert meta["key"] == key and meta["precision"] == "fp16" and meta["max_workspace_size"] == 1 << 26
        assert meta["backend"] in ("tensorrt", "tensorrt-rtx") and meta["backend_version"]
        assert meta["inputs"][0]["name"] == "input_0" and meta["outputs"][0]["dtype"] == "float32"
        assert meta["ranges"] is None and meta["created"].endswith("Z")
        assert meta["layers"] > 0 and meta["build_seconds"] > 0
    # a different precision is a different engine, kept beside the first
    run(library, tmp_path, cache)
    assert len(entries(cache)) == 4


# Each engine option (precision, builder settings) in the meta and the key, given as load()'s
# arguments: tests/test_engine_options.py.


def test_tensorrt_rtx_s_no_op_timing_cache_is_said_once_not_faked(library, tmp_path):
    cache = tmp_path / "cache"
    _, log = run(library, tmp_path, cache)
    assert len(messages(log, "Building new TensorRT engine")) == 2
    assert log.count("keeps no timing cache (its timing-cache calls are no-ops)") == 1
    assert not (cache / "timing.cache").exists()


def test_fp16_flag_and_precision_must_agree(monkeypatch):
    from tvm_tensorrt.runtime.options import engine_options

    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    assert engine_options({}).precision == "fp16"
    monkeypatch.setenv("TVM_TENSORRT_PRECISION", "fp16")
    assert engine_options({}).precision == "fp16"
    monkeypatch.setenv("TVM_TENSORRT_PRECISION", "bf16")
    with pytest.raises(tvm_tensorrt.ConfigError, match="TVM_TENSORRT_USE_FP16=1 and TVM_TENSORRT_PRECISION=bf16"):
        engine_options({})


def test_changed_weight_builds_a_new_engine_beside_the_old(library, tmp_path):
    cache = tmp_path / "cache"
    run(library, tmp_path, cache)
    old_keys = entries(cache)
    changed = compile_library(tmp_path / "changed.so", two_subgraph_module(weight_scale=2.0))
    _, log = run(changed, tmp_path, cache)
    assert messages(log, "Building new TensorRT engine for subgraph") == \
        ["Building new TensorRT engine for subgraph tensorrt_0"]  # only the changed subgraph
    assert len(entries(cache)) == 3 and set(old_keys) < set(entries(cache))
    _, log = run(library, tmp_path, cache)
    assert "Building" not in log and len(messages(log, "Loading cached TensorRT engine from")) == 2


def test_damaged_entries_are_rebuilt_with_a_warning(library, tmp_path):
    cache = tmp_path / "cache"
    run(library, tmp_path, cache)
    first, second = entries(cache)
    plan = cache / f"{first}.plan"
    plan.write_bytes(plan.read_bytes()[:100])  # truncated
    meta = json.loads((cache / f"{second}.meta").read_text())
    meta["key"] = "0" * 64  # a meta naming another key
    (cache / f"{second}.meta").write_text(json.dumps(meta))
    out, log = run(library, tmp_path, cache)
    assert f"Ignoring TensorRT cache entry {plan}: its plan does not match" in log
    assert f"Ignoring TensorRT cache entry {cache / second}.plan: its meta names key" in log
    assert len(messages(log, "Building new TensorRT engine")) == 2
    _, log = run(library, tmp_path, cache)  # repaired
    assert "Building" not in log and len(messages(log, "Loading cached")) == 2


# An unusable cache folder (cache_dir= or TVM_TENSORRT_CACHE_DIR): tests/test_engine_options.py.


@pytest.mark.parametrize("name, value", [("TVM_TENSORRT_USE_FP16", "half"),
                                         ("TVM_TENSORRT_MAX_WORKSPACE_SIZE", "1GB"),
                                         ("TVM_TENSORRT_MAX_WORKSPACE_SIZE", "-5"),
                                         ("TVM_TENSORRT_MULTI_ENGINE", "2"),
                                         ("TVM_TENSORRT_PRECISION", "fp8"),
                                         ("TVM_TENSORRT_PRECISION", "int8"),
                                         ("TVM_TENSORRT_BUILDER_OPTIMIZATION_LEVEL", "9"),
                                         ("TVM_TENSORRT_BUILDER_OPTIMIZATION_LEVEL", "high"),
                                         ("TVM_TENSORRT_MAX_AUX_STREAMS", "-1")])
def test_malformed_variables_name_themselves(library, name, value, monkeypatch):
    from tvm_tensorrt.runtime.executor import forget_runtimes

    forget_runtimes()
    monkeypatch.setenv(name, value)
    with pytest.raises(tvm_tensorrt.ConfigError, match=name):
        tvm_tensorrt.load(library).run(np.zeros(SHAPE, "float32"))


def test_two_processes_building_into_one_directory(library, tmp_path):
    cache = tmp_path / "cache"
    results = {}

    def worker(i):
        workdir = tmp_path / f"w{i}"
        workdir.mkdir()
        results[i] = run(library, workdir, cache)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(results[0][0], results[1][0])
    builds = sum(len(messages(log, "Building new TensorRT engine")) for _, log in results.values())
    assert builds == 2  # each engine built once; the other process waited and loaded it
    assert len(entries(cache)) == 2
    assert not [f for f in os.listdir(cache) if f.endswith(".partial")]
    _, log = run(library, tmp_path, cache)
    assert "Building" not in log and "Ignoring" not in log


def test_prebuilt_library_builds_nothing_on_first_run(tmp_path):
    library = compile_library(tmp_path / "prebuilt.so", prebuild_engines=True)
    cache = tmp_path / "empty-cache"
    out, log = run(library, tmp_path, cache)
    assert "Building" not in log
    assert messages(log, "Loading prebuilt TensorRT engine for subgraph") == \
        ["Loading prebuilt TensorRT engine for subgraph tensorrt_0",
         "Loading prebuilt TensorRT engine for subgraph tensorrt_1"]
    # settings the plans were not built for: rebuilt here, with a warning
    _, log = run(library, tmp_path, cache, TVM_TENSORRT_USE_FP16="1")
    assert "were built for other settings" in log and len(messages(log, "Building new TensorRT engine")) == 2


def test_untrusted_plans_are_refused_and_rebuilt(library, tmp_path):
    """A plan is code: a symlinked entry, one writable by others, and one copied under another
    key are each refused with a warning and rebuilt; what we write is owner-only."""
    cache = tmp_path / "cache"
    run(library, tmp_path, cache)
    first, second = entries(cache)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    for key in (first, second):
        for suffix in (".plan", ".meta"):
            assert stat.S_IMODE(os.stat(cache / f"{key}{suffix}").st_mode) == 0o600
    elsewhere = tmp_path / "elsewhere.plan"
    elsewhere.write_bytes((cache / f"{first}.plan").read_bytes())
    os.chmod(elsewhere, 0o600)
    (cache / f"{first}.plan").unlink()
    os.symlink(elsewhere, cache / f"{first}.plan")  # the same bytes, through a link
    os.chmod(cache / f"{second}.plan", 0o666)
    _, log = run(library, tmp_path, cache)
    assert f"Ignoring TensorRT cache entry {cache / first}.plan: {first}.plan is a symbolic link" in log
    assert f"Ignoring TensorRT cache entry {cache / second}.plan: {second}.plan is writable by other users" in log
    assert len(messages(log, "Building new TensorRT engine")) == 2
    assert not os.path.islink(cache / f"{first}.plan") and elsewhere.read_bytes()  # replaced, not written through
    _, log = run(library, tmp_path, cache)
    assert "Building" not in log and "Ignoring" not in log

    for suffix in (".plan", ".meta"):  # a valid entry of one key, copied under the other
        os.replace(cache / f"{first}{suffix}", cache / f"{second}{suffix}")
    _, log = run(library, tmp_path, cache)
    assert f"Ignoring TensorRT cache entry {cache / second}.plan: its meta names key '{first}'" in log
    assert len(messages(log, "Building new TensorRT engine")) == 2


def test_load_runs_from_several_threads(library):
    model = tvm_tensorrt.load(library)
    x = np.random.default_rng(2).standard_normal(SHAPE).astype("float32")
    expected = model.run(x)[0]
    outputs = [None] * 4

    def worker(i):
        outputs[i] = model.run(x)[0]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for out in outputs:
        np.testing.assert_array_equal(out, expected)
    with pytest.raises(tvm_tensorrt.ConfigError, match="device"):
        tvm_tensorrt.load(library, device="tpu")


def relu_subgraph_key():
    """(the first subgraph of two_subgraph_module, its engine key function)."""
    from tvm_tensorrt.backend import load_backend
    from tvm_tensorrt.lowering.dispatch import offloaded_functions
    from tvm_tensorrt.lowering.serialize import subgraph_of
    from tvm_tensorrt.runtime.engine_set import EngineSpec, engine_key, key_fields
    from tvm_tensorrt.runtime.options import engine_options

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(two_subgraph_module())
    subgraph = subgraph_of(next(iter(offloaded_functions(partitioned).values())), "tensorrt_0", config)
    return lambda: engine_key(key_fields(subgraph, EngineSpec(), engine_options(config), load_backend()))


PLUGIN = """
from tvm_tensorrt.converters import TensorRTOpConverter


class PluginRelu(TensorRTOpConverter):
    def convert(self, params):
        relu = params.trt.ActivationType.RELU
        return [params.network.add_activation(params.inputs[0].tensor, relu).get_output(0)]
"""


def test_editing_a_converter_s_source_changes_the_engine_key(tmp_path, monkeypatch, registries):
    """The key follows the code: an edited converter file, and the file of a class a converter
    only inherits convert() from, each give new keys (engines of the old code are never reused)."""
    import importlib

    from tvm_tensorrt.converters import register_converter

    key = relu_subgraph_key()
    plugin = tmp_path / "relu_plugin_for_key.py"
    plugin.write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("relu_plugin_for_key")
    register_converter("nn.relu", override=True)(module.PluginRelu)
    first = key()
    inheriting = type("InheritsConvert", (module.PluginRelu,), {})  # made with type(): no source of its own
    register_converter("nn.relu", override=True)(inheriting)
    inherited = key()
    assert inherited != first  # another class

    plugin.write_text(PLUGIN.replace("relu = params", "relu = params  # edited"))
    os.utime(plugin, ns=(plugin.stat().st_atime_ns, plugin.stat().st_mtime_ns + 10**9))
    assert key() != inherited  # the base class's file changed: so did the inheriting converter's identity
    importlib.reload(module)
    register_converter("nn.relu", override=True)(module.PluginRelu)
    assert key() != first


def test_the_network_builder_s_code_is_in_the_engine_key(monkeypatch):
    """fusion.py and network.py decide the network as much as a converter does."""
    from tvm_tensorrt.runtime import engine_set as engines

    key = relu_subgraph_key()
    before = key()
    original = engines._file_digest
    for edited in ("fusion.py", "network.py", "helpers.py", "dims.py"):
        monkeypatch.setattr(engines, "_file_digest", lambda path, name=edited: "edited" if path.endswith(name)
                            else original(path))
        assert key() != before, f"{edited} is not part of the engine key"
    monkeypatch.setattr(engines, "_file_digest", original)
    assert key() == before


def test_overriding_a_converter_changes_the_engine_key(registries):
    from tvm_tensorrt.converters import get_converter, register_converter
    from tvm_tensorrt.backend import load_backend
    from tvm_tensorrt.lowering.dispatch import offloaded_functions
    from tvm_tensorrt.runtime.engine_set import EngineSpec, engine_key, key_fields
    from tvm_tensorrt.runtime.options import engine_options
    from tvm_tensorrt.lowering.serialize import subgraph_of

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(two_subgraph_module())
    func = next(iter(offloaded_functions(partitioned).values()))
    subgraph = subgraph_of(func, "tensorrt_0", config)
    renamed = subgraph_of(func, "tensorrt_7", {**config, "min_subgraph_size": 3})

    def key(sg):
        return engine_key(key_fields(sg, EngineSpec(), engine_options(config), load_backend()))

    before = key(subgraph)
    assert key(renamed) == before  # the symbol and partition-only options do not change an engine
    builtin = type(get_converter("nn.relu"))
    register_converter("nn.relu", override=True)(type("OtherRelu", (builtin,), {}))
    assert key(subgraph) != before
    register_converter("nn.relu", override=True)(builtin)
    assert key(subgraph) == before


def test_a_plan_that_does_not_fit_the_gpu_is_rebuilt_once(library, monkeypatch, caplog):
    """Pretend the inputs live on a GPU whose TensorRT rejects every plan."""
    import logging

    from tvm_tensorrt.runtime import executor, gpu

    executor.forget_runtimes()
    monkeypatch.setattr(gpu, "is_cuda", lambda tensor: True)
    monkeypatch.setattr(gpu, "load_engine", lambda trt, plan, device, symbol: None)
    monkeypatch.setattr(gpu, "cuda_device", lambda index: __import__("contextlib").nullcontext())
    caplog.set_level(logging.INFO, logger="tvm_tensorrt")
    model = tvm_tensorrt.load(library)
    for _ in range(3):
        model.run(np.zeros(SHAPE, "float32"))  # falls back to TVM each time
    assert caplog.text.count("Building new TensorRT engine for subgraph tensorrt_0") == 2  # first build + 1 rebuild
    assert caplog.text.count("Rebuilding the TensorRT engine of tensorrt_0 for CUDA device 0") == 1
    executor.forget_runtimes()


def test_libraries_store_each_weight_once_and_gpu_only_says_why_it_cannot_run_here(tmp_path):
    rng = np.random.default_rng(0)
    weight_bytes = 4 << 20
    heavy = relax.const(rng.standard_normal((1024, 1024)).astype("float32"))  # 4 MiB of weights
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 1024), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.relu(relax.op.matmul(x, relax.op.permute_dims(heavy))))
        bb.emit_func_output(out)
    mod = bb.get()
    both = compile_library(tmp_path / "both.so", mod)
    gpu_only = compile_library(tmp_path / "gpu_only.so", mod, cpu_fallback=False)
    for library in (both, gpu_only):  # the TVM copy shares the blob's weights: code is all it adds
        assert weight_bytes < os.path.getsize(library) < 1.1 * weight_bytes
    x_value = np.ones((1, 1024), "float32")
    np.testing.assert_allclose(tvm_tensorrt.load(both).run(x_value)[0],
                               np.maximum(x_value @ heavy.value.numpy().T, 0), rtol=1e-5, atol=1e-4)
    with pytest.raises(tvm_tensorrt.TensorRTError, match="cpu_fallback=False"):
        tvm_tensorrt.load(gpu_only).run(x_value)


def test_the_contract_s_log_messages_are_word_for_word(library, tmp_path, monkeypatch, caplog):
    """DESIGN.md's public contract fixes these INFO messages exactly, whole messages, not prefixes."""
    import logging

    from tvm_tensorrt.runtime.executor import forget_runtimes

    cache = tmp_path / "cache"
    monkeypatch.setenv("TVM_TENSORRT_CACHE_DIR", str(cache))
    caplog.set_level(logging.INFO, logger="tvm_tensorrt")
    forget_runtimes()
    tvm_tensorrt.load(library).run(np.zeros(SHAPE, "float32"))
    first = {r.getMessage() for r in caplog.records}
    plan = cache / f"{entries(cache)[0]}.plan"
    assert {"Building new TensorRT engine for subgraph tensorrt_0",
            "Finished building TensorRT engine for subgraph tensorrt_0"} <= first
    assert any(m == f"Caching TensorRT engine to {p}" for m in first for p in cache.glob("*.plan"))
    caplog.clear()
    forget_runtimes()
    tvm_tensorrt.load(library).run(np.zeros(SHAPE, "float32"))
    assert any(r.getMessage() == f"Loading cached TensorRT engine from {p}" for r in caplog.records
               for p in cache.glob("*.plan")) and plan.exists()
    forget_runtimes()
