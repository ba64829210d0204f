"""TVM's own flows: RunCodegen (relax.ext.tensorrt) and tvm.compile's relax_pipeline, each from
partition to a library run in a fresh process, against onnxruntime."""

import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tvm
from tvm import relax

import tvm_tensorrt
from test_model_set import assert_matches_onnxruntime_in_a_fresh_process, model_inputs, model_path


def partitioned(name):
    mod, params = tvm_tensorrt.from_onnx(model_path(name))
    return tvm_tensorrt.partition_for_tensorrt(mod, params)


def compile_runcodegen(mod):
    return tvm.compile(relax.transform.RunCodegen()(mod), target="llvm")


def compile_relax_pipeline(mod):
    return tvm.compile(mod, target="llvm", relax_pipeline=tvm_tensorrt.pipeline())


@pytest.mark.parametrize("flow", [compile_runcodegen, compile_relax_pipeline], ids=["RunCodegen", "relax_pipeline"])
@pytest.mark.parametrize("name", ["vit", "bert_encoder"])
def test_flow_runs_in_a_fresh_process_and_matches_onnxruntime(flow, name, tmp_path):
    mod, _ = partitioned(name)
    library = str(tmp_path / "model.so")
    flow(mod).export_library(library)
    log = assert_matches_onnxruntime_in_a_fresh_process(library, name, tmp_path)
    assert "Finished building TensorRT engine for subgraph tensorrt_0" in log


def test_runcodegen_library_carries_the_subgraph_and_no_tvm_copy(tmp_path):
    mod, _ = partitioned("vit")
    library = str(tmp_path / "vit.so")
    compile_runcodegen(mod).export_library(library)
    symbols = subprocess.run(["nm", "-D", library], capture_output=True, text=True, check=True).stdout
    assert "__tvm_ffi_tensorrt_0" in symbols
    data = open(library, "rb").read()
    assert data.count(b"TVMTRTSG") == 1  # the serialised subgraph, embedded once
    blob_start = data.index(b"TVMTRTSG")
    _, text_len, _ = struct.unpack("<8sQ32s", data[blob_start:blob_start + 48])
    header = json.loads(data[blob_start + 48:blob_start + 48 + text_len])
    assert header["symbol"] == "tensorrt_0" and header["format"] == "tvm_tensorrt.subgraph"
    from tvm_tensorrt.backend import load_backend
    from tvm_tensorrt.runtime.inspect import inspect_library

    [entry] = inspect_library(library, load_backend())  # found by its magic, weights inside, digest checked
    assert entry["symbol"] == "tensorrt_0" and len(entry["layers"]) > 20 and entry["prebuilt_engines"] == []


def test_runcodegen_library_says_what_to_import(tmp_path):
    mod, _ = partitioned("vit")
    library = str(tmp_path / "vit.so")
    compile_runcodegen(mod).export_library(library)
    x_path = str(tmp_path / "x.npy")
    np.save(x_path, list(model_inputs("vit").values())[0])
    script = textwrap.dedent("""
        import sys, numpy as np, tvm
        vm = tvm.relax.VirtualMachine(tvm.runtime.load_module(sys.argv[1]), tvm.cpu())
        vm["main"](tvm.runtime.tensor(np.load(sys.argv[2])))
    """)
    proc = subprocess.run([sys.executable, "-c", script, library, x_path], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode != 0
    assert "tvm_tensorrt.run_embedded is not registered: import tvm_tensorrt before running this library" \
        in proc.stderr


def test_passes_compose_with_tvm_s_own():
    mod, params = tvm_tensorrt.from_onnx(model_path("vit"))
    by_pass = tvm.transform.Sequential([tvm_tensorrt.PartitionForTensorRT(params),
                                        relax.transform.RunCodegen()])(mod)
    assert by_pass.attrs and len(by_pass.attrs["external_mods"]) == 1
    lowered = tvm_tensorrt.LowerToTensorRT()(partitioned("vit")[0])
    assert "tensorrt_0" not in [gv.name_hint for gv in lowered.functions]
    assert "tensorrt_0_tvm" in [gv.name_hint for gv in lowered.functions]


def test_offloaded_functions_carry_their_config():
    mod, config = partitioned("vit")
    [func] = [f for f in mod.functions.values() if isinstance(f, relax.Function) and f.attrs
              and f.attrs.get("Codegen") == "tensorrt"]
    assert json.loads(str(func.attrs["tensorrt_config"])) == config
    from tvm_tensorrt.lowering.dispatch import config_of

    assert config_of(mod) == config


LIGHT_RUNNER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tvm, tvm_tensorrt
    lib = tvm.runtime.load_module(sys.argv[1])
    vm = tvm.relax.VirtualMachine(lib, tvm.cpu())
    vm["main"](tvm.runtime.tensor(np.load(sys.argv[2])))
    print(json.dumps(sorted(sys.modules)))
""")
COMPILE_TIME_MODULES = ["onnx", "onnxslim", "networkx", "onnxruntime", "tvm_tensorrt.frontend",
                        "tvm_tensorrt.partition", "tvm_tensorrt.verification.api", "tvm_tensorrt.lowering.serialize"]


@pytest.mark.parametrize("flow", ["build", "RunCodegen"])
def test_running_a_library_loads_no_compile_time_code(flow, tmp_path):
    """A device image needs tvm, numpy and TensorRT: loading and running a library imports neither
    the ONNX frontend, onnxslim, networkx nor the partitioner."""
    mod, config = partitioned("vit")
    library = str(tmp_path / "vit.so")
    ex = compile_runcodegen(mod) if flow == "RunCodegen" else tvm_tensorrt.build(mod, config=config)
    ex.export_library(library)
    x_path = str(tmp_path / "x.npy")
    np.save(x_path, list(model_inputs("vit").values())[0])
    proc = subprocess.run([sys.executable, "-c", LIGHT_RUNNER, library, x_path], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert "tvm_tensorrt.runtime.executor" in loaded
    assert not [m for m in COMPILE_TIME_MODULES if m in loaded]
