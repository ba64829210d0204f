"""The packed functions an exported library calls, registered when tvm_tensorrt is imported.

For each offloaded call, `main` first calls `tvm_tensorrt.prepare(blob, plans, *inputs)`: it
makes sure an engine for these input shapes exists (from memory, prebuilt plans, the cache, or
the builder, logging the contract's messages), then answers whether it can execute on the
inputs' device. If yes, `tvm_tensorrt.execute` runs it; if not (no CUDA device, as on every
machine we test on), `main` runs TVM's compiled copy of the subgraph.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import tvm

from . import gpu
from .backend import find_backend
from .engines import EngineSet
from .plans import decode_plans
from .subgraph import decode, read_digest

logger = logging.getLogger("tvm_tensorrt")

PREPARE = "tvm_tensorrt.prepare"
EXECUTE = "tvm_tensorrt.execute"


class SubgraphRuntime:
    """One per distinct subgraph in the process: its engines and, on GPUs, their contexts."""

    def __init__(self, subgraph, prebuilt: dict):
        self.subgraph = subgraph
        self.engines = EngineSet(subgraph, prebuilt)
        self.cuda_engines: dict = {}  # (device index, key) -> gpu.CudaEngine
        self.lock = threading.Lock()
        self.warned = False

    @property
    def symbol(self) -> str:
        return self.subgraph.symbol

    def batch_of(self, inputs):
        return int(inputs[0].shape[0]) if self.engines.dynamic and inputs else None

    def prepare(self, inputs) -> bool:
        backend = find_backend()
        if backend is None:
            self._warn_once("No TensorRT backend is installed: subgraph %s runs through TVM", self.symbol)
            return False
        spec, key, plan = self.engines.plan_for(self.batch_of(inputs), backend)
        if not inputs or not all(gpu.is_cuda(t) for t in inputs):
            self._warn_once("No CUDA device holds the inputs of %s: it runs through TVM on the CPU "
                            "(its TensorRT engine was built and checked)", self.symbol)
            return False
        device = inputs[0].device.index
        if self.cuda_engine(device, key, plan, backend) is None:  # made for another GPU or TensorRT
            logger.warning("Rebuilding the TensorRT engine of %s for CUDA device %d", self.symbol, device)
            with self.lock:
                self.cuda_engines.pop((device, key), None)
            plan = self.engines.rebuild(spec, backend)
            return self.cuda_engine(device, key, plan, backend) is not None
        return True

    def cuda_engine(self, device_index, key, plan, backend):
        """The deserialized engine, or None when the plan does not fit this device (remembered)."""
        with self.lock:
            if (device_index, key) not in self.cuda_engines:
                self.cuda_engines[(device_index, key)] = gpu.load_engine(backend.trt, plan, device_index, self.symbol)
            return self.cuda_engines[(device_index, key)]

    def execute(self, args) -> None:
        n_in = len(self.subgraph.inputs)
        inputs, outputs = args[:n_in], args[n_in:]
        _, key, plan = self.engines.plan_for(self.batch_of(inputs), find_backend())
        engine = self.cuda_engine(inputs[0].device.index, key, plan, find_backend())
        engine.run([d["name"] for d in self.subgraph.inputs], inputs,
                   [d["name"] for d in self.subgraph.outputs], outputs)

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


def runtime_for(blob, plans) -> SubgraphRuntime:
    data = _host_bytes(blob)
    digest = read_digest(data)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(digest)
        if runtime is None:
            runtime = _RUNTIMES[digest] = SubgraphRuntime(decode(data), decode_plans(_host_bytes(plans)))
        return runtime


def _prepare(blob, plans, *inputs):
    return tvm.runtime.tensor(np.array(runtime_for(blob, plans).prepare(inputs)))


def _execute(blob, plans, *args):
    runtime_for(blob, plans).execute(args)


def forget_runtimes() -> None:
    """Drop every engine this process holds (tests use it to act like a fresh process)."""
    with _RUNTIMES_LOCK:
        _RUNTIMES.clear()


tvm.register_global_func(PREPARE, _prepare, override=True)
tvm.register_global_func(EXECUTE, _execute, override=True)
