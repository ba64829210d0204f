"""The bridge from TensorRT's logger to Python logging, and per-thread error capture.

A leaf module (no imports from the rest of the package), so the network builder, the engine
builder and the GPU runtime can all report TensorRT's own words when something fails.
"""

from __future__ import annotations

import contextlib
import logging
import threading

logger = logging.getLogger("tvm_tensorrt")

_LOGGERS: dict = {}
_CAPTURE = threading.local()


def trt_logger(trt):
    """The process's one TensorRT ILogger, forwarding to the "tvm_tensorrt" logger.

    TensorRT keeps the first logger a process registers and ignores later ones (with a warning),
    so one bridge serves every builder and runtime; `captured_errors` collects what it reports
    while the current thread builds or loads an engine, for the error we raise.
    """
    if id(trt) not in _LOGGERS:
        kinds = trt.ILogger.Severity
        levels = {kinds.INTERNAL_ERROR: logging.ERROR, kinds.ERROR: logging.ERROR, kinds.WARNING: logging.WARNING}

        class _Bridge(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)

            def log(self, severity, msg):
                # A build sends ~800 VERBOSE messages (SqueezeNet): each returns here at once
                # unless someone listens at DEBUG; handling each cost the build 5%.
                level = levels.get(severity, logging.DEBUG)
                if level == logging.ERROR:
                    _capture(msg)
                    if getattr(_CAPTURE, "handled", 0):
                        level = logging.DEBUG
                if logger.isEnabledFor(level):
                    logger.log(level, "TensorRT: %s", msg)

        _LOGGERS[id(trt)] = _Bridge()
    return _LOGGERS[id(trt)]


def _capture(msg: str) -> None:
    for errors in getattr(_CAPTURE, "stack", ()):
        errors.append(msg)


@contextlib.contextmanager
def captured_errors():
    """The TensorRT error messages this thread receives inside the block."""
    stack = _CAPTURE.__dict__.setdefault("stack", [])
    errors: list = []
    stack.append(errors)
    try:
        yield errors
    finally:
        stack.remove(errors)


@contextlib.contextmanager
def errors_handled():
    """TensorRT's errors in this block are answers, not failures (the compile-time conversion check
    tries regions TensorRT may refuse, and says why in its own warning): captured as always, but
    logged at DEBUG, so a user sees the decision once instead of TensorRT's ERROR lines."""
    _CAPTURE.handled = getattr(_CAPTURE, "handled", 0) + 1
    try:
        yield
    finally:
        _CAPTURE.handled -= 1


# TensorRT's Python bindings hold the GIL while createInferBuilder / createInferRuntime take a
# process-wide mutex, and a thread inside them logs through the bridge above, which needs the GIL:
# two threads creating builders at once deadlocked (seen: eight threads building engines). Waiting
# on this lock releases the GIL, so only one thread is ever inside those calls.
_CREATING = threading.Lock()


def new_builder(trt):
    """trt.Builder with the bridge, one thread at a time (see _CREATING)."""
    with _CREATING:
        return trt.Builder(trt_logger(trt))


def new_runtime(trt):
    """trt.Runtime with the bridge, one thread at a time (see _CREATING)."""
    with _CREATING:
        return trt.Runtime(trt_logger(trt))
