"""Executing a plan on a CUDA device, with TensorRT's named-tensor API.

This path cannot run on our machines (no GPU; TensorRT-RTX also refuses compute capability
9.0), so it is kept small and written to TensorRT 10's documented runtime API: make the tensors'
device current, deserialize the plan there, bind every I/O tensor by name to the caller's
buffers, set the actual input shapes (the engine's profile covers them), and enqueue on TVM's
current CUDA stream for that device (never a hard-coded device 0). Each thread gets its own
execution context, so concurrent callers on different streams never share one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import importlib.util
import logging
import os
import threading
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # the bindings' signatures, for the static check of this module (tests/test_typecheck.py)
    import tensorrt_rtx_bindings as trt_api
    from tvm_ffi import Tensor

from tvm_tensorrt.errors import TensorRTError
from tvm_tensorrt.trt_log import captured_errors, new_runtime

logger = logging.getLogger("tvm_tensorrt")

KDL_CUDA = 2


class GpuExecutionError(TensorRTError, RuntimeError):
    """TensorRT could not load or run an engine on a CUDA device."""


def is_cuda(tensor: Tensor) -> bool:
    return tensor.device.dlpack_device_type() == KDL_CUDA


def bindings(names: Sequence[str], tensors: Sequence[Tensor]) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, address) per tensor: what the execution context is told before a run. The
    address is an int (TensorRT's set_tensor_address takes nothing else): the first element's,
    byte offset included, as DLPack reports it."""
    return [(name, tuple(int(d) for d in t.shape), int(t.data_ptr())) for name, t in zip(names, tensors)]


@functools.lru_cache(maxsize=None)
def _cudart():
    """The CUDA runtime library: the one shipped beside TensorRT-RTX, else the system's."""
    spec = importlib.util.find_spec("onnxruntime_ep_nv_tensorrt_rtx")
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        folder = list(spec.submodule_search_locations)[0]
        candidates += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.startswith("libcudart.so")]
    found = ctypes.util.find_library("cudart")
    candidates += [found] if found else []
    for path in candidates:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    raise GpuExecutionError("the CUDA runtime library (libcudart) was not found")


@contextlib.contextmanager
def cuda_device(index: int):
    """Make CUDA device `index` current for this thread, restoring the previous one after."""
    cudart = _cudart()
    previous = ctypes.c_int(-1)
    if cudart.cudaGetDevice(ctypes.byref(previous)) != 0:
        raise GpuExecutionError("cudaGetDevice failed: no usable CUDA device")
    if cudart.cudaSetDevice(int(index)) != 0:
        raise GpuExecutionError(f"cudaSetDevice({index}) failed")
    try:
        yield
    finally:
        cudart.cudaSetDevice(previous.value)


def deserialize(trt, plan: bytes) -> tuple[trt_api.Runtime, trt_api.ICudaEngine]:
    """(runtime, engine) for `plan` on the current device; GpuExecutionError with TensorRT's own
    words when the plan does not fit (made by another TensorRT or for another GPU, or damaged)."""
    with captured_errors() as errors:
        runtime = new_runtime(trt)
        engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise GpuExecutionError("; ".join(errors) or "TensorRT could not deserialize the engine")
    return runtime, engine


class CudaEngine:
    def __init__(self, trt, plan: bytes, device_index: int):
        self.device_index = device_index
        with cuda_device(device_index):
            self._runtime, self.engine = deserialize(trt, plan)
        self._local = threading.local()

    def _context(self) -> trt_api.IExecutionContext:
        context = getattr(self._local, "context", None)
        if context is None:
            context = self._local.context = self.engine.create_execution_context()
            if context is None:
                raise GpuExecutionError("TensorRT could not create an execution context (out of device memory?)")
        return context

    def run(self, input_names: Sequence[str], inputs: Sequence[Tensor], output_names: Sequence[str],
            outputs: Sequence[Tensor]) -> None:
        import tvm_ffi

        with cuda_device(self.device_index), captured_errors() as errors:
            context = self._context()
            stream = tvm_ffi.get_raw_stream(inputs[0].device)
            for name, shape, address in bindings(input_names, inputs):
                if not context.set_input_shape(name, shape):
                    raise GpuExecutionError(f"input {name} of shape {shape} is outside the engine's profile")
                context.set_tensor_address(name, address)
            for name, shape, address in bindings(output_names, outputs):
                dims = context.get_tensor_shape(name)
                expected = tuple(dims[i] for i in range(len(dims)))
                if expected != shape:
                    raise GpuExecutionError(f"output {name} has shape {shape}, the engine produces {expected}")
                context.set_tensor_address(name, address)
            if not context.execute_async_v3(stream):
                raise GpuExecutionError("TensorRT execute_async_v3 failed: " + "; ".join(errors[-3:]))


def load_engine(trt, plan: bytes, device_index: int, symbol: str):
    """The engine on this device, or None (with a warning) when the plan does not fit it."""
    try:
        return CudaEngine(trt, plan, device_index)
    except GpuExecutionError as err:
        logger.warning("TensorRT engine for %s does not run on CUDA device %d (%s)", symbol, device_index, err)
        return None
