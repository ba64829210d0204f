"""Executing a plan on a CUDA device, with TensorRT's named-tensor API.

This path cannot run on our machines (no GPU; TensorRT-RTX also refuses compute capability
9.0), so it is kept small and written to TensorRT 10's documented runtime API: deserialize the
plan, bind every I/O tensor by name to the caller's buffers, set the actual input shapes (the
engine's profile covers them), and enqueue on TVM's current CUDA stream for the device the
tensors live on (never a hard-coded device 0).
"""

from __future__ import annotations

import logging
import threading

from .engine import make_trt_logger

logger = logging.getLogger("tvm_tensorrt")

KDL_CUDA = 2


def is_cuda(tensor) -> bool:
    return tensor.device.dlpack_device_type() == KDL_CUDA


def bindings(names, tensors) -> list:
    """(name, shape, address) per tensor: what the execution context is told before a run."""
    return [(name, tuple(int(d) for d in t.shape), t.data_ptr) for name, t in zip(names, tensors)]


class CudaEngine:
    def __init__(self, trt, plan: bytes, device_index: int):
        self.device_index = device_index
        self._logger = make_trt_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise RuntimeError("; ".join(self._logger.errors) or "TensorRT could not deserialize the engine")
        self._lock = threading.Lock()  # one execution context, used by one caller at a time
        self.context = self.engine.create_execution_context()

    def run(self, input_names, inputs, output_names, outputs) -> None:
        import tvm_ffi

        stream = tvm_ffi.get_raw_stream(inputs[0].device)
        with self._lock:
            for name, shape, address in bindings(input_names, inputs):
                self.context.set_input_shape(name, shape)
                self.context.set_tensor_address(name, address)
            for name, _, address in bindings(output_names, outputs):
                self.context.set_tensor_address(name, address)
            if not self.context.execute_async_v3(stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")


def load_engine(trt, plan: bytes, device_index: int, symbol: str):
    """The engine on this device, or None (with a warning) when the plan does not fit it: the
    caller then runs TVM's copy of the subgraph rather than failing the inference."""
    try:
        return CudaEngine(trt, plan, device_index)
    except RuntimeError as err:
        logger.warning("TensorRT engine for %s does not run on CUDA device %d (%s); running it through TVM",
                       symbol, device_index, err)
        return None
