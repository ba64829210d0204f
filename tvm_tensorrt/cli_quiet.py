"""TVM's own warnings kept out of the CLI's output ("Warning: BlockBuilder destroyed with
remaining blocks!", "Unknown pragma", "Fast mode segfaults when there are out-of-bounds
indices"): they say nothing a user can act on, and TVM's C++ logging writes them straight to file
descriptor 2, which no Python setting reaches. So, while the CLI works (without -v), fd 2 is a
pipe and a thread passes on everything else as it comes: partial lines too (a progress bar's
redraws), except one that may be the start of a TVM log line, held until its end.
"""

from __future__ import annotations

import gc
import os
import re
import sys
import threading

TVM_WARNING = re.compile(rb"^\[\d\d:\d\d:\d\d\] \S+:\d+: Warning: ")


class TvmWarningsFiltered:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.saved = None
        self.thread = None

    def __enter__(self):
        if not self.enabled:
            return self
        sys.stderr.flush()
        self.saved = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self.thread = threading.Thread(target=self._pump, args=(read_end,), name="tvm-tensorrt-stderr", daemon=True)
        self.thread.start()
        return self

    def _pump(self, read_end: int) -> None:
        pending = b""
        try:
            while True:
                data = os.read(read_end, 1 << 16)
                if not data:
                    break
                *lines, pending = (pending + data).split(b"\n")
                out = b"".join(line + b"\n" for line in lines if not TVM_WARNING.match(line))
                if pending and not pending.startswith(b"["):  # cannot be TVM's: on at once
                    out, pending = out + pending, b""
                if out:
                    os.write(self.saved, out)
            if pending:
                os.write(self.saved, pending)
        finally:
            os.close(read_end)

    def __exit__(self, *exc) -> None:
        if self.saved is None:
            return
        gc.collect()  # TVM objects left for the collector (a failed import's) warn as they go: here
        sys.stderr.flush()
        os.dup2(self.saved, 2)  # the pipe's last writer closed: the thread reads to the end
        self.thread.join(timeout=5)
        if not self.thread.is_alive():  # else a child process still holds the pipe: leave the thread its fd
            os.close(self.saved)
        self.saved = None
