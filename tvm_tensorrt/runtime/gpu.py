"""Executing a plan on a CUDA device, with TensorRT's named-tensor API.

This path cannot run on our machines (no GPU; TensorRT-RTX also refuses compute capability
9.0), so it is kept small and written to TensorRT 10's documented runtime API: deserialize the
plan, bind every I/O tensor by name to the caller's buffers, and enqueue on TVM's current CUDA
stream for the device the tensors live on (never a hard-coded device 0).
"""

from __future__ import annotations

import threading

from .engine import make_trt_logger

KDL_CUDA = 2


def is_cuda(tensor) -> bool:
    return tensor.device.dlpack_device_type() == KDL_CUDA


class CudaEngine:
    def __init__(self, trt, plan: bytes, device_index: int):
        self.trt = trt
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
            for name, tensor in zip(input_names, inputs):
                self.context.set_input_shape(name, tuple(tensor.shape))
                self.context.set_tensor_address(name, tensor.data_ptr)
            for name, tensor in zip(output_names, outputs):
                self.context.set_tensor_address(name, tensor.data_ptr)
            if not self.context.execute_async_v3(stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
