"""Find the TensorRT Python API in use: full TensorRT when importable, else TensorRT-RTX.

TensorRT-RTX's bindings do not load their own library: it ships inside the ONNX Runtime
TensorRT-RTX execution-provider wheel, so we preload it (and its ONNX parser) globally first.
Both speak TensorRT 10's API for everything we use.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Optional

from .common import parse_version
from .errors import BackendUnavailableError

logger = logging.getLogger("tvm_tensorrt")

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


_DISCOVERY_LOCK = threading.Lock()
_DISCOVERED: Optional[tuple] = None  # (Backend or None, BackendUnavailableError or None), found once


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _discover() -> Backend:
    """Full TensorRT when it imports, else TensorRT-RTX. A package that is installed but does not
    load is a broken install, not "no backend": the error says which and why."""
    broken = []
    if _installed("tensorrt"):
        try:
            trt = importlib.import_module("tensorrt")
            return Backend(trt, "tensorrt", trt.__version__, parse_version(trt.__version__, "tensorrt.__version__"))
        except Exception as err:  # noqa: BLE001 (a broken install raises anything; it is reported)
            broken.append(f"TensorRT is installed but does not load ({type(err).__name__}: {err})")
    if _installed("tensorrt_rtx_bindings"):
        try:
            _preload_rtx_libraries()
            trt = importlib.import_module("tensorrt_rtx_bindings")
            if broken:
                logger.warning("%s; using TensorRT-RTX", broken[0])
            return Backend(trt, "tensorrt-rtx", trt.__version__, TENSORRT_RTX_API_VERSION)
        except Exception as err:  # noqa: BLE001
            broken.append(f"TensorRT-RTX is installed but does not load ({type(err).__name__}: {err})")
    if broken:
        raise BackendUnavailableError("; ".join(broken) + ". Reinstall it, or fix the library path it names",
                                      broken=True)
    raise BackendUnavailableError(
        "No TensorRT backend is installed. Install full TensorRT (`import tensorrt`) or TensorRT-RTX: "
        "pip install tensorrt-rtx-cu13-bindings==1.7.1.116 onnxruntime-ep-nv-tensorrt-rtx-cu13==0.5.0")


def _discovered() -> tuple:
    global _DISCOVERED
    with _DISCOVERY_LOCK:
        if _DISCOVERED is None:
            try:
                _DISCOVERED = (_discover(), None)
            except BackendUnavailableError as err:
                _DISCOVERED = (None, err)
                if err.broken:  # said once per process; a missing backend is a normal setup
                    logger.warning("%s", err)
        return _DISCOVERED


def load_backend() -> Backend:
    """The backend, found once per process; BackendUnavailableError (the same one each time, saying
    what is missing or broken) when there is none."""
    backend, error = _discovered()
    if backend is None:
        raise error
    return backend


def find_backend() -> Backend | None:
    """The backend, or None when there is none (partitioning still works without one);
    backend_error() then says why."""
    return _discovered()[0]


def backend_error() -> Optional[BackendUnavailableError]:
    """Why find_backend() is None: nothing installed, or an install that does not load."""
    return _discovered()[1]


def forget_backend() -> None:
    """Look for the backend again on next use (tests that break an install on purpose)."""
    global _DISCOVERED
    with _DISCOVERY_LOCK:
        _DISCOVERED = None
