"""Weights handed to TVM without a copy.

TVM shares a numpy array's memory (DLPack) only when it starts at a 64-byte boundary, and
numpy's own allocations do not. Filling fresh memory is what a weight copy costs (page
faults, about 1 GB/s here): ResNet-50's 100 MB took 0.05-0.08 s per copy. So arrays made for
TVM are allocated aligned and shared.

Large arrays are mapped memory that the kernel fills in one call (MADV_POPULATE_WRITE, huge
pages where it gives them): a page fault per 4 KiB costs far more in a virtual machine, where
freed memory goes back to the host. VGG-16's 550 MB of weights took 1.2-1.4 s to read into
fresh memory faulted page by page, 0.2 s populated.
"""

from __future__ import annotations

import mmap

import numpy as np
import tvm

MAPPED_MIN_BYTES = 1 << 20
MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux 5.14; Python 3.11 lacks the name


def _populated(nbytes: int) -> np.ndarray:
    """Page-aligned, writable bytes, already backed by memory (the array keeps the map alive)."""
    mapped = mmap.mmap(-1, nbytes)
    for advice in (getattr(mmap, "MADV_HUGEPAGE", None), MADV_POPULATE_WRITE):
        try:
            if advice is not None and hasattr(mapped, "madvise"):  # no madvise on Windows
                mapped.madvise(advice)
        except OSError:  # an older kernel, or no huge pages: faulted in on first write instead
            pass
    return np.frombuffer(mapped, np.uint8)


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-order array at a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes >= MAPPED_MIN_BYTES:
        return _populated(nbytes).view(dtype).reshape(shape)
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
