"""Evaluate a TensorRT INetworkDefinition on the CPU, layer by layer, with numpy.

No TensorRT engine can run without a GPU, but the network definition a converter builds can be
read back through the builder API. This module computes what that definition means, so a
converter that builds a valid-but-wrong network (swapped paddings, a wrong axis bitmask, an
inverted permutation) is caught by comparing numbers, not just shapes.

Rules the evaluator keeps:

* Every tensor is stored in the numpy dtype of its TensorRT dtype (HALF -> float16, ...), so
  FP16 networks really run in half precision. Convolutions, matrix multiplies, reductions and
  transcendental functions on FP16 data are computed in float32 and rounded to float16 at the
  layer's output, as GPU kernels do.
* Every computed tensor is checked against the shape and dtype TensorRT declares for it.
* A layer type, mode or parameter this module does not implement raises
  UnsupportedLayerError naming the layer and its type; nothing is guessed.
* Layers are evaluated in dependency order. TensorRT's layer list is *not* always topological
  (NVIDIA's ONNX parser adds constants after the layers that read them), so we sort.

Reading layer attributes needs the layer's concrete binding class. `network.get_layer(i)`
returns a plain ILayer; we downcast with `layer.__class__ = trt.IConvolutionLayer` (as
Polygraphy does). After downcasting, `IActivationLayer.type` / `IPoolingLayer.type` are the
activation / pooling kind, shadowing `ILayer.type`, so the layer type is read through the base
class property.
"""

from __future__ import annotations

import heapq
import math
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import TensorRTError

try:  # shipped with onnx; gives numpy a bfloat16
    import ml_dtypes as _ml_dtypes
except ImportError:  # pragma: no cover - optional
    _ml_dtypes = None

__all__ = ["EvaluationError", "UnsupportedLayerError", "evaluate_network", "supported_layer_types"]


class EvaluationError(TensorRTError, RuntimeError):
    """The network could not be evaluated: missing input, bad value, or an internal mismatch."""


class UnsupportedLayerError(EvaluationError, NotImplementedError):
    """A layer type, mode or parameter the CPU evaluator does not implement."""


# LayerType name -> binding class name used to downcast ILayer.
_LAYER_CLASSES = {
    "ACTIVATION": "IActivationLayer",
    "CAST": "ICastLayer",
    "CONCATENATION": "IConcatenationLayer",
    "CONSTANT": "IConstantLayer",
    "CONVOLUTION": "IConvolutionLayer",
    "CUMULATIVE": "ICumulativeLayer",
    "DECONVOLUTION": "IDeconvolutionLayer",
    "EINSUM": "IEinsumLayer",
    "ELEMENTWISE": "IElementWiseLayer",
    "FILL": "IFillLayer",
    "GATHER": "IGatherLayer",
    "IDENTITY": "IIdentityLayer",
    "LRN": "ILRNLayer",
    "MATRIX_MULTIPLY": "IMatrixMultiplyLayer",
    "NORMALIZATION": "INormalizationLayer",
    "PADDING": "IPaddingLayer",
    "PARAMETRIC_RELU": "IParametricReLULayer",
    "POOLING": "IPoolingLayer",
    "REDUCE": "IReduceLayer",
    "RESIZE": "IResizeLayer",
    "SCALE": "IScaleLayer",
    "SELECT": "ISelectLayer",
    "SHAPE": "IShapeLayer",
    "SHUFFLE": "IShuffleLayer",
    "SLICE": "ISliceLayer",
    "SOFTMAX": "ISoftMaxLayer",
    "SQUEEZE": "ISqueezeLayer",
    "TOPK": "ITopKLayer",
    "UNARY": "IUnaryLayer",
    "UNSQUEEZE": "IUnsqueezeLayer",
}

_NP_DTYPES = {
    "FLOAT": np.dtype(np.float32),
    "HALF": np.dtype(np.float16),
    "INT8": np.dtype(np.int8),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
}
if _ml_dtypes is not None:
    _NP_DTYPES["BF16"] = np.dtype(_ml_dtypes.bfloat16)

# dtypes whose weights the bindings return as a numpy array of that dtype (BF16 comes back wrong)
_WEIGHT_DTYPES = {np.dtype(t) for t in (np.float32, np.float16, np.int8, np.int32, np.int64, np.bool_, np.uint8)}

_HANDLERS: dict[str, Callable] = {}


def supported_layer_types() -> list[str]:
    """Names of the trt.LayerType members the evaluator implements."""
    return sorted(_HANDLERS)


def _handler(kind: str):
    def register(fn):
        _HANDLERS[kind] = fn
        return fn
    return register


def evaluate_network(network, trt, inputs: dict) -> dict:
    """Run `network` (an INetworkDefinition) on `inputs` ({input name: array}) with numpy.

    Returns {output name: array} for every marked network output. Raises
    UnsupportedLayerError / EvaluationError (both TensorRTError) naming the offending layer.
    """
    return _Evaluator(network, trt).run(inputs)


def _enum_name(value) -> str:
    return getattr(value, "name", str(value).rsplit(".", 1)[-1])


def _ints(dims) -> tuple | None:
    if dims is None:
        return None
    return tuple(int(d) for d in dims)


def _bits(mask: int, rank: int, what: str) -> tuple:
    axes = tuple(a for a in range(32) if mask >> a & 1)
    if any(a >= rank for a in axes):
        raise ValueError(f"{what} bitmask {mask:#x} names an axis >= rank {rank}")
    return axes


def _acc_dtype(dtype: np.dtype) -> np.dtype:
    """Accumulation dtype: float32 for float16/bfloat16 (and float32), the dtype otherwise."""
    if dtype.kind == "f" or (_ml_dtypes is not None and dtype == _NP_DTYPES.get("BF16")):
        return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)
    return dtype


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or ("BF16" in _NP_DTYPES and dtype == _NP_DTYPES["BF16"])


class _LayerFailure(Exception):
    """Raised inside handlers; the evaluator re-raises it with the layer's name and type."""

    def __init__(self, message, unsupported=False):
        super().__init__(message)
        self.unsupported = unsupported


def _unsupported(message):
    return _LayerFailure(message, unsupported=True)


