"""A lock that the garbage collector never waits for.

A LoadedModel closed by the collector (its __del__) releases engines and weights that a lock
guards. The collector can run inside any region, one holding that very lock in the same thread
included: waiting there deadlocks (seen hanging a test run). So a release that must not wait
queues its work, and whoever holds the lock does it as it leaves its region. Appending to a deque
needs no lock, and the holder's loop also takes work queued while it runs.
"""

from __future__ import annotations

import collections
import threading
from typing import Callable


class CollectorSafeLock:
    def __init__(self, finish: Callable) -> None:
        self._lock = threading.Lock()
        self.pending: collections.deque = collections.deque()
        self._finish = finish  # does one queued item's work, with the lock held

    def __enter__(self):
        """The lock, for a region that reads what it guards: queued work is done first and last.
        A plain class, not a generator: a RunCodegen library's every call takes it."""
        self._lock.acquire()
        try:
            self._finish_pending()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._finish_pending()
        finally:
            self._lock.release()

    def held(self) -> "CollectorSafeLock":
        return self

    def put(self, item, wait: bool = True) -> None:
        """Queue `item`'s work and do it now if the lock is free. wait=False (the collector) never
        blocks: a held lock's holder does it on leaving."""
        self.pending.append(item)
        if wait:
            with self:
                pass
        elif self._lock.acquire(blocking=False):
            try:
                self._finish_pending()
            finally:
                self._lock.release()

    def _finish_pending(self) -> None:
        while self.pending:
            self._finish(self.pending.popleft())
