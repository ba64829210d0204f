"""TVM_TENSORRT_* environment variables, read when an engine is built or loaded.

Read at that moment (not at import) so a process can change them between models; a malformed
value is a ConfigError naming the variable and the accepted form, never a silent default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ..common import DEFAULT_WORKSPACE_SIZE
from ..errors import ConfigError

USE_FP16 = "TVM_TENSORRT_USE_FP16"
CACHE_DIR = "TVM_TENSORRT_CACHE_DIR"
MAX_WORKSPACE_SIZE = "TVM_TENSORRT_MAX_WORKSPACE_SIZE"
MULTI_ENGINE = "TVM_TENSORRT_MULTI_ENGINE"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={os.environ[name]!r} is not a flag; use 1 or 0")


def _bytes(name: str) -> Optional[int]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number of bytes, e.g. {name}={DEFAULT_WORKSPACE_SIZE}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number of bytes")
    return value


@dataclass(frozen=True)
class EngineOptions:
    use_fp16: bool
    max_workspace_size: int
    cache_dir: Optional[str]
    multi_engine: bool

    @property
    def precision(self) -> str:
        return "fp16" if self.use_fp16 else "fp32"


def engine_options(config: dict) -> EngineOptions:
    """The options in force now: environment variables over the partition config."""
    workspace = _bytes(MAX_WORKSPACE_SIZE) or int(config.get("max_workspace_size", DEFAULT_WORKSPACE_SIZE))
    return EngineOptions(use_fp16=_flag(USE_FP16), max_workspace_size=workspace,
                         cache_dir=os.environ.get(CACHE_DIR) or None, multi_engine=_flag(MULTI_ENGINE))
