"""Engine options: what an engine is built with besides its network (precision, workspace,
builder optimization level, auxiliary streams), which engines a subgraph keeps (multi_engine)
and where they are cached (cache_dir).

Each is an argument of `build`, `load` and `verify` (and a CLI flag). For an option not given
as an argument, a library's own choice at `build` comes first, then the TVM_TENSORRT_* variable
the original integration documents, then the partition config, then the default. Variables are
read once, at the edge (when build/load/verify is called, or when a library loaded with plain
TVM first runs a subgraph), never per plan lookup: a `Request` holds what was asked then, and
`Request.options_for(config)` turns it into the `EngineOptions` one subgraph's engines use.
A malformed value is a ConfigError naming the argument, or the variable when it came from there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from tvm_tensorrt.common import DEFAULT_WORKSPACE_SIZE
from tvm_tensorrt.errors import ConfigError

USE_FP16 = "TVM_TENSORRT_USE_FP16"
PRECISION = "TVM_TENSORRT_PRECISION"
CACHE_DIR = "TVM_TENSORRT_CACHE_DIR"
MAX_WORKSPACE_SIZE = "TVM_TENSORRT_MAX_WORKSPACE_SIZE"
MULTI_ENGINE = "TVM_TENSORRT_MULTI_ENGINE"
OPTIMIZATION_LEVEL = "TVM_TENSORRT_BUILDER_OPTIMIZATION_LEVEL"
MAX_AUX_STREAMS = "TVM_TENSORRT_MAX_AUX_STREAMS"

PRECISIONS = ("fp32", "fp16", "bf16")  # the float type the network computes in

# argument name -> its variable. What `build` takes is stored in the library (LIBRARY_KEY of the
# partition config every blob carries); the cache folder belongs to the machine that loads.
VARIABLES = {"precision": PRECISION, "max_workspace_size": MAX_WORKSPACE_SIZE,
             "builder_optimization_level": OPTIMIZATION_LEVEL, "max_aux_streams": MAX_AUX_STREAMS,
             "multi_engine": MULTI_ENGINE, "cache_dir": CACHE_DIR}
BUILD_OPTIONS = ("precision", "max_workspace_size", "builder_optimization_level", "max_aux_streams", "multi_engine")
LOAD_OPTIONS = BUILD_OPTIONS + ("cache_dir",)
LIBRARY_KEY = "engine_options"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_LEVELS = (0, 5, "TensorRT's builder optimization level")
_STREAMS = (0, 64, "auxiliary CUDA streams an engine may use")


def _precision(value, name: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text == "int8":
        raise ConfigError(f"{name}=int8: INT8 engines come from quantized (QDQ) models, whose quantize layers "
                          "say where INT8 applies (docs/partitioning.md); use fp32, fp16 or bf16 for the rest")
    if text not in PRECISIONS:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(PRECISIONS)}")
    return text


def _whole(value, name: str, low: int, high: int, meaning: str) -> int:
    number = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        raise ConfigError(f"{name}={value!r} must be a whole number from {low} to {high} ({meaning})")
    return number


def _bytes(value, name: str) -> int:
    return _whole(value, name, 1, 1 << 62, f"bytes, e.g. {name}={DEFAULT_WORKSPACE_SIZE}")


def _flag(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a flag; use " + ("True or False" if name == "multi_engine" else "1 or 0"))


def _folder(value, name: str) -> str:
    try:
        path = os.fspath(value)
    except TypeError:
        path = None
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{name}={value!r} is not a folder path; give the folder engines are cached in")
    return path


_CHECKS = {"precision": _precision, "max_workspace_size": _bytes,
           "builder_optimization_level": lambda v, n: _whole(v, n, *_LEVELS),
           "max_aux_streams": lambda v, n: _whole(v, n, *_STREAMS), "multi_engine": _flag, "cache_dir": _folder}


def check_arguments(allowed=LOAD_OPTIONS, **arguments) -> dict:
    """The arguments given (None: not given), checked and in canonical form."""
    checked = {}
    for name, value in arguments.items():
        if name not in allowed:
            raise ConfigError(f"{name} is not an engine option here; the options are {', '.join(allowed)}")
        if value is not None:
            checked[name] = _CHECKS[name](value, name)
    return checked


def _environment_precision() -> Optional[str]:
    raw = os.environ.get(PRECISION, "").strip()
    half = _flag(os.environ.get(USE_FP16, ""), USE_FP16)
    if not raw:
        return "fp16" if half else None
    precision = _precision(raw, PRECISION)
    if half and precision != "fp16":
        raise ConfigError(f"{USE_FP16}=1 and {PRECISION}={precision} disagree; set only {PRECISION}")
    return precision


def read_environment(skip=()) -> dict:
    """The TVM_TENSORRT_* variables set now, checked, by argument name (those in `skip` unread)."""
    found: dict = {}
    for name, variable in VARIABLES.items():
        if name in skip:
            continue
        value: object
        if name == "precision":
            value = _environment_precision()
        else:
            raw = os.environ.get(variable, "").strip()
            value = _CHECKS[name](raw, variable) if raw else None
        if value is not None:
            found[name] = value
    return found


def requested_precision() -> str:
    """The precision the environment asks engines to compute in (TVM_TENSORRT_PRECISION)."""
    return _environment_precision() or "fp32"


@dataclass(frozen=True)
class EngineOptions:
    """Every field changes the engine or which engines are kept: the runtime keeps plans per
    (options, shapes), so the same subgraph loaded with fp32 and with fp16 has two engines."""

    precision: str = "fp32"  # fp32, fp16 or bf16
    max_workspace_size: int = DEFAULT_WORKSPACE_SIZE
    cache_dir: Optional[str] = None
    multi_engine: bool = False
    builder_optimization_level: Optional[int] = None  # the builder's default when None
    max_aux_streams: Optional[int] = None  # the builder's default when None
    cache_dir_from: str = field(default=CACHE_DIR, compare=False)  # what to name when the folder is unusable

    @property
    def optimization_level(self) -> Optional[int]:
        return self.builder_optimization_level

    def builder_settings(self) -> dict:
        """What changes the engine besides the network: in the engine key and the plan's meta."""
        return {"precision": self.precision, "max_workspace_size": self.max_workspace_size,
                "builder_optimization_level": self.builder_optimization_level, "max_aux_streams": self.max_aux_streams}

    @classmethod
    def resolve(cls, config: dict, **arguments) -> "EngineOptions":
        """The options for engines of a subgraph with this partition config, arguments (None:
        not given) over the library's choices over the environment read now."""
        return Request.capture(**arguments).options_for(config)


