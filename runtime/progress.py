"""Progress of engine builds, from TensorRT's IProgressMonitor: a bar per engine on a terminal,
plain lines otherwise (the CLI turns it on; a library user can too, with `report_builds`).
The same monitor cancels builds: TensorRT catches whatever a callback raises (a KeyboardInterrupt
from Ctrl-C included) and goes on, so an interrupt is a flag (`cancel_builds`) that the monitor
answers with False, the only way TensorRT offers to stop a build within a step.

TensorRT reports nested phases ("Building engine" > "Preparing graph for optimization" > ...);
the fraction shown is the top-level phase's completed steps.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Callable, Optional

Reporter = Callable[[str, float, str], None]  # (subgraph symbol, fraction done, phase name)

logger = logging.getLogger("tvm_tensorrt")
_REPORTER: Optional[Reporter] = None
_LOCK = threading.Lock()
_CANCEL = threading.Event()


def report_builds(reporter: Optional[Reporter]) -> Optional[Reporter]:
    """Call `reporter(symbol, fraction, phase)` as engines build in this process (None: stop).
    Returns the reporter it replaces, for the caller to put back."""
    global _REPORTER
    with _LOCK:
        previous, _REPORTER = _REPORTER, reporter
    return previous


def cancel_builds(cancel: bool = True) -> None:
    """Make the engine builds running in this process stop at their next step, and later ones
    stop at their first (the CLI's Ctrl-C); `cancel_builds(False)` lets builds run again. A
    cancelled build raises KeyboardInterrupt where it was called (`check_cancelled`)."""
    if cancel:
        _CANCEL.set()
    else:
        _CANCEL.clear()


def builds_cancelled() -> bool:
    return _CANCEL.is_set()


def check_cancelled(symbol: str) -> None:
    """KeyboardInterrupt when builds were cancelled: a build that TensorRT stopped for us ends as
    the interrupt it is, not as a failed conversion."""
    if _CANCEL.is_set():
        raise KeyboardInterrupt(f"the TensorRT engine build of {symbol} was cancelled")


def monitor_for(trt, symbol: str):
    """An IProgressMonitor feeding the reporter (if any) and cancelling on `cancel_builds`."""
    if not hasattr(trt, "IProgressMonitor"):
        return None
    listener = _REPORTER

    class Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self.top, self.steps, self.phase, self.broken, self.fraction = None, 1, "", False, 0.0

        def tell(self, fraction: float, phase: str) -> None:
            """A reporter that fails (its stream closed, say) must not fail or cancel the build
            it watches: its error is logged once and it hears nothing more of this build."""
            if self.broken or listener is None:
                return
            try:
                listener(symbol, fraction, phase)
            except Exception as err:  # noqa: BLE001 (anyone's reporter)
                self.broken = True
                logger.warning("%s: the build progress reporter failed (%s: %s); the build goes on without it",
                               symbol, type(err).__name__, err)

        def phase_start(self, phase_name, parent_phase, num_steps):
            if parent_phase is None:
                self.top, self.steps = phase_name, max(int(num_steps), 1)
                self.tell(0.0, phase_name)
            else:
                self.phase = phase_name

        def step_complete(self, phase_name, step):
            if _CANCEL.is_set():
                return False  # TensorRT stops the build; a reporter's failure never does
            if phase_name == self.top:
                self.fraction = min((int(step) + 1) / self.steps, 1.0)
                self.tell(self.fraction, self.phase or phase_name)
            return True

        def phase_finish(self, phase_name):
            if phase_name == self.top:
                self.tell(*((self.fraction, "cancelled") if _CANCEL.is_set() else (1.0, "done")))

    return Monitor()


class TerminalBar:
    """A reporter: one redrawn bar per engine on a terminal, a line per phase change elsewhere."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last: dict = {}
        self.started: dict = {}

    def __call__(self, symbol: str, fraction: float, phase: str) -> None:
        self.started.setdefault(symbol, time.perf_counter())
        elapsed = time.perf_counter() - self.started[symbol]
        if self.tty:
            filled = int(round(fraction * self.width))
            line = (f"\r{symbol} [{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% "
                    f"{elapsed:5.1f} s {phase[:40]:40s}")
            self.stream.write(line + ("\n" if phase in ("done", "cancelled") else ""))
        elif self.last.get(symbol) != phase:
            self.stream.write(f"{symbol}: building TensorRT engine: {phase} ({fraction * 100:.0f}%, {elapsed:.1f} s)\n")
        self.last[symbol] = phase
        self.stream.flush()
