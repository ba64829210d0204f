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
