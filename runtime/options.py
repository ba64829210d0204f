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
PRECISION = "TVM_TENSORRT_PRECISION"
CACHE_DIR = "TVM_TENSORRT_CACHE_DIR"
MAX_WORKSPACE_SIZE = "TVM_TENSORRT_MAX_WORKSPACE_SIZE"
MULTI_ENGINE = "TVM_TENSORRT_MULTI_ENGINE"
OPTIMIZATION_LEVEL = "TVM_TENSORRT_BUILDER_OPTIMIZATION_LEVEL"
MAX_AUX_STREAMS = "TVM_TENSORRT_MAX_AUX_STREAMS"

PRECISIONS = ("fp32", "fp16", "bf16")  # the float type the network computes in

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={os.environ[name]!r} is not a flag; use 1 or 0")


def _whole(name: str, low: int, high: int, meaning: str) -> Optional[int]:
    """A whole-number variable in [low, high], or None when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} must be a whole number from {low} to {high} ({meaning})")
    return value


def _bytes(name: str) -> Optional[int]:
    return _whole(name, 1, 1 << 62, f"bytes, e.g. {name}={DEFAULT_WORKSPACE_SIZE}")


def requested_precision() -> str:
    """The precision the environment asks engines to compute in (TVM_TENSORRT_PRECISION)."""
    raw = os.environ.get(PRECISION, "").strip().lower()
    half = _flag(USE_FP16)
    if not raw:
        return "fp16" if half else "fp32"
    if raw == "int8":
        raise ConfigError(f"{PRECISION}=int8: INT8 engines come from quantized (QDQ) models, whose quantize layers "
                          "say where INT8 applies (docs/partitioning.md); set fp32, fp16 or bf16 for the rest")
    if raw not in PRECISIONS:
        raise ConfigError(f"{PRECISION}={raw!r} is not one of {', '.join(PRECISIONS)}")
    if half and raw != "fp16":
        raise ConfigError(f"{USE_FP16}=1 and {PRECISION}={raw} disagree; set only {PRECISION}")
    return raw


@dataclass(frozen=True)
class EngineOptions:
    precision: str  # fp32, fp16 or bf16
    max_workspace_size: int
    cache_dir: Optional[str]
    multi_engine: bool
    optimization_level: Optional[int] = None  # the builder's default when None
    max_aux_streams: Optional[int] = None  # the builder's default when None

    def builder_settings(self) -> dict:
        """What changes the engine besides the network: in the engine key and the plan's meta."""
        return {"precision": self.precision, "max_workspace_size": self.max_workspace_size,
                "builder_optimization_level": self.optimization_level, "max_aux_streams": self.max_aux_streams}


def engine_options(config: dict) -> EngineOptions:
    """The options in force now: environment variables over the partition config."""
    workspace = _bytes(MAX_WORKSPACE_SIZE) or int(config.get("max_workspace_size", DEFAULT_WORKSPACE_SIZE))
    return EngineOptions(precision=requested_precision(), max_workspace_size=workspace,
                         cache_dir=os.environ.get(CACHE_DIR) or None, multi_engine=_flag(MULTI_ENGINE),
                         optimization_level=_whole(OPTIMIZATION_LEVEL, 0, 5, "TensorRT's builder optimization level"),
                         max_aux_streams=_whole(MAX_AUX_STREAMS, 0, 64, "auxiliary CUDA streams an engine may use"))
