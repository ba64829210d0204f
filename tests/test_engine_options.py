"""Engine options as arguments (runtime/options.py): build's become a library's defaults, load's
win, the TVM_TENSORRT_* variables are read once when build/load is called, and every option is
part of the engine key, in memory and in the cache folder."""

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import tvm

import tvm_tensorrt
from tvm_tensorrt.runtime import executor
from test_runtime_cache import SHAPE, compile_library, entries

BUILDING = "Building new TensorRT engine for subgraph tensorrt_0"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return compile_library(tmp_path_factory.mktemp("lib") / "two.so")


@pytest.fixture
def fresh(caplog):
    """A process with no engines yet, the runtime's INFO log captured."""
    executor.forget_runtimes()
    caplog.set_level(logging.INFO, logger="tvm_tensorrt")
    yield caplog
    executor.forget_runtimes()


def x_value():
    return np.random.default_rng(1).standard_normal(SHAPE).astype("float32")


def metas(cache):
    return [json.loads((cache / f"{k}.meta").read_text()) for k in entries(cache)]


def test_one_library_loaded_with_fp32_and_fp16_builds_two_engines(library, fresh):
    """The runtime of a subgraph is shared by every library that holds it: the precision each
    was loaded with still gets its own engine, and neither load changes the other's."""
    x = x_value()
    fp32, fp16 = tvm_tensorrt.load(library, precision="fp32"), tvm_tensorrt.load(library, precision="fp16")
    out32 = fp32.run(x)[0]
    assert fresh.text.count(BUILDING) == 1
    out16 = fp16.run(x)[0]
    assert fresh.text.count(BUILDING) == 2
    for model in (fp32, fp16, tvm_tensorrt.load(library, precision="fp32")):  # each has its engine now
        model.run(x)
    assert fresh.text.count(BUILDING) == 2
    np.testing.assert_allclose(out16, out32, rtol=1e-2, atol=1e-3)
    [runtime] = [r for r in executor._RUNTIMES.values() if r.symbol == "tensorrt_0"]
    assert runtime.engines.builds == 2
    assert sorted(options.precision for options, _ in runtime.engines.plans) == ["fp16", "fp32"]


def test_a_runcodegen_library_loaded_with_two_precisions_builds_and_evaluates_both(tmp_path, fresh):
    """TVM's own flow (RunCodegen) keeps its subgraphs in the library's data, not as constants
    a model can bind: the model says who calls, and the CPU evaluator runs each precision."""
    from tvm import relax

    from test_runtime_cache import two_subgraph_module

    partitioned, _ = tvm_tensorrt.partition_for_tensorrt(two_subgraph_module())
    library = str(tmp_path / "codegen.so")
    tvm.compile(relax.transform.RunCodegen()(partitioned), target="llvm").export_library(library)
    x = x_value()
    out32 = tvm_tensorrt.load(library, precision="fp32").run(x)[0]
    out16 = tvm_tensorrt.load(library, precision="fp16").run(x)[0]
    assert fresh.text.count(BUILDING) == 2
    assert not np.array_equal(out16, out32)  # the evaluator ran the half network
    np.testing.assert_allclose(out16, out32, rtol=3e-2, atol=3e-2)  # verify's FP16 tolerance
    vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(library), tvm.cpu())  # plain TVM: the variables (none)
    np.testing.assert_array_equal(vm["main"](tvm.runtime.tensor(x)).numpy(), out32)
    assert fresh.text.count(BUILDING) == 2


@pytest.mark.parametrize("options", [{"precision": "fp16"}, {"precision": "bf16"}, {"builder_optimization_level": 1},
                                     {"max_aux_streams": 0}, {"max_workspace_size": 1 << 26}])
def test_each_option_is_part_of_the_cache_key(library, tmp_path, fresh, options):
    cache = tmp_path / "cache"
    tvm_tensorrt.load(library, cache_dir=str(cache)).run(x_value())
    default_keys = set(entries(cache))
    tvm_tensorrt.load(library, cache_dir=str(cache), **options).run(x_value())
    assert len(entries(cache)) == 4 and default_keys < set(entries(cache))
    [name], [value] = options.keys(), options.values()
    chosen = [m for m in metas(cache) if m["key"] not in default_keys]
    assert sorted(m["symbol"] for m in chosen) == ["tensorrt_0", "tensorrt_1"]
    assert all(m[name] == value for m in chosen), chosen


