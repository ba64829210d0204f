"""Converters: Relax op (as serialised) -> TensorRT layers. Importing registers the built-ins."""

from . import activation, conv, elementwise, linear, norm, pool, reduce, shape, unary  # noqa: F401
from .base import (ConverterInput, ConverterParams, TensorRTOpConverter, get_converter, register_converter,
                   registered_converter_names, unregister_converter)

__all__ = ["ConverterInput", "ConverterParams", "TensorRTOpConverter", "get_converter", "register_converter",
           "registered_converter_names", "unregister_converter"]
