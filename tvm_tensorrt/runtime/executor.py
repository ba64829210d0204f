"""The packed functions an exported library calls, registered when tvm_tensorrt is imported.

For each offloaded call, `main` first calls `tvm_tensorrt.prepare(blob, *inputs)`: on the first
call it builds the subgraph's engine (logging the contract's messages), then answers whether the
engine can execute on the inputs' device. If yes, `tvm_tensorrt.execute` runs it; if not (no
CUDA device, as on every machine we test on), `main` runs TVM's compiled copy of the subgraph.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import tvm

from ..errors import BackendUnavailableError
from . import gpu
from .backend import find_backend
from .engine import build_plan
from .options import engine_options
from .subgraph import decode, read_digest

logger = logging.getLogger("tvm_tensorrt")

PREPARE = "tvm_tensorrt.prepare"
EXECUTE = "tvm_tensorrt.execute"


class SubgraphRuntime:
    """One per distinct subgraph blob in the process: its plan and, on a GPU, its engine."""

    def __init__(self, subgraph):
        self.subgraph = subgraph
        self.plan: bytes | None = None
        self.engines: dict[int, gpu.CudaEngine] = {}
        self.lock = threading.Lock()
        self.warned_cpu = False

    @property
    def symbol(self) -> str:
        return self.subgraph.symbol

    def ensure_plan(self) -> bytes | None:
        with self.lock:
            if self.plan is None:
                backend = find_backend()
                if backend is None:
                    if not self.warned_cpu:
                        logger.warning("No TensorRT backend is installed: subgraph %s runs through TVM", self.symbol)
                        self.warned_cpu = True
                    return None
                options = engine_options(self.subgraph.config)
                logger.info("Building new TensorRT engine for subgraph %s", self.symbol)
                self.plan = build_plan(self.subgraph, options.max_workspace_size, backend, options.precision)
                logger.info("Finished building TensorRT engine for subgraph %s", self.symbol)
            return self.plan

    def engine_for(self, device_index: int) -> gpu.CudaEngine:
        with self.lock:
            if device_index not in self.engines:
                self.engines[device_index] = gpu.CudaEngine(find_backend().trt, self.plan, device_index)
            return self.engines[device_index]

    def can_execute(self, inputs) -> bool:
        if self.plan is None or not inputs or not all(gpu.is_cuda(t) for t in inputs):
            if not self.warned_cpu:
                logger.warning("No CUDA device holds the inputs of %s: it runs through TVM on the CPU "
                               "(its TensorRT engine was built and checked)", self.symbol)
                self.warned_cpu = True
            return False
        return True

    def execute(self, args) -> None:
        n_in = len(self.subgraph.inputs)
        inputs, outputs = args[:n_in], args[n_in:]
        engine = self.engine_for(inputs[0].device.index)
        engine.run([d["name"] for d in self.subgraph.inputs], inputs,
                   [d["name"] for d in self.subgraph.outputs], outputs)


_RUNTIMES: dict[str, SubgraphRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def _host_bytes(blob) -> np.ndarray:
    if blob.device.dlpack_device_type() == 1:  # kDLCPU: zero-copy view
        return np.from_dlpack(blob)
    return blob.numpy()


def runtime_for(blob) -> SubgraphRuntime:
    data = _host_bytes(blob)
    digest = read_digest(data)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(digest)
        if runtime is None:
            runtime = _RUNTIMES[digest] = SubgraphRuntime(decode(data))
        return runtime


def _prepare(blob, *inputs):
    runtime = runtime_for(blob)
    runtime.ensure_plan()
    return tvm.runtime.tensor(np.array(runtime.can_execute(inputs)))


def _execute(blob, *args):
    runtime_for(blob).execute(args)


tvm.register_global_func(PREPARE, _prepare, override=True)
tvm.register_global_func(EXECUTE, _execute, override=True)

__all__ = ["BackendUnavailableError", "EXECUTE", "PREPARE", "SubgraphRuntime", "runtime_for"]
