"""Elementwise layers: activation, parametric ReLU, binary elementwise, unary, select, scale."""

from __future__ import annotations

import math

import numpy as np

from .core import _LayerFailure, _enum_name, _handler, _is_float, _unsupported


def _trunc_divide(a, b):
    q = np.floor_divide(a, b)
    fix = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return q + fix.astype(q.dtype)


def _erf(x):
    return np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(np.float64)


_ACTIVATIONS = {
    "RELU": lambda x, a, b: np.maximum(x, 0),
    "SIGMOID": lambda x, a, b: 0.5 * (np.tanh(0.5 * x) + 1),
    "TANH": lambda x, a, b: np.tanh(x),
    "LEAKY_RELU": lambda x, a, b: np.where(x >= 0, x, a * x),
    "ELU": lambda x, a, b: np.where(x >= 0, x, a * np.expm1(x)),
    "SELU": lambda x, a, b: b * np.where(x >= 0, x, a * np.expm1(x)),
    "SOFTSIGN": lambda x, a, b: x / (1 + np.abs(x)),
    "SOFTPLUS": lambda x, a, b: a * np.logaddexp(0, b * x),
    "CLIP": lambda x, a, b: np.minimum(np.maximum(x, a), b),
    "HARD_SIGMOID": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "SCALED_TANH": lambda x, a, b: a * np.tanh(b * x),
    "THRESHOLDED_RELU": lambda x, a, b: np.where(x > a, x, 0),
    "GELU_ERF": lambda x, a, b: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    "GELU_TANH": lambda x, a, b: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
}


@_handler("ACTIVATION")
def _activation(ev, layer, ins, dtypes):
    kind = _enum_name(layer.type)  # IActivationLayer.type is the ActivationType
    if kind not in _ACTIVATIONS:
        raise _unsupported(f"activation {kind}")
    x = ins[0]
    if not _is_float(x.dtype):
        raise _unsupported(f"activation on {x.dtype}")
    xf = x.astype(np.float64)
    return [_ACTIVATIONS[kind](xf, float(layer.alpha), float(layer.beta)).astype(dtypes[0])]


@_handler("PARAMETRIC_RELU")
def _prelu(ev, layer, ins, dtypes):
    x, slope = ins
    if x.ndim != slope.ndim:
        raise _LayerFailure(f"input rank {x.ndim} and slope rank {slope.ndim} differ")
    return [np.where(x >= 0, x, x * slope)]


def _elementwise_op(op, a, b):
    ints = a.dtype.kind in "iu"
    if op == "SUM":
        return a + b
    if op == "PROD":
        return a * b
    if op == "MAX":
        return np.maximum(a, b)
    if op == "MIN":
        return np.minimum(a, b)
    if op == "SUB":
        return a - b
    if op == "DIV":
        return _trunc_divide(a, b) if ints else a / b
    if op == "POW":
        return np.power(a, b)
    if op == "FLOOR_DIV":
        return np.floor_divide(a, b) if ints else np.floor(a / b)
    if op in ("AND", "OR", "XOR"):
        if a.dtype.kind != "b" or b.dtype.kind != "b":
            raise _LayerFailure(f"{op} needs BOOL inputs, got {a.dtype} and {b.dtype}")
        return {"AND": np.logical_and, "OR": np.logical_or, "XOR": np.logical_xor}[op](a, b)
    if op == "EQUAL":
        return a == b
    if op == "GREATER":
        return a > b
    if op == "LESS":
        return a < b
    raise _unsupported(f"elementwise operation {op}")


@_handler("ELEMENTWISE")
def _elementwise(ev, layer, ins, dtypes):
    a, b = ins
    if a.ndim != b.ndim:
        raise _LayerFailure(f"inputs have ranks {a.ndim} and {b.ndim}; TensorRT needs equal ranks")
    if a.dtype != b.dtype:
        raise _LayerFailure(f"inputs have dtypes {a.dtype} and {b.dtype}")
    np.broadcast_shapes(a.shape, b.shape)
    return [_elementwise_op(_enum_name(layer.op), a, b)]


_UNARY_FLOAT = {
    "EXP": np.exp, "LOG": np.log, "SQRT": np.sqrt, "RECIP": lambda x: 1 / x, "SIN": np.sin, "COS": np.cos,
    "TAN": np.tan, "SINH": np.sinh, "COSH": np.cosh, "ASIN": np.arcsin, "ACOS": np.arccos, "ATAN": np.arctan,
    "ASINH": np.arcsinh, "ACOSH": np.arccosh, "ATANH": np.arctanh, "CEIL": np.ceil, "FLOOR": np.floor,
    "ERF": _erf, "ROUND": np.rint,
}
_UNARY_ANY = {"ABS": np.abs, "NEG": np.negative, "SIGN": np.sign}


@_handler("UNARY")
def _unary(ev, layer, ins, dtypes):
    op = _enum_name(layer.op)
    x = ins[0]
    if op == "NOT":
        if x.dtype.kind != "b":
            raise _LayerFailure(f"NOT needs a BOOL input, got {x.dtype}")
        return [np.logical_not(x)]
    if op in ("ISINF", "ISNAN"):
        return [(np.isinf if op == "ISINF" else np.isnan)(x.astype(np.float32))]
    if op in _UNARY_ANY:
        return [_UNARY_ANY[op](x)]
    if op in _UNARY_FLOAT:
        if not _is_float(x.dtype):
            raise _unsupported(f"unary {op} on {x.dtype}")
        return [_UNARY_FLOAT[op](x.astype(np.float64)).astype(dtypes[0])]
    raise _unsupported(f"unary operation {op}")


@_handler("SELECT")
def _select(ev, layer, ins, dtypes):
    cond, a, b = ins
    if not (cond.ndim == a.ndim == b.ndim):
        raise _LayerFailure(f"inputs have ranks {cond.ndim}, {a.ndim}, {b.ndim}; TensorRT needs equal ranks")
    if cond.dtype.kind != "b":
        raise _LayerFailure(f"condition is {cond.dtype}, not BOOL")
    return [np.where(cond, a, b)]


@_handler("SCALE")
def _scale(ev, layer, ins, dtypes):
    x = ins[0]
    mode = _enum_name(layer.mode)
    axis = int(layer.channel_axis)
    if not 0 <= axis < x.ndim:
        raise _LayerFailure(f"channel_axis {axis} out of range for rank {x.ndim}")
    if mode == "UNIFORM":
        shape = (1,)
    elif mode == "CHANNEL":
        shape = (x.shape[axis],) + (1,) * (x.ndim - axis - 1)
    elif mode == "ELEMENTWISE":
        shape = x.shape[axis:]
    else:
        raise _unsupported(f"scale mode {mode}")
    count = int(np.prod(shape))
    y = x.astype(np.float32)
    coefficients = {}
    for name in ("scale", "shift", "power"):
        w = np.asarray(ev.layer_weights(layer, name))
        if w.size == 0:
            continue
        if w.size != count:
            raise _LayerFailure(f"{name} has {w.size} values; {mode} mode on shape {x.shape} needs {count}")
        coefficients[name] = w.astype(np.float32).reshape(shape)
    if "scale" in coefficients:
        y = y * coefficients["scale"]
    if "shift" in coefficients:
        y = y + coefficients["shift"]
    if "power" in coefficients and np.any(coefficients["power"] != 1):
        y = np.power(y, coefficients["power"])
    return [y.astype(dtypes[0])]
