"""The packed functions an exported library calls, registered when tvm_tensorrt is imported.

For each offloaded call, `main` first calls `tvm_tensorrt.prepare(blob, plans, *inputs, *weights)`: it
makes sure an engine for these input shapes exists (from memory, prebuilt plans, the cache, or
the builder, logging the contract's messages), then answers whether it can execute on the
inputs' device. If yes, `tvm_tensorrt.execute` runs it; if not (no CUDA device, as on every
machine we test on), `main` runs TVM's compiled copy of the subgraph.

Libraries from TVM's own flow (RunCodegen, lowering/codegen.py) call `tvm_tensorrt.run_embedded`
instead, with the blob's address and size, the inputs and the outputs. They carry no TVM copy
of the subgraph, so where no engine can run (no CUDA device) the network the engine was built
from is evaluated on the CPU by the evaluator (runtime/evaluator): correct, slow, and said once in the log.
"""

from __future__ import annotations

import ctypes
import logging
import threading

import numpy as np
import tvm

from ..backend import find_backend
from ..errors import TensorRTError
from ..formats.abi import EXECUTE, NO_ENGINE, PREPARE, RUN_EMBEDDED
from ..formats.plans import decode_plans
from ..formats.subgraph import decode, decode_header, read_digest
from . import gpu
from .engines import EngineSet

logger = logging.getLogger("tvm_tensorrt")



class SubgraphRuntime:
    """One per distinct subgraph in the process: its engines and, on GPUs, their contexts."""

    def __init__(self, subgraph, prebuilt: dict):
        self.subgraph = subgraph
        self.engines = EngineSet(subgraph, prebuilt)
        self.cuda_engines: dict = {}  # (device index, key) -> gpu.CudaEngine, or None: does not fit
        self.rebuilt: set = set()  # (device index, key) rebuilt here once already
        self.lock = threading.Lock()
        self.warned = False
        self.cpu_networks: dict = {}  # precision -> (builder, network build, logger) for the CPU evaluator

    @property
    def symbol(self) -> str:
        return self.subgraph.symbol

    @property
    def passed_weights(self) -> int:
        """How many weight tensors each call passes after the inputs (a weights_external blob's)."""
        return len(self.subgraph.weights) if self.subgraph.header.get("weights_external") else 0

    def values_of(self, inputs):
        return self.engines.values_of([t.shape for t in inputs])

    def prepare(self, inputs, fallback: str = "through TVM on the CPU") -> bool:
        backend = find_backend()
        if backend is None:
            self._warn_once("No TensorRT backend is installed: subgraph %s runs %s", self.symbol, fallback)
            return False
        spec, key, plan = self.engines.plan_for(self.values_of(inputs), backend)
        if not inputs or not all(gpu.is_cuda(t) for t in inputs):
            self._warn_once("No CUDA device holds the inputs of %s: it runs %s (its TensorRT engine was built "
                            "and checked)", self.symbol, fallback)
            return False
        device = inputs[0].device.index
        if self.cuda_engine(device, key, plan, backend) is not None:
            return True
        with self.lock:
            first_failure = (device, key) not in self.rebuilt
            self.rebuilt.add((device, key))
        if first_failure:  # made for another GPU or TensorRT: rebuild here, once
            logger.warning("Rebuilding the TensorRT engine of %s for CUDA device %d", self.symbol, device)
            with gpu.cuda_device(device):
                plan = self.engines.rebuild(spec, key, backend)
            with self.lock:
                self.cuda_engines.pop((device, key), None)
            return self.cuda_engine(device, key, plan, backend) is not None
        self._warn_once("The TensorRT engine of %s cannot run on CUDA device %d: it runs through TVM",
                        self.symbol, device)
        return False

    def cuda_engine(self, device_index, key, plan, backend):
        """The deserialized engine, or None when the plan does not fit this device (remembered).
        Engines the EngineSet no longer keeps (a larger batch replaced them) are released."""
        live = self.engines.current_keys()
        with self.lock:
            for stale in [k for k in self.cuda_engines if k[1] not in live]:
                del self.cuda_engines[stale]
            if (device_index, key) not in self.cuda_engines:
                self.cuda_engines[(device_index, key)] = gpu.load_engine(backend.trt, plan, device_index, self.symbol)
            return self.cuda_engines[(device_index, key)]

    def execute(self, args) -> None:
        n_in = len(self.subgraph.inputs)
        inputs, outputs = args[:n_in], args[n_in + self.passed_weights:]
        backend = find_backend()
        _, key, plan = self.engines.plan_for(self.values_of(inputs), backend)
        engine = self.cuda_engine(inputs[0].device.index, key, plan, backend)
        if engine is None:
            raise gpu.GpuExecutionError(f"no TensorRT engine of {self.symbol} runs on this device")
        engine.run([d["name"] for d in self.subgraph.inputs], inputs,
                   [d["name"] for d in self.subgraph.outputs], outputs)

    def run(self, args) -> None:
        """One call of a RunCodegen library: the engine where it can run, else the CPU evaluator."""
        inputs, outputs = args[:len(self.subgraph.inputs)], args[len(self.subgraph.inputs):]
        if self.prepare(inputs, fallback="on the CPU evaluator (slow: for checking, not for deployment)"):
            self.execute(args)
            return
        for tensor, value in zip(outputs, self.evaluate_on_cpu(inputs)):
            tensor.copyfrom(np.asarray(value, order="C"))

    def evaluate_on_cpu(self, inputs) -> list:
        from .evaluator import evaluate_network  # only this fallback needs it
        from .engine import build_network
        from .options import engine_options

        backend = find_backend()
        if backend is None:
            raise TensorRTError(f"subgraph {self.symbol} of a RunCodegen library needs TensorRT (or TensorRT-RTX) to "
                                "run: the library carries no TVM copy of it (build with tvm_tensorrt.build for one)")
        precision = engine_options(self.subgraph.config).precision
        with self.lock:
            if precision not in self.cpu_networks:
                self.cpu_networks[precision] = build_network(self.subgraph, backend, precision)
            built = self.cpu_networks[precision][1]
        feeds = {d["name"]: _host_bytes(t) for d, t in zip(self.subgraph.inputs, inputs)}
        results = evaluate_network(built.network, backend.trt, feeds)
        return [results[d["name"]] for d in self.subgraph.outputs]

    def _warn_once(self, message, *args):
        if not self.warned:
            logger.warning(message, *args)
            self.warned = True