class _Evaluator:
    def __init__(self, network, trt):
        self.network = network
        self.trt = trt
        self._type_property = trt.ILayer.__dict__["type"]

    # ---- dtypes -------------------------------------------------------------------------
    def np_dtype(self, trt_dtype) -> np.dtype:
        name = _enum_name(trt_dtype)
        if name not in _NP_DTYPES:
            raise _unsupported(f"TensorRT dtype {name} has no numpy equivalent in the evaluator")
        return _NP_DTYPES[name]

    # ---- driver -------------------------------------------------------------------------
    def run(self, inputs: dict) -> dict:
        network = self.network
        values: dict[str, np.ndarray] = {}
        input_names = []
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            input_names.append(tensor.name)
            if tensor.name not in inputs:
                raise EvaluationError(f"network input {tensor.name!r} was not given; inputs are {sorted(inputs)}")
            try:
                dtype = self.np_dtype(tensor.dtype)
            except _LayerFailure as err:
                raise UnsupportedLayerError(f"network input {tensor.name!r}: {err}") from None
            array = np.asarray(inputs[tensor.name])
            if array.dtype != dtype:
                if not np.can_cast(array.dtype, dtype, casting="same_kind"):
                    raise EvaluationError(f"network input {tensor.name!r} is {dtype}; cannot use a {array.dtype} array")
                array = array.astype(dtype)
            declared = tuple(tensor.shape)
            if len(declared) != array.ndim or any(d >= 0 and d != s for d, s in zip(declared, array.shape)):
                raise EvaluationError(f"network input {tensor.name!r} has shape {declared}; got {array.shape}")
            values[tensor.name] = array
        unknown = sorted(set(inputs) - set(input_names))
        if unknown:
            raise EvaluationError(f"inputs {unknown} are not network inputs; the network's inputs are {input_names}")

        for layer, kind in self._ordered_layers(set(input_names)):
            self._evaluate_layer(layer, kind, values)

        outputs = {}
        for i in range(network.num_outputs):
            name = network.get_output(i).name
            outputs[name] = values[name]
        return outputs

    def _layer_kind(self, layer) -> str:
        return _enum_name(self._type_property.__get__(layer))

    def _ordered_layers(self, available: set):
        """Layers in dependency order (Kahn's algorithm, ties by layer index)."""
        network = self.network
        layers = [network.get_layer(i) for i in range(network.num_layers)]
        producer = {}
        for index, layer in enumerate(layers):
            for k in range(layer.num_outputs):
                name = layer.get_output(k).name
                if name in producer or name in available:
                    raise EvaluationError(f"tensor name {name!r} is produced twice (layer {layer.name!r}); "
                                          "tensor names must be unique to evaluate the network")
                producer[name] = index
        needs = []
        users: dict[int, list] = {i: [] for i in range(len(layers))}
        for index, layer in enumerate(layers):
            deps = set()
            for j in range(layer.num_inputs):
                tensor = layer.get_input(j)
                if tensor is None:
                    continue
                if tensor.name in producer:
                    deps.add(producer[tensor.name])
                elif tensor.name not in available:
                    raise EvaluationError(f"layer {layer.name!r} reads tensor {tensor.name!r}, which no layer or "
                                          "network input produces")
            needs.append(len(deps))
            for dep in deps:
                users[dep].append(index)
        kinds = [self._layer_kind(layer) for layer in layers]
        for layer, kind in zip(layers, kinds):  # fail before computing anything (loops, plugins, ...)
            if kind not in _HANDLERS:
                raise UnsupportedLayerError(f"layer {layer.name!r} ({kind}): layer type {kind} is not supported "
                                            "by the CPU evaluator")
        ready = [i for i, n in enumerate(needs) if n == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            index = heapq.heappop(ready)
            order.append(index)
            for user in users[index]:
                needs[user] -= 1
                if needs[user] == 0:
                    heapq.heappush(ready, user)
        if len(order) != len(layers):
            stuck = [layers[i].name for i in range(len(layers)) if i not in set(order)]
            raise EvaluationError(f"the network has a cycle through layers {stuck[:5]}")
        for index in order:
            yield layers[index], kinds[index]

    def _evaluate_layer(self, layer, kind: str, values: dict) -> None:
        where = f"layer {layer.name!r} ({kind})"
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise UnsupportedLayerError(f"{where}: layer type {kind} is not supported by the CPU evaluator")
        cls = getattr(self.trt, _LAYER_CLASSES[kind], None)
        if cls is None:
            raise UnsupportedLayerError(f"{where}: the TensorRT bindings have no {_LAYER_CLASSES[kind]} class")
        layer.__class__ = cls
        ins = []
        for j in range(layer.num_inputs):
            tensor = layer.get_input(j)
            ins.append(None if tensor is None else values[tensor.name])
        try:
            out_tensors = [layer.get_output(k) for k in range(layer.num_outputs)]
            out_dtypes = [self.np_dtype(t.dtype) for t in out_tensors]
            with np.errstate(all="ignore"):
                results = handler(self, layer, ins, out_dtypes)
        except _LayerFailure as err:
            cls_ = UnsupportedLayerError if err.unsupported else EvaluationError
            raise cls_(f"{where}: {err}") from None
        except UnsupportedLayerError:
            raise
        except (ValueError, IndexError, TypeError) as err:
            raise EvaluationError(f"{where}: {type(err).__name__}: {err}") from err
        if len(results) != len(out_tensors):
            raise EvaluationError(f"{where}: evaluator produced {len(results)} outputs, the layer has {len(out_tensors)}")
        for tensor, dtype, result in zip(out_tensors, out_dtypes, results):
            result = np.asarray(result)
            if result.dtype != dtype:
                if _is_float(result.dtype) != _is_float(dtype) or (result.dtype.kind == "b") != (dtype.kind == "b"):
                    raise EvaluationError(f"{where}: evaluator computed {result.dtype} for output {tensor.name!r}, "
                                          f"which TensorRT declares {dtype} (an evaluator bug)")
                result = result.astype(dtype)
            declared = tuple(tensor.shape)
            if len(declared) != result.ndim or any(d >= 0 and d != s for d, s in zip(declared, result.shape)):
                raise EvaluationError(f"{where}: evaluator computed shape {result.shape} for output {tensor.name!r}, "
                                      f"TensorRT declares {declared}")
            values[tensor.name] = result if result.flags.c_contiguous else np.ascontiguousarray(result)


# ---- helpers ---------------------------------------------------------------------------------
def _input(ins, index):
    return ins[index] if index < len(ins) else None


def _window_geometry(size, window, stride, dilation, pre, post, mode: str):
    """(output size, pre padding, post padding) of a convolution/pooling window along one axis,
    with TensorRT's PaddingMode formulas. Post padding may exceed the declared one for
    EXPLICIT_ROUND_UP (the last window runs past the padded input)."""
    extent = 1 + dilation * (window - 1)
    if mode in ("EXPLICIT_ROUND_DOWN", "EXPLICIT_ROUND_UP"):
        padded = size + pre + post
        if padded < extent:
            raise _LayerFailure(f"window extent {extent} is larger than the padded input {padded}")
        if mode == "EXPLICIT_ROUND_DOWN":
            out = (padded - extent) // stride + 1
        else:
            out = -(-(padded - extent) // stride) + 1
        return out, pre, post
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        out = -(-size // stride)
        total = (size - 1) // stride * stride + extent - size
        small, large = total // 2, total - total // 2
        return (out, small, large) if mode == "SAME_UPPER" else (out, large, small)
    raise _unsupported(f"padding mode {mode}")


def _windows(x, nd, windows, strides, dilations, pres, outs, fill):
    """View of shape x.shape[:-nd] + outs + windows: each output position's (dilated) window over
    x padded with `fill` (pre paddings may be negative: cropping)."""
    lead = x.ndim - nd
    pad_width = [(0, 0)] * lead
    crop = [slice(None)] * lead
    extents = []
    for size, window, stride, dilation, pre, out in zip(x.shape[lead:], windows, strides, dilations, pres, outs):
        extent = 1 + dilation * (window - 1)
        need = (out - 1) * stride + extent
        before = max(pre, 0)
        after = max(need - pre - size, 0)
        pad_width.append((before, after))
        start = max(-pre, 0)
        crop.append(slice(start, start + need))
        extents.append(extent)
    padded = np.pad(x, pad_width, mode="constant", constant_values=fill)[tuple(crop)]
    view = sliding_window_view(padded, tuple(extents), axis=tuple(range(lead, x.ndim)))
    index = ([slice(None)] * lead + [slice(None, None, s) for s in strides]
             + [slice(None, None, d) for d in dilations])
    return view[tuple(index)]


def _conv_nd(x, kernel, groups, strides, dilations, pres, outs):
    """Grouped N-D correlation. x: (N, C, *S), kernel: (K, C/groups, *F) -> (N, K, *outs)."""
    nd = kernel.ndim - 2
    n, c = x.shape[:2]
    k = kernel.shape[0]
    win = _windows(x, nd, kernel.shape[2:], strides, dilations, pres, outs, 0)  # (N, C, *O, *F)
    order = [0] + list(range(2, 2 + nd)) + [1] + list(range(2 + nd, 2 + 2 * nd))
    positions = int(np.prod(outs))
    taps = int(np.prod(kernel.shape[2:]))
    cols = win.transpose(order).reshape(n * positions, groups, (c // groups) * taps)  # im2col (copies)
    weights = kernel.reshape(groups, k // groups, (c // groups) * taps)
    if groups == 1:
        out = cols[:, 0, :] @ weights[0].T  # (NP, K)
    else:
        out = np.matmul(cols.transpose(1, 0, 2), weights.transpose(0, 2, 1))  # (G, NP, K/G)
        out = out.transpose(1, 0, 2).reshape(n * positions, k)
    return np.moveaxis(out.reshape((n,) + tuple(outs) + (k,)), -1, 1)


def _trunc_divide(a, b):
    q = np.floor_divide(a, b)
    fix = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return q + fix.astype(q.dtype)


def _erf(x):
    return np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(np.float64)


def _one_axis(mask, rank, what):
    axes = _bits(mask, rank, what)
    if len(axes) != 1:
        raise _unsupported(f"{what} bitmask {mask:#x} selects {len(axes)} axes; exactly one is supported")
    return axes[0]


def _normalize_axes(axes, rank):
    out = []
    for a in axes:
        a = int(a)
        if not -rank <= a < rank:
            raise _LayerFailure(f"axis {a} out of range for rank {rank}")
        out.append(a + rank if a < 0 else a)
    return out


def _shape_values(array, what):
    array = np.asarray(array)
    if array.ndim > 1 or array.dtype.kind not in "iu":
        raise _LayerFailure(f"{what} must be a 1-D integer tensor, got {array.dtype} {array.shape}")
    return [int(v) for v in array.reshape(-1)]


# ---- layers ----------------------------------------------------------------------------------
@_handler("CONSTANT")
def _constant(ev, layer, ins, dtypes):
    if dtypes[0] not in _WEIGHT_DTYPES:
        raise _unsupported(f"{dtypes[0]} constants (the bindings do not return these weights as numpy arrays)")
    weights = np.array(layer.weights, copy=True)
    shape = _ints(layer.shape)
    if weights.size != int(np.prod(shape)):
        raise _LayerFailure(f"{weights.size} weights for shape {shape}")
    if weights.dtype != dtypes[0]:
        raise _unsupported(f"weights are returned as {weights.dtype} for a {dtypes[0]} constant")
    return [weights.reshape(shape)]


@_handler("IDENTITY")
def _identity(ev, layer, ins, dtypes):
    return [ins[0].copy()]


@_handler("CAST")
def _cast(ev, layer, ins, dtypes):
    target = ev.np_dtype(layer.to_type)
    if target != dtypes[0]:
        raise _LayerFailure(f"to_type {target} differs from the output dtype {dtypes[0]}")
    x = ins[0]
    if target.kind == "b":
        return [x != 0]
    if _is_float(x.dtype) and not _is_float(target):
        # float -> integer: round toward zero, as a C cast does
        return [np.trunc(x.astype(np.float64)).astype(target)]
    return [x.astype(target)]


@_handler("SHAPE")
def _shape(ev, layer, ins, dtypes):
    return [np.array(ins[0].shape, dtype=dtypes[0])]


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
        w = np.asarray(getattr(layer, name))
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


def _conv_params(layer, spatial):
    nd = len(spatial)
    window = _ints(layer.kernel_size_nd)
    strides = _ints(layer.stride_nd)
    dilations = _ints(layer.dilation_nd)
    pre, post = _ints(layer.pre_padding), _ints(layer.post_padding)
    if not (len(window) == len(strides) == len(dilations) == len(pre) == len(post) == nd):
        raise _LayerFailure(f"kernel {window}, stride {strides}, dilation {dilations}, padding {pre}/{post} "
                            f"do not all have {nd} spatial dims")
    if any(s < 1 for s in strides) or any(d < 1 for d in dilations):
        raise _LayerFailure(f"stride {strides} and dilation {dilations} must be >= 1")
    return window, strides, dilations, pre, post, _enum_name(layer.padding_mode)


def _kernel_and_bias(layer, ins, shape, out_channels):
    kernel = _input(ins, 1)
    if kernel is None:
        kernel = np.asarray(layer.kernel)
    if kernel.size != int(np.prod(shape)):
        raise _LayerFailure(f"kernel has {kernel.size} values; expected shape {shape}")
    bias = _input(ins, 2)
    if bias is None:
        bias = np.asarray(layer.bias)
        if bias.size == 0:
            bias = None
    if bias is not None:
        if bias.size != out_channels:
            raise _LayerFailure(f"bias has {bias.size} values for {out_channels} output maps")
        bias = bias.reshape(out_channels)
    return np.asarray(kernel).reshape(shape), bias


@_handler("CONVOLUTION")
def _convolution(ev, layer, ins, dtypes):
    x = ins[0]
    nd = len(_ints(layer.kernel_size_nd))
    if x.ndim != nd + 2:
        raise _unsupported(f"input rank {x.ndim} with a {nd}-D kernel (expected rank {nd + 2})")
    if not _is_float(x.dtype):
        raise _unsupported(f"convolution on {x.dtype}")
    window, strides, dilations, pre, post, mode = _conv_params(layer, x.shape[2:])
    groups, k, c = int(layer.num_groups), int(layer.num_output_maps), x.shape[1]
    if groups < 1 or c % groups or k % groups:
        raise _LayerFailure(f"{c} input and {k} output channels do not split into {groups} groups")
    kernel, bias = _kernel_and_bias(layer, ins, (k, c // groups) + window, k)
    geometry = [_window_geometry(i, f, s, d, b, a, mode)
                for i, f, s, d, b, a in zip(x.shape[2:], window, strides, dilations, pre, post)]
    acc = _acc_dtype(x.dtype)
    y = _conv_nd(x.astype(acc), kernel.astype(acc), groups, strides, dilations,
                 [g[1] for g in geometry], [g[0] for g in geometry])
    if bias is not None:
        y = y + bias.astype(acc).reshape((1, k) + (1,) * nd)
    return [y.astype(dtypes[0])]


@_handler("DECONVOLUTION")
def _deconvolution(ev, layer, ins, dtypes):
    x = ins[0]
    nd = len(_ints(layer.kernel_size_nd))
    if x.ndim != nd + 2:
        raise _unsupported(f"input rank {x.ndim} with a {nd}-D kernel (expected rank {nd + 2})")
    if not _is_float(x.dtype):
        raise _unsupported(f"deconvolution on {x.dtype}")
    window, strides, dilations, pre, post, mode = _conv_params(layer, x.shape[2:])
    groups, k, c = int(layer.num_groups), int(layer.num_output_maps), x.shape[1]
    if groups < 1 or c % groups or k % groups:
        raise _LayerFailure(f"{c} input and {k} output channels do not split into {groups} groups")
    kernel, bias = _kernel_and_bias(layer, ins, (c, k // groups) + window, k)
    # TensorRT's deconvolution formulas (PaddingMode docs): crop B before and A after the full
    # transposed-convolution output of size (I - 1) * S + DK.
    crops = []
    for size, f, s, d, b, a in zip(x.shape[2:], window, strides, dilations, pre, post):
        extent = 1 + d * (f - 1)
        if mode in ("EXPLICIT_ROUND_DOWN", "EXPLICIT_ROUND_UP"):
            crops.append((b, a))
        elif mode in ("SAME_UPPER", "SAME_LOWER"):
            total = max(extent - s, 0)
            small, large = total // 2, total - total // 2
            crops.append((small, large) if mode == "SAME_UPPER" else (large, small))
        else:
            raise _unsupported(f"padding mode {mode}")
    acc = _acc_dtype(x.dtype)
    n = x.shape[0]
    # Equivalent correlation: stride-dilate the input, pad by DK - 1 - crop, flip the kernel.
    dilated_shape = (n, c) + tuple((i - 1) * s + 1 for i, s in zip(x.shape[2:], strides))
    dilated = np.zeros(dilated_shape, dtype=acc)
    dilated[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)] = x
    cg, kg = c // groups, k // groups
    flipped = kernel.astype(acc)[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    conv_kernel = flipped.reshape((groups, cg, kg) + window).swapaxes(1, 2).reshape((k, cg) + window)
    pres, outs = [], []
    for size, f, s, d, (b, a) in zip(x.shape[2:], window, strides, dilations, crops):
        extent = 1 + d * (f - 1)
        pres.append(extent - 1 - b)
        outs.append((size - 1) * s + extent - b - a)
    y = _conv_nd(dilated, conv_kernel, groups, (1,) * nd, dilations, pres, outs)
    if bias is not None:
        y = y + bias.astype(acc).reshape((1, k) + (1,) * nd)
    return [y.astype(dtypes[0])]


def _overlap_counts(size, window, stride, pre, out, lo, hi):
    """Per output position: how many window taps fall inside [lo, hi) (input coordinates)."""
    starts = np.arange(out) * stride - pre
    return np.clip(np.minimum(starts + window, hi) - np.maximum(starts, lo), 0, None)


@_handler("POOLING")
def _pooling(ev, layer, ins, dtypes):
    x = ins[0]
    kind = _enum_name(layer.type)  # IPoolingLayer.type is the PoolingType
    window = _ints(layer.window_size_nd)
    nd = len(window)
    strides = _ints(layer.stride_nd)
    pre, post = _ints(layer.pre_padding), _ints(layer.post_padding)
    mode = _enum_name(layer.padding_mode)
    if x.ndim < nd + 1 or not (len(strides) == len(pre) == len(post) == nd):
        raise _LayerFailure(f"window {window}, stride {strides}, padding {pre}/{post} do not fit input rank {x.ndim}")
    if not _is_float(x.dtype):
        raise _unsupported(f"pooling on {x.dtype}")
    spatial = x.shape[-nd:]
    geometry = [_window_geometry(i, f, s, 1, b, a, mode) for i, f, s, b, a in zip(spatial, window, strides, pre, post)]
    outs = [g[0] for g in geometry]
    pres = [g[1] for g in geometry]
    results = {}
    lead = x.ndim - nd
    reduce_axes = tuple(range(x.ndim, x.ndim + nd))
    if kind in ("MAX", "MAX_AVERAGE_BLEND"):
        win = _windows(x, nd, window, strides, (1,) * nd, pres, outs, -np.inf)
        results["MAX"] = win.max(axis=reduce_axes).astype(np.float32)
    if kind in ("AVERAGE", "MAX_AVERAGE_BLEND"):
        win = _windows(x.astype(np.float32), nd, window, strides, (1,) * nd, pres, outs, 0)
        total = win.sum(axis=reduce_axes, dtype=np.float32)
        excludes = bool(layer.average_count_excludes_padding)
        count = np.ones((), dtype=np.float32)
        for d, (size, f, s, (o, b, a)) in enumerate(zip(spatial, window, strides, geometry)):
            lo, hi = (0, size) if excludes else (-b, size + a)
            per_axis = _overlap_counts(size, f, s, b, o, lo, hi).astype(np.float32)
            count = np.multiply.outer(count, per_axis)
        if np.any(count == 0):
            raise _unsupported("an average-pooling window covers no element it may count (empty window)")
        results["AVERAGE"] = total / count.reshape((1,) * lead + tuple(outs))
    if kind == "MAX":
        y = results["MAX"]
    elif kind == "AVERAGE":
        y = results["AVERAGE"]
    elif kind == "MAX_AVERAGE_BLEND":
        blend = np.float32(layer.blend_factor)
        y = (1 - blend) * results["MAX"] + blend * results["AVERAGE"]
    else:
        raise _unsupported(f"pooling type {kind}")
    return [y.astype(dtypes[0])]


@_handler("SOFTMAX")
def _softmax(ev, layer, ins, dtypes):
    x = ins[0]
    axis = _one_axis(int(layer.axes), x.ndim, "softmax axes")
    xf = x.astype(np.float32)
    e = np.exp(xf - xf.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).astype(dtypes[0])]


@_handler("REDUCE")
def _reduce(ev, layer, ins, dtypes):
    x = ins[0]
    op = _enum_name(layer.op)
    axes = _bits(int(layer.axes), x.ndim, "reduce axes")
    keep = bool(layer.keep_dims)
    acc = _acc_dtype(x.dtype) if _is_float(x.dtype) else x.dtype
    if op == "SUM":
        y = x.astype(acc).sum(axis=axes, keepdims=keep)
    elif op == "PROD":
        y = x.astype(acc).prod(axis=axes, keepdims=keep)
    elif op in ("MAX", "MIN"):
        fn = np.max if op == "MAX" else np.min
        if x.size == 0:  # empty reduction: the identity (-inf for MAX, +inf for MIN)
            if not _is_float(x.dtype):
                raise _unsupported(f"{op} reduction of an empty {x.dtype} tensor")
            y = fn(x, axis=axes, keepdims=keep, initial=-np.inf if op == "MAX" else np.inf)
        else:
            y = fn(x, axis=axes, keepdims=keep)
    elif op == "AVG":
        if not _is_float(x.dtype):
            raise _unsupported(f"AVG reduction of {x.dtype}")
        y = x.astype(acc).mean(axis=axes, keepdims=keep)
    else:
        raise _unsupported(f"reduce operation {op}")
    return [np.asarray(y).astype(dtypes[0])]


def _permutation(perm, rank, what):
    order = list(perm)[:rank]
    if sorted(order) != list(range(rank)):
        raise _LayerFailure(f"{what} {tuple(order)} is not a permutation of {rank} axes")
    return order


@_handler("SHUFFLE")
def _shuffle(ev, layer, ins, dtypes):
    x = ins[0]
    x = x.transpose(_permutation(layer.first_transpose, x.ndim, "first_transpose"))
    dims_tensor = _input(ins, 1)
    if dims_tensor is not None:
        dims = _shape_values(dims_tensor, "reshape dimensions input")
    else:
        dims = None if layer.reshape_dims is None else list(_ints(layer.reshape_dims))
    if dims is not None:
        placeholder = bool(layer.zero_is_placeholder)
        resolved = []
        for i, d in enumerate(dims):
            if d == 0 and placeholder:
                if i >= x.ndim:
                    raise _LayerFailure(f"reshape dim {i} is 0 (copy) but the input has rank {x.ndim}")
                d = x.shape[i]
            elif d < -1:
                raise _LayerFailure(f"reshape dims {tuple(dims)} contain {d}")
            resolved.append(d)
        if resolved.count(-1) > 1:
            raise _LayerFailure(f"reshape dims {tuple(dims)} contain more than one -1")
        if -1 in resolved:
            known = int(np.prod([d for d in resolved if d != -1]))
            if known == 0 or x.size % known:
                raise _LayerFailure(f"cannot infer -1 in {tuple(dims)} for {x.size} elements")
            resolved[resolved.index(-1)] = x.size // known
        if int(np.prod(resolved)) != x.size:
            raise _LayerFailure(f"cannot reshape {x.shape} to {tuple(resolved)}")
        x = x.reshape(resolved)
    x = x.transpose(_permutation(layer.second_transpose, x.ndim, "second_transpose"))
    return [x]


@_handler("CONCATENATION")
def _concatenation(ev, layer, ins, dtypes):
    rank = ins[0].ndim
    axis = int(layer.axis)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank or any(t.ndim != rank for t in ins):
        raise _LayerFailure(f"axis {layer.axis} / input ranks {[t.ndim for t in ins]}")
    return [np.concatenate(ins, axis=axis)]


@_handler("MATRIX_MULTIPLY")
def _matrix_multiply(ev, layer, ins, dtypes):
    a, b = ins
    op0, op1 = _enum_name(layer.op0), _enum_name(layer.op1)
    for op, t, what in ((op0, a, "op0"), (op1, b, "op1")):
        if op not in ("NONE", "TRANSPOSE", "VECTOR"):
            raise _unsupported(f"{what} {op}")
        if (op == "VECTOR" and t.ndim < 1) or (op != "VECTOR" and t.ndim < 2):
            raise _LayerFailure(f"{what} {op} on a rank-{t.ndim} input")
    if op0 == "TRANSPOSE":
        a = a.swapaxes(-1, -2)
    if op1 == "TRANSPOSE":
        b = b.swapaxes(-1, -2)
    va, vb = op0 == "VECTOR", op1 == "VECTOR"
    if va:
        a = a[..., None, :]
    if vb:
        b = b[..., :, None]
    acc = _acc_dtype(a.dtype)
    y = np.matmul(a.astype(acc), b.astype(acc))
    if va and vb:
        y = y[..., 0, 0]
    elif va:
        y = y[..., 0, :]
    elif vb:
        y = y[..., 0]
    return [y.astype(dtypes[0])]


def _sample_indices(start, size, stride, dim, mode):
    idx = start + np.arange(size, dtype=np.int64) * stride
    valid = (idx >= 0) & (idx < dim)
    if mode == "STRICT_BOUNDS":
        if not valid.all():
            raise _LayerFailure(f"slice start {start} size {size} stride {stride} leaves a dim of {dim} "
                                "(STRICT_BOUNDS mode)")
        return idx, None
    if mode == "WRAP":
        if dim == 0:
            raise _LayerFailure("WRAP slice of an empty dim")
        return np.mod(idx, dim), None
    if mode == "CLAMP":
        return np.clip(idx, 0, max(dim - 1, 0)), None
    if mode == "FILL":
        return np.clip(idx, 0, max(dim - 1, 0)), valid
    if mode == "REFLECT":
        if dim == 1:
            return np.zeros_like(idx), None
        period = 2 * (dim - 1)
        m = np.mod(idx, period)
        return np.where(m < dim, m, period - m), None
    raise _unsupported(f"slice mode {mode}")


@_handler("SLICE")
def _slice(ev, layer, ins, dtypes):
    x = ins[0]
    rank = x.ndim
    mode = _enum_name(layer.mode)
    if mode == "DEFAULT":
        mode = "STRICT_BOUNDS"

    def param(index, attr):
        tensor = _input(ins, index)
        if tensor is not None:
            return _shape_values(tensor, f"slice input {index}")
        value = getattr(layer, attr)
        return None if value is None else list(_ints(value))

    start, size, stride = param(1, "start"), param(2, "shape"), param(3, "stride")
    axes = param(5, "axes")
    if start is None or size is None or stride is None:
        raise _LayerFailure("slice start/size/stride are neither set nor given as inputs")
    axes = list(range(rank)) if axes is None else _normalize_axes(axes, rank)
    if not (len(start) == len(size) == len(stride) == len(axes)) or len(set(axes)) != len(axes):
        raise _LayerFailure(f"start {start}, size {size}, stride {stride}, axes {axes} disagree")
    full = [(0, d, 1) for d in x.shape]
    for a, b, n, s in zip(axes, start, size, stride):
        full[a] = (b, n, s)
    indices, masks = [], []
    for (b, n, s), dim in zip(full, x.shape):
        idx, valid = _sample_indices(b, n, s, dim, mode)
        indices.append(idx)
        masks.append(valid)
    if mode == "FILL" and any(dim == 0 for dim in x.shape):
        y = np.zeros([len(i) for i in indices], dtype=x.dtype)
    else:
        y = x[np.ix_(*indices)] if rank else x.copy()
    if mode == "FILL":
        fill = _input(ins, 4)
        fill_value = np.zeros((), dtype=x.dtype) if fill is None else np.asarray(fill).reshape(())
        inside = np.ones(y.shape, dtype=bool)
        for d, valid in enumerate(masks):
            inside &= valid.reshape((1,) * d + (-1,) + (1,) * (rank - d - 1))
        y = np.where(inside, y, fill_value.astype(x.dtype))
    elif _input(ins, 4) is not None:
        raise _LayerFailure("a fill value is only allowed in FILL mode")
    return [y]


@_handler("PADDING")
def _padding(ev, layer, ins, dtypes):
    x = ins[0]
    pre, post = _ints(layer.pre_padding_nd), _ints(layer.post_padding_nd)
    nd = len(pre)
    if len(post) != nd or nd > x.ndim:
        raise _LayerFailure(f"padding {pre}/{post} does not fit rank {x.ndim}")
    lead = x.ndim - nd
    widths = [(0, 0)] * lead + [(max(b, 0), max(a, 0)) for b, a in zip(pre, post)]
    y = np.pad(x, widths, mode="constant")
    crop = [slice(None)] * lead + [slice(max(-b, 0), y.shape[lead + i] - max(-a, 0))
                                   for i, (b, a) in enumerate(zip(pre, post))]
    return [y[tuple(crop)]]


def _wrap_indices(indices, dim, what):
    idx = indices.astype(np.int64)
    if np.any((idx < -dim) | (idx >= dim)):
        raise _LayerFailure(f"{what} index out of range for a dim of {dim}")
    return np.where(idx < 0, idx + dim, idx)


@_handler("GATHER")
def _gather(ev, layer, ins, dtypes):
    data, indices = ins
    if indices.dtype.kind not in "iu":
        raise _LayerFailure(f"indices are {indices.dtype}")
    mode = _enum_name(layer.mode)
    axis = int(layer.axis)
    batch = int(layer.num_elementwise_dims)
    if mode == "DEFAULT":
        if not 0 <= axis < data.ndim:
            raise _LayerFailure(f"axis {axis} out of range for rank {data.ndim}")
        idx = _wrap_indices(indices, data.shape[axis], "gather")
        if batch == 0:
            return [np.take(data, idx, axis=axis)]
        if batch == 1:
            if axis < 1 or data.shape[0] != indices.shape[0]:
                raise _LayerFailure(f"elementwise dim with axis {axis}, data {data.shape}, indices {indices.shape}")
            return [np.stack([np.take(data[i], idx[i], axis=axis - 1) for i in range(data.shape[0])])]
        raise _LayerFailure(f"num_elementwise_dims {batch} in DEFAULT mode")
    if mode == "ELEMENT":
        if batch != 0 or indices.ndim != data.ndim or not 0 <= axis < data.ndim:
            raise _LayerFailure(f"ELEMENT gather with axis {axis}, data {data.shape}, indices {indices.shape}")
        idx = _wrap_indices(indices, data.shape[axis], "gather")
        if any(q > d for k, (q, d) in enumerate(zip(indices.shape, data.shape)) if k != axis):
            raise _LayerFailure(f"indices {indices.shape} exceed data {data.shape} off the gather axis")
        region = tuple(slice(None) if k == axis else slice(0, q) for k, q in enumerate(indices.shape))
        return [np.take_along_axis(data[region], idx, axis=axis)]
    if mode == "ND":
        depth = indices.shape[-1] if indices.ndim else 0
        if indices.ndim < 1 or batch + depth > data.ndim or data.shape[:batch] != indices.shape[:batch]:
            raise _LayerFailure(f"ND gather with {batch} batch dims, data {data.shape}, indices {indices.shape}")
        nb = int(np.prod(data.shape[:batch]))
        d = data.reshape((nb,) + data.shape[batch:])
        q = indices.reshape(nb, -1, depth).astype(np.int64)
        rows = []
        for i in range(nb):
            coords = [_wrap_indices(q[i][:, j], data.shape[batch + j], "gather") for j in range(depth)]
            rows.append(d[i][tuple(coords)])
        y = np.stack(rows)
        return [y.reshape(indices.shape[:-1] + data.shape[batch + depth:])]
    raise _unsupported(f"gather mode {mode}")


@_handler("LRN")
def _lrn(ev, layer, ins, dtypes):
    x = ins[0]
    if x.ndim < 3:
        raise _LayerFailure(f"LRN input rank {x.ndim} < 3")
    window = int(layer.window_size)
    alpha, beta, k = float(layer.alpha), float(layer.beta), float(layer.k)
    if window < 1 or window % 2 == 0:
        raise _unsupported(f"LRN window {window} (TensorRT takes odd windows)")
    xf = x.astype(np.float64)
    squares = np.square(xf)
    half = window // 2
    c = x.shape[1]
    padded = np.pad(squares, [(0, 0), (half, half)] + [(0, 0)] * (x.ndim - 2))
    total = sum(padded[:, i:i + c] for i in range(window))
    # Caffe/ONNX semantics: alpha is divided by the window size.
    return [(xf / np.power(k + alpha / window * total, beta)).astype(dtypes[0])]


@_handler("NORMALIZATION")
def _normalization(ev, layer, ins, dtypes):
    x, scale, bias = ins
    if not _is_float(x.dtype):
        raise _unsupported(f"normalization of {x.dtype}")
    axes = _bits(int(layer.axes), x.ndim, "normalization axes")
    eps = float(layer.epsilon)
    groups = int(layer.num_groups)
    xf = x.astype(np.float32)
    sf, bf = scale.astype(np.float32), bias.astype(np.float32)
    if groups == 1:
        mean = xf.mean(axis=axes, keepdims=True)
        var = np.square(xf - mean).mean(axis=axes, keepdims=True)
        y = (xf - mean) / np.sqrt(var + eps)
        return [(y * sf + bf).astype(dtypes[0])]
    if x.ndim < 3 or x.shape[1] % groups or any(a < 2 for a in axes):
        raise _unsupported(f"group normalization with {groups} groups over axes {axes} of shape {x.shape}")
    n, c = x.shape[:2]
    grouped = xf.reshape((n, groups, c // groups) + x.shape[2:])
    gaxes = (2,) + tuple(a + 1 for a in axes)
    mean = grouped.mean(axis=gaxes, keepdims=True)
    var = np.square(grouped - mean).mean(axis=gaxes, keepdims=True)
    normed = (grouped - mean) / np.sqrt(var + eps)
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    per_group = (1, groups) + (1,) * (x.ndim - 2)
    if sf.shape == per_channel and bf.shape == per_channel:
        y = normed.reshape(x.shape) * sf + bf
    elif sf.shape == per_group and bf.shape == per_group:
        gshape = (1, groups, 1) + (1,) * (x.ndim - 2)
        y = (normed * sf.reshape(gshape) + bf.reshape(gshape)).reshape(x.shape)
    else:
        raise _unsupported(f"group-normalization scale/bias shapes {sf.shape}/{bf.shape} for input {x.shape}")
    return [y.astype(dtypes[0])]


@_handler("SQUEEZE")
def _squeeze(ev, layer, ins, dtypes):
    x = ins[0]
    if _input(ins, 1) is None:
        raise _unsupported("squeeze without an axes input")
    axes = _normalize_axes(_shape_values(ins[1], "squeeze axes"), x.ndim)
    if any(x.shape[a] != 1 for a in axes):
        raise _LayerFailure(f"cannot squeeze axes {axes} of shape {x.shape}")
    return [np.squeeze(x, axis=tuple(axes))]


@_handler("UNSQUEEZE")
def _unsqueeze(ev, layer, ins, dtypes):
    x = ins[0]
    if _input(ins, 1) is None:
        raise _unsupported("unsqueeze without an axes input")
    raw = _shape_values(ins[1], "unsqueeze axes")
    axes = _normalize_axes(raw, x.ndim + len(raw))
    return [np.expand_dims(x, axis=tuple(axes))]


@_handler("TOPK")
def _topk(ev, layer, ins, dtypes):
    x = ins[0]
    axis = _one_axis(int(layer.axes), x.ndim, "topk axes")
    k_input = _input(ins, 1)
    k = int(np.asarray(k_input).reshape(())) if k_input is not None else int(layer.k)
    op = _enum_name(layer.op)
    if op not in ("MAX", "MIN"):
        raise _unsupported(f"topk operation {op}")
    key = x.astype(np.float64)
    order = np.argsort(-key if op == "MAX" else key, axis=axis, kind="stable")
    index = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, index, axis=axis), index.astype(dtypes[1])]


@_handler("CUMULATIVE")
def _cumulative(ev, layer, ins, dtypes):
    x = ins[0]
    op = _enum_name(layer.op)
    if op != "SUM":
        raise _unsupported(f"cumulative operation {op}")
    if _input(ins, 1) is None:
        raise _LayerFailure("no axis input")
    axis = _normalize_axes([int(np.asarray(ins[1]).reshape(()))], x.ndim)[0]
    acc = _acc_dtype(x.dtype) if _is_float(x.dtype) else x.dtype
    y = x.astype(acc)
    if layer.reverse:
        y = np.flip(y, axis)
    total = np.cumsum(y, axis=axis, dtype=acc)
    if layer.exclusive:
        total = total - y
    if layer.reverse:
        total = np.flip(total, axis)
    return [total.astype(dtypes[0])]


@_handler("EINSUM")
def _einsum(ev, layer, ins, dtypes):
    acc = _acc_dtype(ins[0].dtype)
    return [np.einsum(str(layer.equation), *[t.astype(acc) for t in ins]).astype(dtypes[0])]


@_handler("FILL")
def _fill(ev, layer, ins, dtypes):
    op = _enum_name(layer.operation)
    if op != "LINSPACE":
        raise _unsupported(f"fill operation {op} (random fills have no reference value)")
    shape_input = _input(ins, 0)
    shape = _shape_values(shape_input, "fill shape") if shape_input is not None else list(_ints(layer.shape))
    start = _input(ins, 1)
    delta = _input(ins, 2)
    start = float(layer.alpha) if start is None else np.asarray(start).reshape(())
    if delta is None:
        if len(shape) != 1:
            raise _unsupported("static LINSPACE fill of rank != 1")
        delta = np.array([layer.beta])
    delta = np.asarray(delta).reshape(-1)
    if delta.size != len(shape):
        raise _LayerFailure(f"delta has {delta.size} values for a rank-{len(shape)} fill")
    work = np.int64 if dtypes[0].kind in "iu" else np.float64
    y = np.full(shape, start, dtype=work)
    for d, step in enumerate(delta):
        y = y + (np.arange(shape[d], dtype=work) * step.astype(work)).reshape((1,) * d + (-1,) + (1,) * (len(shape) - d - 1))
    return [y.astype(dtypes[0])]


@_handler("RESIZE")
def _resize(ev, layer, ins, dtypes):
    x = ins[0]
    mode = _enum_name(layer.resize_mode)
    if mode not in ("NEAREST", "LINEAR"):
        raise _unsupported(f"resize mode {mode}")
    out_tensor = layer.get_output(0)
    given = _input(ins, 1)
    scales = None
    if given is not None:
        if _is_float(given.dtype):
            scales = [float(s) for s in np.asarray(given).reshape(-1)]
        else:
            out_shape = _shape_values(given, "resize shape")
    elif layer.shape is not None and len(layer.shape):
        out_shape = list(_ints(layer.shape))
    elif layer.scales:
        scales = [float(s) for s in layer.scales]
    else:
        declared = _ints(out_tensor.shape)
        if any(d < 0 for d in declared):
            raise _LayerFailure("no output shape or scales")
        out_shape = list(declared)
    if scales is not None:
        if len(scales) != x.ndim:
            raise _LayerFailure(f"{len(scales)} scales for rank {x.ndim}")
        out_shape = [int(math.floor(i * s)) for i, s in zip(x.shape, scales)]
    if len(out_shape) != x.ndim:
        raise _LayerFailure(f"output shape {out_shape} for rank {x.ndim}")
    transform = _enum_name(layer.coordinate_transformation)
    selector = _enum_name(layer.selector_for_single_pixel)
    rounding = _enum_name(layer.nearest_rounding)
    y = x.astype(np.float64) if mode == "LINEAR" else x
    for axis, (size, out) in enumerate(zip(x.shape, out_shape)):
        scale = scales[axis] if scales is not None else (out / size if size else 1.0)
        if out == size and scale == 1.0:
            continue
        o = np.arange(out, dtype=np.float64)
        if out == 1 and selector == "UPPER":
            coord = np.zeros(1)
        elif transform == "HALF_PIXEL":
            coord = (o + 0.5) / scale - 0.5
        elif transform == "ASYMMETRIC":
            coord = o / scale
        elif transform == "ALIGN_CORNERS":
            # with scales, the resized length is size * scale before flooring (as in ONNX)
            length = size * scales[axis] if scales is not None else out
            coord = o * (size - 1) / (length - 1) if length != 1 else np.zeros(out)
        else:
            raise _unsupported(f"coordinate transformation {transform}")
        if mode == "NEAREST":
            if rounding == "HALF_UP":
                idx = np.floor(coord + 0.5)
            elif rounding == "HALF_DOWN":
                idx = np.ceil(coord - 0.5)
            elif rounding == "FLOOR":
                idx = np.floor(coord)
            elif rounding == "CEIL":
                idx = np.ceil(coord)
            else:
                raise _unsupported(f"nearest rounding {rounding}")
            y = np.take(y, np.clip(idx, 0, size - 1).astype(np.int64), axis=axis)
        else:
            coord = np.clip(coord, 0, size - 1)
            lo = np.floor(coord).astype(np.int64)
            hi = np.minimum(lo + 1, size - 1)
            w = (coord - lo).reshape((1,) * axis + (-1,) + (1,) * (x.ndim - axis - 1))
            y = np.take(y, lo, axis=axis) * (1 - w) + np.take(y, hi, axis=axis) * w
    return [np.asarray(y).astype(dtypes[0])]
