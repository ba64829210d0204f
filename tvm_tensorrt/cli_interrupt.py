"""Ctrl-C in the CLI: at any moment, one line and exit code 130 within a second or so, a running
TensorRT build cancelled, nothing half-written left (files are written beside and renamed).

Python raises KeyboardInterrupt wherever the main thread is when it handles the signal, and two
places swallow it: TensorRT catches what its logger and progress-monitor callbacks raise (it
prints "Exception caught in log()" and keeps building), and TVM turns an exception raised in a
Python function it calls into a RuntimeError, which a caller may catch and go on. So the handler
sets the build-cancel flag first (the progress monitor stops the build at its next step), raises
only outside TensorRT's callbacks, and asks again every REPEAT seconds until the CLI has stopped.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import threading

from tvm_tensorrt import trt_log
from tvm_tensorrt.runtime import progress

INTERRUPTED = 130  # 128 + SIGINT, what shells and trtexec report for Ctrl-C
REPEAT = 0.5  # seconds between re-raises while a swallowed interrupt has not stopped the CLI

_CALLBACK_FILES = {os.path.normcase(os.path.abspath(m.__file__)) for m in (progress, trt_log)}


def _in_tensorrt_callback(frame) -> bool:
    """Whether `frame` runs inside a callback TensorRT made (its logger or progress monitor),
    where a raised KeyboardInterrupt would be caught and printed by TensorRT."""
    while frame is not None:
        if os.path.normcase(os.path.abspath(frame.f_code.co_filename)) in _CALLBACK_FILES:
            return True
        frame = frame.f_back
    return False


class Interrupts:
    """`with Interrupts() as interrupts:` the CLI's SIGINT handling; `interrupts.requested` says
    whether Ctrl-C came. A KeyboardInterrupt leaving the block is swallowed (the caller reports
    it): a second Ctrl-C arriving while the first is handled must not become a traceback."""

    def __init__(self):
        self.requested = False
        self.closing = False
        self.previous = None
        self.stop = threading.Event()
        self.repeater: threading.Thread | None = None

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():  # signal.signal works only there
            self.previous = signal.signal(signal.SIGINT, self._handle)
        logging.getLogger("tvm_tensorrt").addFilter(self._quiet)
        return self

    def _quiet(self, record) -> bool:
        """After Ctrl-C the CLI's one line says it all (not TensorRT's "Build canceled by user")."""
        return not self.requested

    def _handle(self, signum, frame) -> None:
        if self.closing:
            return
        self.requested = True
        progress.cancel_builds()
        if self.repeater is None:
            self.repeater = threading.Thread(target=self._repeat, name="tvm-tensorrt-interrupt", daemon=True)
            self.repeater.start()
        if not _in_tensorrt_callback(frame):
            raise KeyboardInterrupt

    def _repeat(self) -> None:
        while not self.stop.wait(REPEAT):
            _thread.interrupt_main(signal.SIGINT)  # the handler runs again in the main thread

    def __exit__(self, kind, value, tb) -> bool:
        self.closing = True
        self.stop.set()
        if self.repeater is not None:
            self.repeater.join()
        logging.getLogger("tvm_tensorrt").removeFilter(self._quiet)
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        progress.cancel_builds(False)  # main() called from Python: later builds run as usual
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.requested = True
            return True
        return False