def test_a_library_s_build_options_are_its_defaults_and_load_overrides_them(library, tmp_path, fresh, monkeypatch):
    """argument of load > argument of build > variable: a variable set where the library runs
    applies only to what neither call chose."""
    chosen = compile_library(tmp_path / "fp16.so", precision="fp16", builder_optimization_level=1)
    monkeypatch.setenv("TVM_TENSORRT_PRECISION", "bf16")
    settings = lambda cache: {(m["precision"], m["builder_optimization_level"]) for m in metas(cache)}
    tvm_tensorrt.load(chosen, cache_dir=str(tmp_path / "a")).run(x_value())
    assert settings(tmp_path / "a") == {("fp16", 1)}
    tvm_tensorrt.load(chosen, cache_dir=str(tmp_path / "b"), precision="fp32").run(x_value())
    assert settings(tmp_path / "b") == {("fp32", 1)}
    tvm_tensorrt.load(library, cache_dir=str(tmp_path / "c")).run(x_value())
    assert settings(tmp_path / "c") == {("bf16", None)}
    # loaded with plain TVM (no arguments), the library's choices still hold
    monkeypatch.setenv("TVM_TENSORRT_CACHE_DIR", str(tmp_path / "d"))
    vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(chosen), tvm.cpu())
    vm["main"](tvm.runtime.tensor(x_value()))
    assert settings(tmp_path / "d") == {("fp16", 1)}


def test_variables_are_read_when_load_is_called_not_per_lookup(library, tmp_path, fresh, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TVM_TENSORRT_PRECISION", "fp16")
    model = tvm_tensorrt.load(library, cache_dir=str(cache))
    monkeypatch.setenv("TVM_TENSORRT_PRECISION", "bf16")
    monkeypatch.setenv("TVM_TENSORRT_MAX_WORKSPACE_SIZE", "not a size")
    executor.forget_runtimes()  # the next call binds again: with what load read
    model.run(x_value())
    assert {m["precision"] for m in metas(cache)} == {"fp16"} and len(entries(cache)) == 2


@pytest.mark.parametrize("name, value", [("precision", "fp8"), ("precision", "int8"), ("max_workspace_size", "1GB"),
                                         ("max_workspace_size", -5), ("builder_optimization_level", 9),
                                         ("max_aux_streams", -1), ("multi_engine", "2"), ("cache_dir", "")])
def test_malformed_arguments_name_themselves(library, name, value):
    with pytest.raises(tvm_tensorrt.ConfigError, match=f"^{name}="):
        tvm_tensorrt.load(library, **{name: value})
    if name == "cache_dir":
        return  # the cache folder belongs to the machine that loads, not to the library
    from test_runtime_cache import two_subgraph_module

    partitioned, config = tvm_tensorrt.partition_for_tensorrt(two_subgraph_module())
    with pytest.raises(tvm_tensorrt.ConfigError, match=f"^{name}="):
        tvm_tensorrt.build(partitioned, config=config, **{name: value})


def test_an_argument_wins_over_a_malformed_variable_it_replaces(library, tmp_path, fresh, monkeypatch):
    monkeypatch.setenv("TVM_TENSORRT_PRECISION", "fp8")
    with pytest.raises(tvm_tensorrt.ConfigError, match="TVM_TENSORRT_PRECISION='fp8'"):
        tvm_tensorrt.load(library)
    tvm_tensorrt.load(library, precision="fp16", cache_dir=str(tmp_path / "c")).run(x_value())
    assert {m["precision"] for m in metas(tmp_path / "c")} == {"fp16"}


def test_an_unusable_cache_folder_names_the_argument_or_the_variable(library, tmp_path, fresh, monkeypatch):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(tvm_tensorrt.ConfigError, match=f"^cache_dir='{not_a_dir}' cannot be created"):
        tvm_tensorrt.load(library, cache_dir=str(not_a_dir)).run(x_value())
    monkeypatch.setenv("TVM_TENSORRT_CACHE_DIR", str(not_a_dir))
    with pytest.raises(tvm_tensorrt.ConfigError, match=f"^TVM_TENSORRT_CACHE_DIR='{not_a_dir}' cannot be created"):
        tvm_tensorrt.load(library).run(x_value())


def test_cli_precision_and_optimization_level_flags(tmp_path):
    cli = [sys.executable, "-m", "tvm_tensorrt.cli"]
    run = lambda *args: subprocess.run([*cli, *args], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    proc = run("compile", "-o", "m.so", "--precision", "fp16", "--builder-optimization-level", "2")
    assert proc.returncode == 0, proc.stderr
    cache = tmp_path / "cache"
    assert run("run", "m.so", "--cache-dir", str(cache)).returncode == 0
    assert [(m["precision"], m["builder_optimization_level"]) for m in metas(cache)] == [("fp16", 2)]
    assert run("run", "m.so", "--cache-dir", str(cache), "--precision", "fp32").returncode == 0
    assert sorted((m["precision"], m["builder_optimization_level"]) for m in metas(cache)) == \
        [("fp16", 2), ("fp32", 2)]
    for args, says in ((["compile", "--precision", "fp8"], "--precision: invalid choice: 'fp8'"),
                       (["compile", "--builder-optimization-level", "9"], "--builder-optimization-level: takes a whole"),
                       (["run", "m.so", "--cache-dir", "m.so"], "--cache-dir: m.so is a file")):
        proc = run(*args)
        assert proc.returncode == 2 and says in proc.stderr.splitlines()[-1], proc.stderr
