"""Content-addressed engine cache: `<dir>/<key>.plan` + `<dir>/<key>.meta`.

The key hashes everything that changes an engine (the subgraph with its weights, input shapes or
batch profile, precision, workspace, TensorRT flavour and version, target GPU), so models and
processes can share one directory and a changed model never loads a stale engine (the original
integration keyed by subgraph name and precision only). Writes go to a temporary file and are
renamed into place, plan first and meta last, so a reader sees a complete entry or none; a lock
file per key makes concurrent builders of the same engine build it once. A damaged or
mismatched entry is rebuilt with a warning, never loaded.

Trust: a plan is native code TensorRT deserializes, so an entry is loaded only when its meta
names its key and the plan's SHA-256 recorded at write time matches, and when neither file is a
symbolic link, belongs to another user (root excepted: a cache shipped in an image), or is
writable by others. Entries are written owner-only (0600) in a folder created owner-only (0700).
docs/reliability.md has the whole trust model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import time
from typing import Optional

from tvm_tensorrt.errors import ConfigError
from tvm_tensorrt.file_writes import write_atomically

logger = logging.getLogger("tvm_tensorrt")

CACHE_FORMAT = 1

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]


def engine_key(fields: dict) -> str:
    text = json.dumps({"cache_format": CACHE_FORMAT, **fields}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class EngineCache:
    def __init__(self, directory: str, name: str = "TVM_TENSORRT_CACHE_DIR"):
        """name: what the user set the folder with (the variable, or load's cache_dir argument)."""
        self.directory = directory
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"{name}={directory!r} cannot be created: {err.strerror}") from err
        if not os.access(directory, os.R_OK | os.X_OK):
            raise ConfigError(f"{name}={directory!r} is not readable by this process")
        # a read-only cache (say, one shipped with the application) still serves its engines
        self.writable = os.access(directory, os.W_OK)
        if not self.writable:
            logger.warning("%s=%s is read-only: engines are loaded from it but not added", name, directory)

    def plan_path(self, key: str) -> str:
        return os.path.join(self.directory, key + ".plan")

    def meta_path(self, key: str) -> str:
        return os.path.join(self.directory, key + ".meta")

    def load(self, key: str) -> Optional[bytes]:
        """The cached plan, or None when absent; a damaged entry warns and reads as absent."""
        meta_path, plan_path = self.meta_path(key), self.plan_path(key)
        if not os.path.lexists(meta_path):
            return None
        distrust = _untrusted(meta_path) or _untrusted(plan_path)
        if distrust:
            logger.warning("Ignoring TensorRT cache entry %s: %s; rebuilding (plans are code: see docs/reliability.md)",
                           plan_path, distrust)
            return None
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            with open(plan_path, "rb") as f:
                plan = f.read()
        except (OSError, ValueError) as err:
            logger.warning("Ignoring damaged TensorRT cache entry %s (%s); rebuilding", meta_path, err)
            return None
        problem = None
        if not isinstance(meta, dict):
            problem = "its meta is not a JSON object"
        elif meta.get("key") != key:
            problem = f"its meta names key {meta.get('key')!r}"
        elif meta.get("plan_bytes") != len(plan) or meta.get("plan_sha256") != hashlib.sha256(plan).hexdigest():
            problem = "its plan does not match the size and hash its meta records (truncated or altered)"
        if problem:
            logger.warning("Ignoring TensorRT cache entry %s: %s; rebuilding", plan_path, problem)
            return None
        return plan

    def store(self, key: str, plan: bytes, meta: dict) -> None:
        meta = {**meta, "key": key, "plan_bytes": len(plan), "plan_sha256": hashlib.sha256(plan).hexdigest(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = self.plan_path(key)
        if not self.writable:
            return
        try:
            write_atomically(path, plan, private=True)
            write_atomically(self.meta_path(key), json.dumps(meta, indent=2, sort_keys=True).encode(), private=True)
        except OSError as err:
            logger.warning("Could not write the TensorRT cache entry %s (%s); the engine is kept in memory only",
                           path, err.strerror)
            return
        logger.info("Caching TensorRT engine to %s", path)

    @contextlib.contextmanager
    def lock(self, key: str):
        """Exclusive per-key lock, so two processes building one engine build it once."""
        if fcntl is None or not self.writable:
            yield
            return
        path = os.path.join(self.directory, key + ".lock")
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _untrusted(path: str) -> Optional[str]:
    """Why a cache file must not be read, or None. lstat: a symbolic link is judged itself."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None  # absent: the reader reports the entry as damaged
    if stat.S_ISLNK(info.st_mode):
        return f"{os.path.basename(path)} is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return f"{os.path.basename(path)} is not a regular file"
    if info.st_uid not in (os.getuid(), 0):
        return f"{os.path.basename(path)} belongs to another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{os.path.basename(path)} is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


_OPEN: dict = {}


def open_cache(directory: Optional[str], name: str = "TVM_TENSORRT_CACHE_DIR") -> Optional[EngineCache]:
    """The cache in `directory` (cache_dir, or TVM_TENSORRT_CACHE_DIR), or None when unset. An
    unusable directory is a ConfigError naming `name` (the user asked for caching; silently
    skipping it would make every cold start slow with no explanation)."""
    if not directory:
        return None
    cache = _OPEN.get(directory)
    if cache is None or not os.path.isdir(directory):
        cache = _OPEN[directory] = EngineCache(directory, name)
    return cache


__all__ = ["EngineCache", "engine_key", "open_cache"]
