"""Find the TensorRT Python API in use: full TensorRT when importable, else TensorRT-RTX.

TensorRT-RTX's bindings do not load their own library: it ships inside the ONNX Runtime
TensorRT-RTX execution-provider wheel, so we preload it (and its ONNX parser) globally first.
Both speak TensorRT 10's API for everything we use.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.util
import os
from dataclasses import dataclass
from types import ModuleType

from ..errors import BackendUnavailableError

# Full TensorRT 10 is the API level TensorRT-RTX 1.x implements; it is also what we assume for
# partitioning when no backend is installed (cross-compiling on a machine without TensorRT).
TENSORRT_RTX_API_VERSION = (10, 0, 0)
DEFAULT_TENSORRT_VERSION = TENSORRT_RTX_API_VERSION

_RTX_LIB_PACKAGE = "onnxruntime_ep_nv_tensorrt_rtx"
_RTX_LIBS = ("libtensorrt_rtx.so", "libtensorrt_onnxparser_rtx.so")


@dataclass(frozen=True)
class Backend:
    """The TensorRT flavour found: its module, its name and the TensorRT API version it offers."""

    trt: ModuleType
    name: str  # "tensorrt" or "tensorrt-rtx"
    library_version: str  # the package's own version string
    api_version: tuple  # (major, minor, patch) of the TensorRT API, used by version gates

    def describe(self) -> str:
        return f"{self.name} {self.library_version}"


def _preload_rtx_libraries() -> None:
    spec = importlib.util.find_spec(_RTX_LIB_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            "tensorrt_rtx_bindings needs libtensorrt_rtx from the onnxruntime-ep-nv-tensorrt-rtx-cu13 "
            "package: pip install onnxruntime-ep-nv-tensorrt-rtx-cu13==0.5.0"
        )
    folder = list(spec.submodule_search_locations)[0]
    for stem in _RTX_LIBS:
        candidates = sorted(f for f in os.listdir(folder) if f.startswith(stem))
        if not candidates:
            raise BackendUnavailableError(f"{stem}* not found in {folder}; reinstall onnxruntime-ep-nv-tensorrt-rtx-cu13")
        ctypes.CDLL(os.path.join(folder, candidates[-1]), mode=ctypes.RTLD_GLOBAL)


def _version_tuple(text: str) -> tuple:
    parts = [int(p) for p in text.split(".")[:3] if p.isdigit()]
    return tuple(parts + [0] * (3 - len(parts)))


@functools.lru_cache(maxsize=None)
def load_backend() -> Backend:
    """Import TensorRT once per process; raise BackendUnavailableError saying what to install."""
    try:
        trt = importlib.import_module("tensorrt")
        return Backend(trt, "tensorrt", trt.__version__, _version_tuple(trt.__version__))
    except ImportError:
        pass
    try:
        _preload_rtx_libraries()
        trt = importlib.import_module("tensorrt_rtx_bindings")
    except (ImportError, OSError) as err:
        raise BackendUnavailableError(
            "No TensorRT backend is importable. Install full TensorRT (`import tensorrt`) or "
            "TensorRT-RTX: pip install tensorrt-rtx-cu13-bindings==1.7.1.116 "
            f"onnxruntime-ep-nv-tensorrt-rtx-cu13==0.5.0 ({err})"
        ) from err
    return Backend(trt, "tensorrt-rtx", trt.__version__, TENSORRT_RTX_API_VERSION)


def find_backend() -> Backend | None:
    """The backend, or None when none is installed (partitioning still works without one)."""
    try:
        return load_backend()
    except BackendUnavailableError:
        return None


def installed_api_version() -> tuple:
    backend = find_backend()
    return backend.api_version if backend else DEFAULT_TENSORRT_VERSION
