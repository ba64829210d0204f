"""Typed errors, so callers can tell a model we cannot offload from a bug in their environment."""


class TensorRTError(Exception):
    """Base of every error tvm_tensorrt raises on purpose."""


class ConfigError(TensorRTError, ValueError):
    """A malformed option or environment variable; the message names it and the accepted form."""


class BackendUnavailableError(TensorRTError, RuntimeError):
    """No TensorRT (full or RTX) could be imported; the message says what to install, or, with
    `broken` set, which installed package failed to load and why."""

    def __init__(self, message="", *, broken: bool = False):
        super().__init__(message)
        self.broken = broken


class RegistryError(TensorRTError, KeyError):
    """A rule or converter registered twice without override=True, or looked up but missing."""

    def __str__(self):  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ConversionError(TensorRTError, RuntimeError):
    """A subgraph could not be turned into a TensorRT network or engine.

    Carries the subgraph symbol and op so a user knows which call to exclude or report.
    """

    def __init__(self, message, *, symbol=None, op_name=None, fused: int = 0):
        where = " ".join(p for p in (f"subgraph {symbol}" if symbol else "", f"op {op_name}" if op_name else "") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.symbol = symbol
        self.op_name = op_name
        self.fused = fused  # an engine build that failed with this many fused layers (converters/patterns.py)


class SubgraphFormatError(TensorRTError, ValueError):
    """A serialised subgraph blob is damaged or written by an incompatible version."""


class InputError(TensorRTError, ValueError):
    """A model was called with the wrong number of inputs, or an input of the wrong shape or
    dtype; the message names the input, what it takes and what it was given."""


class CorruptLibraryError(TensorRTError, RuntimeError):
    """A compiled library file is damaged (cut short by a copy, or written short by TVM's object
    writer): refused before TVM's loader reads past its end and the process dies of a signal."""


class ModelImportError(TensorRTError, ValueError):
    """A model TVM's ONNX importer cannot bring into Relax. Names the ONNX node and its op where
    one is to blame, so a user knows what to change in the export, and never carries TVM's
    traceback."""


class LibraryTooLargeError(TensorRTError, ValueError):
    """A model's constants are more than TVM can embed in one library; refused before compiling."""


class WeightsFileError(TensorRTError, RuntimeError):
    """A library built with external weights cannot use its `.weights` file: missing, from another
    build, cut short or damaged. Says which file and what to copy or rebuild."""


class DeviceUnavailableError(TensorRTError, RuntimeError):
    """The device asked for (load(device="cuda")) does not exist here, or this TVM was built
    without it; the message names the device and what runs instead."""


def _register_with_tvm_ffi() -> None:
    """Let our errors keep their type when raised inside a packed function (engine build, cache)
    and seen by the caller of a Relax VM function; otherwise they arrive as plain RuntimeError."""
    try:
        import tvm_ffi
    except ImportError:  # pragma: no cover - tvm always brings tvm_ffi
        return
    for cls in (TensorRTError, ConfigError, BackendUnavailableError, RegistryError, ConversionError,
                SubgraphFormatError, InputError, CorruptLibraryError, LibraryTooLargeError, DeviceUnavailableError,
                WeightsFileError):
        try:
            tvm_ffi.register_error(cls.__name__, cls)
        except Exception:  # pragma: no cover - a name already taken keeps its first class
            pass


_register_with_tvm_ffi()
