"""The one registry mechanism behind the rule registry (partition/registry.py) and the converter
registry (converters/base.py): two registries, keyed the same way, by the Relax operator name
without "relax." (`nn.conv2d`), so a rule and its converter always meet under one key."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional

from .errors import RegistryError

RELAX_PREFIX = "relax."


class Registry:
    """op name -> entry for one kind of plugin. Registering a taken name needs override=True, so a
    plugin never replaces a built-in by accident; `restored()` undoes a test's registrations."""

    def __init__(self, kind: str):
        self.kind = kind  # "rule" or "converter": what the errors call an entry
        self._entries: dict[str, Any] = {}
        self._lock = threading.Lock()

    def check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} is registered under an operator name such as 'nn.conv2d', got {name!r}")
        if name.startswith(RELAX_PREFIX):
            raise RegistryError(f"register {self.kind}s by the name without 'relax.': use {name[len(RELAX_PREFIX):]!r}")

    def add(self, name: str, entry: Any, override: bool = False) -> None:
        self.check_name(name)
        with self._lock:
            if name in self._entries and not override:
                raise RegistryError(f"a {self.kind} for {name!r} is already registered; pass override=True to replace it")
            self._entries[name] = entry

    def remove(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def get(self, name: str) -> Optional[Any]:
        return self._entries.get(name)

    def names(self) -> list[str]:
        return sorted(self._entries)

    @contextlib.contextmanager
    def restored(self) -> Iterator["Registry"]:
        """Whatever is registered or removed inside the block is undone when it ends."""
        with self._lock:
            saved = dict(self._entries)
        try:
            yield self
        finally:
            with self._lock:
                self._entries = saved
