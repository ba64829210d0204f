"""The GPU path on a real CUDA device, as far as TensorRT allows: `python tests/gpu_path_script.py OUTDIR`.

1. Compiles the bundled model (tvm_tensorrt.models.DEFAULT_MODEL) for
   `Target({"kind": "cuda", "arch": ARCH})` twice, with cpu_fallback=True and False, and exports
   both libraries to OUTDIR (`--libs DIR` takes libraries compiled earlier instead; `--compile-only`
   stops here, which works on a machine without a GPU: TVM needs nvcc, not a device).
2. Loads the cpu_fallback=True library with `tvm_tensorrt.load(lib, device="cuda")` and runs it
   with its inputs on the GPU, through our executor. The "tvm_tensorrt" log at INFO shows the
   engine build, TensorRT's refusal to deserialize (TensorRT-RTX 1.7 runs no engine on compute
   capability 9.0, the H100), the one rebuild, the second refusal and the run through TVM's CUDA
   copy. The script also logs what the executor would bind: names, shapes and int addresses of
   the actual device tensors (gpu.bindings), each compared with the address DLPack reports, and
   the current CUDA stream (tvm_ffi.get_raw_stream). The outputs are compared with onnxruntime's
   on the CPU (rtol 1e-3, atol 1e-4).
3. Loads the cpu_fallback=False library on the GPU: the call must raise tvm_tensorrt.TensorRTError
   ("... built with cpu_fallback=False ...").
4. Writes OUTDIR/gpu_path.log (the whole log) and OUTDIR/outcome.json (every check, with what it
   saw). Exit status 0: every check passed; 1: a check failed; 2: no CUDA device (after compiling).

tests/test_gpu_run.py runs it where a CUDA device exists; docs/runtime.md (GPU execution) has what
one run on an H100 gave.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback

import numpy as np

ARCH = "sm_90"
RTOL, ATOL = 1e-3, 1e-4
LIBRARIES = {"fallback": "gpu_path_fallback.so", "gpu_only": "gpu_path_gpu_only.so"}
REFUSAL_WORDS = ("compute capability", "not supported", "unsupported", "does not support")
# TensorRT-RTX 1.7 runs engines on these compute capabilities only (DESIGN.md section 5)
RTX_COMPUTE_CAPABILITIES = ("8.0", "8.6", "8.9", "12.0", "12.1")


def engine_expected(compute_version: str, backend_name: str) -> bool:
    """Whether TensorRT should run engines on this device: full TensorRT runs on any recent GPU;
    TensorRT-RTX refuses the H100/H200 (9.0)."""
    if backend_name != "tensorrt-rtx":
        return True
    return compute_version in RTX_COMPUTE_CAPABILITIES or compute_version.startswith("12.")

log = logging.getLogger("tvm_tensorrt")


# ----------------------------------------------------------------------------------------- DLPack
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


def dlpack_view(tensor) -> dict:
    """What the tensor's own DLPack capsule says (read with ctypes: no torch, no numpy import, so
    it works for device memory): the element address (data + byte_offset), device and shape."""
    capsule = tensor.__dlpack__()
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    name = get_name(capsule)
    pointer = get_pointer(capsule, name)
    if name == b"dltensor_versioned":  # DLManagedTensorVersioned: version, manager_ctx, deleter, flags, dl_tensor
        pointer += 8 + 8 + 8 + 8
    dl = _DLTensor.from_address(pointer)
    view = {"capsule": name.decode(), "data": dl.data or 0, "byte_offset": int(dl.byte_offset),
            "address": (dl.data or 0) + int(dl.byte_offset), "device_type": dl.device.device_type,
            "device_id": dl.device.device_id, "shape": [dl.shape[i] for i in range(dl.ndim)]}
    del capsule  # unconsumed: its destructor releases the managed tensor
    return view


# ---------------------------------------------------------------------------------------- helpers
class Outcome:
    def __init__(self, outdir: str):
        self.outdir = outdir
        self.data: dict = {"checks": {}, "facts": {}}

    def fact(self, key, value):
        self.data["facts"][key] = value
        log.info("FACT %s: %s", key, value)

    def check(self, key, ok: bool, detail=""):
        self.data["checks"][key] = {"ok": bool(ok), "detail": detail}
        log.log(logging.INFO if ok else logging.ERROR, "CHECK %s: %s %s", key, "PASS" if ok else "FAIL", detail)

    def write(self):
        checks = self.data["checks"]
        self.data["passed"] = bool(checks) and all(c["ok"] for c in checks.values())
        with open(os.path.join(self.outdir, "outcome.json"), "w") as f:
            json.dump(self.data, f, indent=2, default=str)
        return self.data["passed"]


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list = []

    def emit(self, record):
        self.messages.append((record.levelname, record.getMessage()))

    def count(self, text):
        return sum(text in m for _, m in self.messages)

    def find(self, text):
        return [m for _, m in self.messages if text in m]


def setup_logging(outdir: str) -> Recorder:
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in (logging.FileHandler(os.path.join(outdir, "gpu_path.log"), mode="w"),
                    logging.StreamHandler(sys.stdout)):
        handler.setFormatter(fmt)
        log.addHandler(handler)
    recorder = Recorder()
    log.addHandler(recorder)
    return recorder


def model_input():
    import onnx

    from tvm_tensorrt.models import DEFAULT_MODEL

    graph = onnx.load(DEFAULT_MODEL).graph
    initializers = {i.name for i in graph.initializer}
    [inp] = [i for i in graph.input if i.name not in initializers]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    return inp.name, np.random.default_rng(0).standard_normal(shape).astype("float32")


def module_kinds(module) -> list:
    """The kinds of a compiled module and of everything it imports, depth first ("cuda": TVM's CUDA code)."""
    return [module.kind] + [kind for imported in module.imports for kind in module_kinds(imported)]


def compile_libraries(outdir: str, outcome: Outcome) -> dict:
    import tvm

    import tvm_tensorrt
    from tvm_tensorrt.models import DEFAULT_MODEL

    target = tvm.target.Target({"kind": "cuda", "arch": ARCH})
    outcome.fact("target", str(target))
    mod, _ = tvm_tensorrt.from_onnx(DEFAULT_MODEL)
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
    paths = {}
    for name, cpu_fallback in (("fallback", True), ("gpu_only", False)):
        start = time.perf_counter()
        path = os.path.join(outdir, LIBRARIES[name])
        executable = tvm_tensorrt.build(partitioned, target=target, config=config, cpu_fallback=cpu_fallback)
        outcome.fact(f"modules_{name}", module_kinds(executable.mod))
        executable.export_library(path)
        outcome.fact(f"compile_{name}_s", round(time.perf_counter() - start, 2))
        outcome.check(f"compiled_{name}", os.path.getsize(path) > 0, f"{path} ({os.path.getsize(path)} bytes, "
                      f"cpu_fallback={cpu_fallback})")
        paths[name] = path
    return paths


# -------------------------------------------------------------------------------- the GPU run
def instrument(outcome: Outcome):
    """Log what the executor sees on each engine decision: the actual device tensors' bindings
    (names, shapes, int addresses) against DLPack, and the current stream of their device."""
    import tvm_ffi

    from tvm_tensorrt.runtime import executor, gpu

    seen: list = []
    original = executor.SubgraphRuntime.engine_for

    def engine_for(self, inputs, *args, **kwargs):
        try:
            record = {"symbol": self.symbol, "inputs": []}
            for (name, shape, address), tensor in zip(gpu.bindings(self.input_names, inputs), inputs):
                view = dlpack_view(tensor)
                entry = {"name": name, "shape": list(shape), "address": address, "address_type": type(address).__name__,
                         "is_cuda": gpu.is_cuda(tensor), "dlpack": view, "matches_dlpack": address == view["address"]}
                record["inputs"].append(entry)
                log.info("Binding %s of %s: shape %s at %#x (%s); DLPack (%s) says %#x on device type %d:%d -> %s",
                         name, self.symbol, shape, address, type(address).__name__, view["capsule"], view["address"],
                         view["device_type"], view["device_id"], "same" if entry["matches_dlpack"] else "DIFFERENT")
            if inputs:
                record["stream"] = tvm_ffi.get_raw_stream(inputs[0].device)
                log.info("Current CUDA stream of %s (tvm_ffi.get_raw_stream): %#x", inputs[0].device, record["stream"])
            seen.append(record)
        except Exception:  # noqa: BLE001 (instrumentation must not change the run)
            log.error("instrumentation failed: %s", traceback.format_exc())
            record = {"symbol": self.symbol, "inputs": []}
            seen.append(record)
        engine = original(self, inputs, *args, **kwargs)
        record["engine_runs"] = engine is not None
        log.info("Engine decision for %s: %s", self.symbol,
                 "its TensorRT engine runs" if engine is not None else "TVM's compiled copy runs")
        return engine

    executor.SubgraphRuntime.engine_for = engine_for
    return seen


def device_facts(outcome: Outcome):
    import tvm

    import tvm_tensorrt
    from tvm_tensorrt.backend import load_backend

    dev = tvm.cuda(0)
    outcome.fact("device", {"name": dev.device_name, "compute_version": dev.compute_version,
                            "multi_processor_count": dev.multi_processor_count})
    backend = load_backend()
    outcome.fact("versions", {"python": platform.python_version(), "tvm": tvm.__version__,
                              "tvm_tensorrt": tvm_tensorrt.__version__, "backend": backend.describe()})
    expected = engine_expected(dev.compute_version, backend.name)
    outcome.fact("engine_expected_to_run", expected)
    return expected


def offset_view_addresses(outcome: Outcome):
    """A device tensor with a byte offset: the binding's address is the first element's."""
    import tvm

    from tvm_tensorrt.runtime import gpu

    base = tvm.runtime.tensor(np.arange(8, dtype="float16"), device=tvm.cuda(0))
    view = base._create_view((4,), relative_byte_offset=8)
    found = gpu.bindings(["base", "view"], [base, view])
    dl = [dlpack_view(base), dlpack_view(view)]
    ok = all(address == d["address"] and type(address) is int and d["device_type"] == gpu.KDL_CUDA
             for (_, _, address), d in zip(found, dl))
    ok = ok and found[1][2] == found[0][2] + 8 and float(view.numpy()[0]) == 4.0
    outcome.check("device_offset_view_binding_matches_dlpack", ok,
                  f"bindings {[(n, s, hex(a)) for n, s, a in found]}; DLPack {[(hex(d['data']), d['byte_offset']) for d in dl]}")


def run_fallback(path: str, outcome: Outcome, recorder: Recorder, seen: list, expected: bool):
    import onnxruntime as ort

    import tvm_tensorrt
    from tvm_tensorrt.models import DEFAULT_MODEL
    from tvm_tensorrt.runtime import executor

    name, x = model_input()
    reference = ort.InferenceSession(DEFAULT_MODEL, providers=["CPUExecutionProvider"]).run(None, {name: x})
    executor.forget_runtimes()
    model = tvm_tensorrt.load(path, device="cuda")
    outcome.fact("model_device", str(model.device))
    times, outputs = [], None
    for i in range(3):  # the rebuild happens once; later calls go straight to TVM's CUDA copy
        start = time.perf_counter()
        outputs = model.run(x)
        times.append(round(time.perf_counter() - start, 4))
        log.info("run %d of the cpu_fallback=True library on %s: %.4f s", i + 1, model.device, times[-1])
    outcome.fact("run_times_s", times)
    diffs = []
    ok = len(outputs) == len(reference)
    for got, want in zip(outputs, reference):
        diffs.append(float(np.max(np.abs(got - want))) if got.shape == want.shape else f"shape {got.shape} vs {want.shape}")
        ok = ok and got.shape == want.shape and np.allclose(got, want, rtol=RTOL, atol=ATOL)
    outcome.check("matches_onnxruntime_cpu", ok, f"max abs diff {diffs} (rtol {RTOL}, atol {ATOL})")

    bindings = [entry for record in seen for entry in record["inputs"]]
    outcome.fact("bindings_seen", seen)
    outcome.check("executor_saw_cuda_inputs", bool(bindings) and all(e["is_cuda"] for e in bindings),
                  f"{len(bindings)} input binding(s) logged")
    outcome.check("bindings_are_int_addresses_equal_to_dlpack",
                  bool(bindings) and all(e["matches_dlpack"] and e["address_type"] == "int" for e in bindings),
                  "; ".join(f"{e['name']} {e['shape']} {e['address']:#x}" for e in bindings[:4]))
    streams = sorted({r["stream"] for r in seen if "stream" in r})
    outcome.fact("streams", [hex(s) for s in streams])

    built = recorder.count("Building new TensorRT engine for subgraph")
    refusals = recorder.find("does not run on CUDA device")
    rebuilds = recorder.find("Rebuilding the TensorRT engine of")
    symbols = sorted({r["symbol"] for r in seen})
    outcome.fact("subgraphs", symbols)
    outcome.check("engine_built", built >= 1, f"{built} 'Building new TensorRT engine' message(s)")
    if expected:  # a GPU TensorRT runs engines on: no refusal, every call through the engine
        outcome.check("engines_run_on_the_gpu", bool(seen) and all(r.get("engine_runs") for r in seen),
                      f"{sum(bool(r.get('engine_runs')) for r in seen)} of {len(seen)} decisions ran the engine")
        outcome.check("no_refusal", not refusals, "; ".join(refusals))
    else:  # the H100: refused in TensorRT's words, rebuilt once, then TVM's CUDA copy
        outcome.check("deserialization_refused", len(refusals) >= 1, refusals[0] if refusals else "no refusal logged")
        tensorrt_words = [r.split("(", 1)[1] for r in refusals if "(" in r]
        outcome.fact("refusal_in_tensorrt_words", tensorrt_words[:1])
        outcome.check("refusal_names_the_unsupported_device",
                      bool(tensorrt_words) and any(w in tensorrt_words[0].lower() for w in REFUSAL_WORDS),
                      tensorrt_words[0] if tensorrt_words else "")
        outcome.check("rebuilt_once_per_subgraph", bool(symbols) and len(rebuilds) == len(symbols) and
                      all(recorder.count(f"Rebuilding the TensorRT engine of {s} for CUDA device 0") == 1
                          for s in symbols), "; ".join(rebuilds))
        outcome.check("tvm_cuda_copy_ran", bool(seen) and not any(r.get("engine_runs") for r in seen),
                      f"{len(seen)} decision(s), none ran an engine")
    outcome.fact("trt_errors", [m for level, m in recorder.messages if m.startswith("TensorRT:")][:20])
    model.close()


def run_gpu_only(path: str, outcome: Outcome, expected: bool):
    import tvm_tensorrt
    from tvm_tensorrt.runtime import executor

    _, x = model_input()
    executor.forget_runtimes()
    model = tvm_tensorrt.load(path, device="cuda")
    try:
        outputs = model.run(x)
        if expected:
            outcome.check("gpu_only_runs_its_engines", all(np.isfinite(o).all() for o in outputs),
                          f"{len(outputs)} output(s)")
    except Exception as err:  # noqa: BLE001 (the check says which type came)
        message = str(err)
        log.info("cpu_fallback=False library on the GPU raised %s: %s", type(err).__name__, message)
        outcome.fact("gpu_only_error", {"type": f"{type(err).__module__}.{type(err).__name__}", "message": message})
        if expected:
            outcome.check("gpu_only_runs_its_engines", False, f"{type(err).__name__}: {message}")
            return
        outcome.check("gpu_only_raises_TensorRTError", isinstance(err, tvm_tensorrt.TensorRTError), type(err).__name__)
        outcome.check("gpu_only_message_says_cpu_fallback_False", "built with cpu_fallback=False" in message, message)
    else:
        if not expected:
            outcome.check("gpu_only_raises_TensorRTError", False, "the call returned: an engine ran?")
    finally:
        model.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--libs", help="a folder holding the two libraries compiled earlier (skip compiling)")
    parser.add_argument("--compile-only", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    recorder = setup_logging(args.outdir)
    outcome = Outcome(args.outdir)
    os.environ.setdefault("TVM_TENSORRT_CACHE_DIR", tempfile.mkdtemp(prefix="gpu_path_cache_"))
    status = 0
    try:
        import tvm

        if args.libs:
            paths = {k: os.path.join(args.libs, v) for k, v in LIBRARIES.items()}
            outcome.fact("libraries", paths)
        else:
            paths = compile_libraries(args.outdir, outcome)
        if args.compile_only:
            pass
        elif not tvm.cuda(0).exist:
            log.warning("no CUDA device (tvm.cuda(0).exist is False): the libraries are compiled, nothing ran")
            outcome.fact("cuda", False)
            status = 2
        else:
            outcome.fact("cuda", True)
            expected = device_facts(outcome)
            seen = instrument(outcome)
            offset_view_addresses(outcome)
            run_fallback(paths["fallback"], outcome, recorder, seen, expected)
            run_gpu_only(paths["gpu_only"], outcome, expected)
    except Exception:  # noqa: BLE001 (the outcome records it)
        outcome.check("script_finished", False, traceback.format_exc())
    passed = outcome.write()
    log.info("outcome: %s (%s)", "PASSED" if passed else "FAILED",
             ", ".join(k for k, c in outcome.data["checks"].items() if not c["ok"]) or "every check passed")
    return status or (0 if passed else 1)


if __name__ == "__main__":
    sys.exit(main())