@dataclass(frozen=True)
class Request:
    """What was asked for at an edge: the arguments given, and the variables as they were then."""

    arguments: tuple = ()  # ((name, value), ...) sorted
    environment: tuple = ()

    @classmethod
    def capture(cls, allowed=LOAD_OPTIONS, **arguments) -> "Request":
        given = check_arguments(allowed, **arguments)
        return cls(tuple(sorted(given.items())), tuple(sorted(read_environment(skip=given).items())))

    def options_for(self, config: dict) -> EngineOptions:
        chosen = {"max_workspace_size": int(config.get("max_workspace_size") or DEFAULT_WORKSPACE_SIZE),
                  **dict(self.environment), **(config.get(LIBRARY_KEY) or {}), **dict(self.arguments)}
        given = dict(self.arguments)
        source = "cache_dir" if "cache_dir" in given else CACHE_DIR
        return EngineOptions(**{k: v for k, v in chosen.items() if k in LOAD_OPTIONS}, cache_dir_from=source)


def library_options(config: dict, **arguments) -> dict:
    """`config` with build()'s engine options (None: not given) recorded in it, so a library
    loads with them by default; checked here, so a bad one fails before anything is compiled."""
    given = check_arguments(BUILD_OPTIONS, **arguments)
    return {**config, LIBRARY_KEY: {**(config.get(LIBRARY_KEY) or {}), **given}} if given else config


def engine_options(config: dict, precision: Optional[str] = None, **arguments) -> EngineOptions:
    """The options in force now for a subgraph with this partition config (arguments as
    EngineOptions.resolve); the environment is read on each call, so call it at an edge."""
    return EngineOptions.resolve(config, precision=precision, **arguments)
