"""Converters: Relax op (as serialised) -> TensorRT layers. Importing registers the built-ins."""

from . import (activation, cast, conv, dropout, elementwise, gather, linear, norm, pool, quantize, reduce,  # noqa: F401
               resize, scan, select, shape, sizes, unary)
from . import fused_attention, fused_norm, fused_rotary  # noqa: F401  (fused patterns: registers them)
from . import fused_gelu, fused_linear  # noqa: F401  (the GELU and flattened-linear patterns)
from .base import (ConverterInput, ConverterParams, TensorRTOpConverter, get_converter, register_converter,
                   registered_converter_names, unregister_converter)

__all__ = ["ConverterInput", "ConverterParams", "TensorRTOpConverter", "get_converter", "register_converter",
           "registered_converter_names", "unregister_converter"]
