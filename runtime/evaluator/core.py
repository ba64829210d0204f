"""The evaluator's core: errors, dtype tables, the handler registry, and the walk over the
network's layers in dependency order, each layer downcast and handed to its handler.

Reading layer attributes needs the layer's concrete binding class. `network.get_layer(i)`
returns a plain ILayer; we downcast with `layer.__class__ = trt.IConvolutionLayer` (as
Polygraphy does). After downcasting, `IActivationLayer.type` / `IPoolingLayer.type` are the
activation / pooling kind, shadowing `ILayer.type`, so the layer type is read through the base
class property.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from tvm_tensorrt.common import normalise_axis
from tvm_tensorrt.errors import TensorRTError

try:  # shipped with onnx; gives numpy a bfloat16
    import ml_dtypes as _ml_dtypes
except ImportError:  # pragma: no cover - optional
    _ml_dtypes = None  # type: ignore[assignment]


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
    "DEQUANTIZE": "IDequantizeLayer",
    "QUANTIZE": "IQuantizeLayer",
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
    "SCATTER": "IScatterLayer",
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

_NP_DTYPES: dict[str, np.dtype] = {
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


_HANDLERS: dict[str, Callable] = {}


def supported_layer_types() -> list[str]:
    """Names of the trt.LayerType members the evaluator implements."""
    return sorted(_HANDLERS)


def _handler(kind: str):
    def register(fn):
        _HANDLERS[kind] = fn
        return fn
    return register


@dataclass(frozen=True)
class ArithmeticVariant:
    """Evaluate as another, equally valid, floating-point implementation of the network would.

    A GPU kernel, TVM's generated code and numpy's BLAS all sum in different orders, so their
    results differ by rounding. Where a network amplifies rounding (huge activations feeding a
    softmax), that difference is the whole answer, and which machine runs the check decides it.
    A variant exposes this on purpose: `shuffle_sums` permutes the order of every contraction
    (convolution, matrix multiply, sum reductions); `ulp_noise` moves every float result of every
    layer by a random fraction of one rounding unit of its dtype (Monte Carlo arithmetic), which
    is the most any correctly rounded implementation may differ per operation.
    """

    seed: int = 0
    shuffle_sums: bool = False
    ulp_noise: bool = False


def evaluate_network(network, trt, inputs: dict, variant: Optional[ArithmeticVariant] = None,
                     weights: Optional[dict] = None) -> dict:
    """Run `network` (an INetworkDefinition) on `inputs` ({input name: array}) with numpy.

    Returns {output name: array} for every marked network output. Raises
    UnsupportedLayerError / EvaluationError (both TensorRTError) naming the offending layer.
    `variant`: evaluate with another summation order or per-layer rounding (see ArithmeticVariant).
    `weights`: {(layer index, attribute): array} for weights the TensorRT bindings cannot give
    back (BF16): the `weights` of the NetworkBuild our converters made the network with.
    """
    return _Evaluator(network, trt, variant, weights).run(inputs)


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
    def __init__(self, network, trt, variant: Optional[ArithmeticVariant] = None, weights: Optional[dict] = None):
        self.network = network
        self.trt = trt
        self.weights = weights or {}
        self._index = -1  # the layer being evaluated
        self._type_property = trt.ILayer.__dict__["type"]
        self.variant = variant
        self._rng = np.random.default_rng(variant.seed if variant is not None else 0)  # read only with a variant

    # ---- arithmetic variants ------------------------------------------------------------
    def summation_order(self, n: int) -> Optional[np.ndarray]:
        """A permutation of a contraction of length n to sum in, or None for the natural order."""
        if self.variant is None or not self.variant.shuffle_sums or n < 2:
            return None
        return self._rng.permutation(n)

    def contract(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b. Shuffled sums give each block of output columns its own summation order, as
        BLAS kernels do (main and edge tiles sum differently), so equal-valued outputs can differ."""
        if self.variant is None or not self.variant.shuffle_sums or a.shape[-1] < 2:
            return np.matmul(a, b)
        columns = np.array_split(np.arange(b.shape[-1]), min(b.shape[-1], 4))
        blocks = []
        for cols in columns:
            order = self._rng.permutation(a.shape[-1])
            blocks.append(np.matmul(a[..., order], b[..., order, :][..., cols]))
        return np.concatenate(blocks, axis=-1)

    def _round_differently(self, result: np.ndarray) -> np.ndarray:
        if self.variant is None or not self.variant.ulp_noise or not _is_float(result.dtype) or not result.size:
            return result
        # unit roundoff of the layer's output dtype (numpy's finfo does not know bfloat16; ml_dtypes' knows all)
        unit = float((_ml_dtypes.finfo if _ml_dtypes is not None else np.finfo)(result.dtype).eps) / 2
        noise = self._rng.uniform(-unit, unit, result.shape)
        return (result.astype(np.float64) * (1.0 + noise)).astype(result.dtype)

    def layer_weights(self, layer, attribute: str) -> np.ndarray:
        """A layer's weights (`weights`, `kernel`, `bias`, `shift`, ...) as numpy: the bindings'
        view of them, or for BF16, which the bindings give back as an opaque trt.Weights, the
        array the network build recorded handing over."""
        value = getattr(layer, attribute)
        if isinstance(value, np.ndarray):
            return value
        recorded = self.weights.get((self._index, attribute))
        if recorded is None or recorded.size != value.size:
            raise _unsupported(f"{_enum_name(value.dtype)} {attribute}: the TensorRT bindings do not give these "
                               "weights back, and no array was recorded for them (pass evaluate_network the "
                               "network build's `weights`)")
        return recorded

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

        for index, layer, kind in self._ordered_layers(set(input_names)):
            self._index = index
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
            yield index, layers[index], kinds[index]

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
            result = self._round_differently(result)
            values[tensor.name] = result if result.flags.c_contiguous else np.ascontiguousarray(result)


# ---- helpers shared by several layer families -------------------------------------------
def _input(ins, index):
    return ins[index] if index < len(ins) else None


def _normalize_axes(axes, rank):
    out = []
    for a in axes:
        a = int(a)
        if not -rank <= a < rank:
            raise _LayerFailure(f"axis {a} out of range for rank {rank}")
        out.append(normalise_axis(a, rank))
    return out


def _shape_values(array, what):
    array = np.asarray(array)
    if array.ndim > 1 or array.dtype.kind not in "iu":
        raise _LayerFailure(f"{what} must be a 1-D integer tensor, got {array.dtype} {array.shape}")
    return [int(v) for v in array.reshape(-1)]