_RUNTIMES: dict[str, SubgraphRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def _host_bytes(tensor) -> np.ndarray:
    if tensor.device.dlpack_device_type() == 1:  # kDLCPU: zero-copy view
        return np.from_dlpack(tensor)
    return tensor.numpy()


_SEEN: dict = {}  # (device, address, size) of a blob constant -> (runtime, plans address)


def runtime_for(blob, plans, args) -> SubgraphRuntime:
    """The runtime of this blob; `args` are the call's arguments after the plans (inputs, the
    weights of a weights_external blob, outputs). A blob constant lives as long as its library,
    so its address identifies it after the first call: no per-call copy of the blob off a GPU,
    and the weights are read once, on the first call."""
    seen_key = (str(blob.device), blob.data_ptr, int(blob.shape[0]))
    with _RUNTIMES_LOCK:
        seen = _SEEN.get(seen_key)
        if seen is not None and seen[1] == plans.data_ptr:
            return seen[0]
    data = _host_bytes(blob)
    digest = read_digest(data)
    prebuilt = decode_plans(_host_bytes(plans))
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(digest)
        if runtime is None:
            runtime = _RUNTIMES[digest] = SubgraphRuntime(_decode_with_weights(data, args), prebuilt)
        else:  # the same subgraph in another library: its prebuilt plans count too
            runtime.engines.add_prebuilt(prebuilt)
        _SEEN[seen_key] = (runtime, plans.data_ptr)
        return runtime


def _decode_with_weights(data, args):
    header = decode_header(data)
    if not header.get("weights_external"):
        return decode(data)
    n_in = len(header["inputs"])
    return decode(data, weights=[_host_bytes(t) for t in args[n_in:n_in + len(header["weights"])]])


def embedded_runtime(address: int, size: int) -> SubgraphRuntime:
    """The runtime of a blob a RunCodegen library holds in its read-only data. Its digest is read
    on every call (48 bytes), so an address another library reuses after an unload can never
    reach a stale runtime; the first call copies the blob, which must outlive the library."""
    view = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(address))
    digest = read_digest(view)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(digest)
        if runtime is None:
            runtime = _RUNTIMES[digest] = SubgraphRuntime(decode(view.copy()), {})
        return runtime


def _run_embedded(address, size, *args):
    embedded_runtime(int(address), int(size)).run(args)


def _prepare(blob, plans, *args):
    runtime = runtime_for(blob, plans, args)
    return tvm.runtime.tensor(np.array(runtime.prepare(args[:len(runtime.subgraph.inputs)])))


def _execute(blob, plans, *args):
    runtime_for(blob, plans, args).execute(args)


def _no_engine(blob, plans, *args):
    """The else-branch of a library built with cpu_fallback=False."""
    symbol = runtime_for(blob, plans, args).symbol
    raise TensorRTError(f"subgraph {symbol} has no TensorRT engine that runs on this device, and the library was "
                        "built with cpu_fallback=False; run it on a supported NVIDIA GPU, or rebuild with "
                        "cpu_fallback=True to run such subgraphs through TVM")


def forget_runtimes() -> None:
    """Drop every engine this process holds (tests use it to act like a fresh process)."""
    with _RUNTIMES_LOCK:
        _RUNTIMES.clear()
        _SEEN.clear()


tvm.register_global_func(PREPARE, _prepare, override=True)
tvm.register_global_func(EXECUTE, _execute, override=True)
tvm.register_global_func(NO_ENGINE, _no_engine, override=True)
tvm.register_global_func(RUN_EMBEDDED, _run_embedded, override=True)
