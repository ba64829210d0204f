"""The converter plugin API: a TensorRTOpConverter per op, registered under the rule's key.

A converter sees plain data (numpy weights, JSON attrs) and TensorRT objects, never Relax: the
runtime rebuilds networks from the serialised subgraph inside an exported library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from tvm_tensorrt.errors import RegistryError
from tvm_tensorrt.registry import Registry
from .weight_record import KeptArrays

INPUT_KINDS = ("tensor", "weight")


class ConverterInput:
    """One input: `.tensor` (an ITensor) when it is a network value, `.weight` (numpy) when it is
    a constant. `shape`/`dtype` are always set; `shape` has -1 for a symbolic dimension, and
    `dims` then says what it is (formats.dims).

    A constant given to a "tensor" input has both: its `.tensor` (a constant layer) is made on
    first use, so a converter that can use the array itself (reshaped to broadcast, folded into
    a layer's weights) adds no layer for it."""

    def __init__(self, shape: tuple, dtype: str, tensor: Any = None, weight: Optional[np.ndarray] = None,
                 dims: Optional[list] = None, materialize: Optional[Callable] = None):
        self.shape, self.dtype, self.weight, self.dims = shape, dtype, weight, dims
        self._tensor, self._materialize = tensor, materialize

    @property
    def tensor(self):
        if self._tensor is None and self._materialize is not None:
            self._tensor = self._materialize()
        return self._tensor


@dataclass
class ConverterParams:
    network: Any  # INetworkDefinition
    trt: Any  # the TensorRT module in use (tensorrt or tensorrt_rtx_bindings)
    inputs: list
    attrs: dict
    op_name: str
    layer_name: str
    output_shapes: list = field(default_factory=list)
    output_dtypes: list = field(default_factory=list)
    keep_alive: list = field(default_factory=list)  # numpy arrays TensorRT points into until the build
    compute_dtype: str = "float32"  # "float16" when the engine computes in half precision
    output_dims: list = field(default_factory=list)  # per output: its dims (formats.dims data)
    shape_var: Any = None  # name -> 1-element INT64 ITensor holding that shape variable at run time
    bias: Optional[np.ndarray] = None  # a per-channel bias the builder folded into this op (fusion.py)
    shared: dict = field(default_factory=dict)  # one network's values converters derive once and share (rotary caches)

    def weights(self, array: np.ndarray):
        """trt.Weights over `array` in the compute precision (networks are strongly typed, so
        FP16 engines need FP16 weights), kept alive until the build (TensorRT does not copy)."""
        return trt_weights(self.trt, as_compute_dtype(array, self.compute_dtype), self.keep_alive)

    def constant(self, array: np.ndarray):
        """A network tensor holding `array`."""
        array = np.asarray(array, order="C")
        layer = self.network.add_constant(tuple(array.shape), self.weights(array))
        return layer.get_output(0)


def trt_weights(trt, array: np.ndarray, keep_alive: list):
    """trt.Weights over `array`, kept alive until the build (TensorRT does not copy). The
    bindings convert the numpy dtypes they know; bfloat16 (ml_dtypes) goes by pointer."""
    array = np.asarray(array, order="C")
    keep_alive.append(array)
    if array.dtype.name == "bfloat16":
        weights = trt.Weights(trt.bfloat16, array.ctypes.data, array.size)
        if isinstance(keep_alive, KeptArrays):  # the bindings never give BF16 weights back: the evaluator reads these
            keep_alive.opaque[id(weights)] = (weights, array)
        return weights
    return trt.Weights(array)


FP16_MAX = float(np.finfo(np.float16).max)


def as_compute_dtype(array: np.ndarray, compute_dtype: str) -> np.ndarray:
    """Float weights in the engine's float dtype. Finite values beyond float16's range are
    clamped to its largest finite value, as TensorRT does with FP16 weights: attention masks add
    float32's minimum, which would otherwise turn into -inf and make fully masked rows NaN."""
    if np.issubdtype(array.dtype, np.floating) and array.dtype != np.dtype(compute_dtype):
        if compute_dtype == "float16":
            array = np.where(np.isfinite(array), np.clip(array, -FP16_MAX, FP16_MAX), array)
        return array.astype(compute_dtype)
    return array


class TensorRTOpConverter:
    """Subclass, set `input_types`, implement `convert(params) -> list of ITensor`.

    input_types: one entry per input, "tensor" or "weight" ("weight" inputs must be constants:
    the rule has to check that). With variable_input_count=True every input takes input_types[0].
    """

    input_types: tuple = ("tensor",)
    variable_input_count: bool = False

    def input_kind(self, index: int) -> str:
        if self.variable_input_count:
            return self.input_types[0]
        return self.input_types[index] if index < len(self.input_types) else "tensor"

    def convert(self, params: ConverterParams) -> list:
        raise NotImplementedError(f"{type(self).__name__}.convert")


CONVERTERS = Registry("converter")


def register_converter(op_name: str, override: bool = False):
    """Class decorator registering a TensorRTOpConverter subclass for `op_name`."""
    CONVERTERS.check_name(op_name)

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, TensorRTOpConverter)):
            raise RegistryError(f"register_converter({op_name!r}) takes a TensorRTOpConverter subclass, got {cls!r}")
        bad = [k for k in cls.input_types if k not in INPUT_KINDS]
        if bad:
            raise RegistryError(f"{cls.__name__}.input_types has {bad}; each entry is 'tensor' or 'weight'")
        CONVERTERS.add(op_name, cls(), override)
        return cls

    return decorate


def unregister_converter(op_name: str) -> None:
    CONVERTERS.remove(op_name)


def get_converter(op_name: str) -> Optional[TensorRTOpConverter]:
    return CONVERTERS.get(op_name)


def registered_converter_names() -> list[str]:
    return CONVERTERS.names()
