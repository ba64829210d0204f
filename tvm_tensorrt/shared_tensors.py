"""Weights handed to TVM without a copy.

TVM shares a numpy array's memory (DLPack) only when it starts at a 64-byte boundary, and
numpy's own allocations do not. Filling fresh memory is what a weight copy costs (page
faults, about 1 GB/s here): ResNet-50's 100 MB took 0.05-0.08 s per copy. So arrays made for
TVM are allocated aligned and shared.
"""

from __future__ import annotations

import numpy as np
import tvm


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-order array at a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + 64, np.uint8)
    start = (-raw.ctypes.data) % 64
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def shared_tensor(array: np.ndarray):
    """A TVM tensor over `array`'s own memory (the caller never writes it again), or a copy
    where TVM cannot share it (unaligned, read-only, a dtype DLPack lacks)."""
    try:
        return tvm.runtime.from_dlpack(array)
    except (TypeError, BufferError, RuntimeError, ValueError):
        return tvm.runtime.tensor(np.asarray(array, order="C"))


def aligned_copy(array: np.ndarray):
    """A TVM tensor holding a copy of `array`, made in one pass into aligned memory (numpy lets
    go of the GIL while it copies, so other threads run meanwhile)."""
    out = aligned_empty(array.shape, array.dtype)
    np.copyto(out, array)
    return shared_tensor(out)
