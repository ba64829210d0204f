"""Serialised subgraph -> INetworkDefinition, through the registered converters.

Each converter's output shapes are checked against Relax's, so a converter bug is reported at
the op that caused it rather than as a wrong number at the end of the model.
"""

from __future__ import annotations

import numpy as np

from tvm_tensorrt.errors import ConversionError
from tvm_tensorrt.trt_log import captured_errors
from .base import ConverterInput, ConverterParams, as_compute_dtype, get_converter, trt_weights
from .fusion import conv_biases, transposed_weights
from .patterns import PATTERN_KEYS, find_matches, pattern_converter, unused_after
from .weight_record import KeptArrays, RecordingNetwork

TRT_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "int32": "int32",
              "int64": "int64", "bool": "bool", "int8": "int8", "uint8": "uint8"}


def trt_dtype(trt, dtype: str):
    try:
        return getattr(trt, TRT_DTYPES[dtype])
    except (KeyError, AttributeError):
        raise ConversionError(f"dtype {dtype} has no TensorRT equivalent") from None


class NetworkBuild:
    """The network plus the numpy arrays it points into (they must outlive the engine build), and
    `weights`: {(layer index, attribute): array} for the weights the bindings cannot give back
    (BF16), which the CPU evaluator reads (evaluate_network(..., weights=))."""

    def __init__(self, network, keep_alive, weights=None, matches=(), refused=()):
        self.network = network
        self.keep_alive = keep_alive
        self.weights = weights if weights is not None else {}
        self.matches, self.refused = list(matches), list(refused)  # fusion_plan's answer, for explain()

    @property
    def fused(self) -> int:
        """Patterns built as one layer each (converters/patterns.py)."""
        return len(self.matches)


FLOATS = ("float32", "float16", "bfloat16")


def strongly_typed_flag(trt) -> int:
    """create_network's flags. TensorRT-RTX networks are always strongly typed; full TensorRT 10
    needs the flag, or it would pick layer precisions itself and FP16 casts would not mean what
    they say."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 1 << int(flag) if flag is not None else 0


def populate_network(trt, network, subgraph, precision: str = "fp32", fuse: bool = True) -> NetworkBuild:
    """Fill `network`. precision "fp16" ("bf16"): float inputs are cast to half (bfloat16) at the
    edge, weights are stored so, outputs are cast back, so a strongly typed engine computes in it.
    fuse=False: every pattern as its pieces (the engine builder's retry when TensorRT cannot build
    a fused layer)."""
    build = _Build(trt, network, subgraph, {"fp16": "float16", "bf16": "bfloat16"}.get(precision))
    for i, desc in enumerate(subgraph.inputs):
        tensor = network.add_input(desc["name"], trt_dtype(trt, desc["dtype"]), tuple(desc["shape"]))
        build.values[("input", i)] = [build.to_compute(tensor, desc["dtype"])]
    biases = conv_biases(subgraph)  # {convolution: (the add folded into it, bias weight)}
    folded = {add: conv for conv, (add, _) in biases.items()}
    build.transposed = transposed_weights(subgraph)  # {permute_dims read as a view: its weight}
    matches, refused = fusion_plan(subgraph, fuse, unavailable=set(biases) | set(folded) | set(build.transposed))
    fused = {m.root: m for m in matches}  # patterns.py: nodes built as one layer of their own
    inside = {i for m in matches for i in m.members if i != m.root}
    inside |= unused_after(subgraph, matches, inside)
    for index, node in enumerate(subgraph.nodes):
        if index in build.transposed or index in inside:
            continue
        if index in fused:
            match = fused[index]
            pattern = {"op": match.key, "inputs": match.inputs, "attrs": match.attrs, "outputs": node["outputs"]}
            build.values[("node", index)] = _convert_node(build, index, pattern, converter=pattern_converter(match.key))
            continue
        if index in folded:  # this add's result is the convolution's, bias included
            build.values[("node", index)] = build.values[("node", folded[index])]
            continue
        bias = build.weight(biases[index][1]).reshape(-1) if index in biases else None
        try:
            build.values[("node", index)] = _convert_node(build, index, node, bias)
        except ConversionError as err:
            err.node = index  # which call failed: the partitioner's conversion check sends it back to TVM
            raise
    for desc in subgraph.outputs:
        tensor = build.lookup(desc["ref"], "output")
        if build.compute_dtype and desc["dtype"] in FLOATS and desc["dtype"] != build.compute_dtype:
            tensor = network.add_cast(tensor, trt_dtype(trt, desc["dtype"])).get_output(0)
        if tensor.is_network_input:  # an output that is also an input needs its own tensor
            tensor = network.add_identity(tensor).get_output(0)
        tensor.name = desc["name"]
        network.mark_output(tensor)
    return NetworkBuild(network, build.keep_alive, build.network.weights, matches=matches, refused=refused)


def fusion_plan(subgraph, fuse: bool = True, unavailable=None) -> tuple[list, list]:
    """find_matches's (matches, refused) as populate_network uses them: the nodes its own
    peepholes take (fusion.py) are not available to a pattern. explain() reads the same answer.
    `unavailable`: those nodes, where the caller has found them already."""
    if unavailable is None:
        biases = conv_biases(subgraph)
        unavailable = set(biases) | {add for add, _ in biases.values()} | set(transposed_weights(subgraph))
    return find_matches(subgraph, subgraph.config.get("no_fuse", ()) if fuse else PATTERN_KEYS, unavailable=unavailable)


class _Build:
    def __init__(self, trt, network, subgraph, compute_dtype):
        self.keep_alive = KeptArrays()
        self.trt, self.network, self.subgraph = trt, RecordingNetwork(network, self.keep_alive), subgraph
        self.compute_dtype = compute_dtype  # None: each tensor keeps its Relax dtype
        self.values: dict = {}
        self.transposed: dict = {}
        self.shape_vars: dict = {}
        self.shared: dict = {}  # ConverterParams.shared

    def shape_var(self, name: str):
        """The shape variable `name` at run time: a dimension of the first network input that has
        it as a plain dim (the partitioner makes sure one does), read with shape layers."""
        if name not in self.shape_vars:
            for i, desc in enumerate(self.subgraph.inputs):
                if name in (desc.get("dims") or ()):
                    shape = self.network.add_shape(self.network.get_input(i)).get_output(0)
                    axis = np.array([desc["dims"].index(name)], dtype=np.int32)
                    index = self.network.add_constant((1,), trt_weights(self.trt, axis, self.keep_alive)).get_output(0)
                    self.shape_vars[name] = self.network.add_gather(shape, index, 0).get_output(0)
                    break
            else:
                raise ConversionError(f"no input of the subgraph has shape variable {name} as a dimension",
                                      symbol=self.subgraph.symbol)
        return self.shape_vars[name]

    def dtype_in_network(self, relax_dtype: str) -> str:
        return self.compute_dtype if self.compute_dtype and relax_dtype in FLOATS else relax_dtype

    def to_compute(self, tensor, relax_dtype: str):
        target = self.dtype_in_network(relax_dtype)
        if target == relax_dtype:
            return tensor
        return self.network.add_cast(tensor, trt_dtype(self.trt, target)).get_output(0)

    def weight(self, index: int) -> np.ndarray:
        array = self.subgraph.weights[index]
        return as_compute_dtype(array, self.dtype_in_network(str(array.dtype)))

    def weight_of(self, ref):
        """(the stored array, the array `ref` reads) of a weight, or of a transposed weight read
        as a view of its stored array; None when `ref` is computed."""
        if ref[0] == "weight":
            return self.subgraph.weights[ref[1]], self.weight(ref[1])
        if ref[0] == "node" and ref[1] in self.transposed:
            stored = self.subgraph.weights[self.transposed[ref[1]]]
            return stored.swapaxes(-1, -2), self.weight(self.transposed[ref[1]]).swapaxes(-1, -2)
        return None

    def lookup(self, ref, where):
        return _lookup(self, ref, where)


def _lookup(build, ref, where):
    kind = ref[0]
    subgraph = build.subgraph
    values = build.values
    weight = build.weight_of(ref)
    if weight is not None:
        array = weight[1]
        return build.network.add_constant(tuple(array.shape), trt_weights(build.trt, array, build.keep_alive)
                                          ).get_output(0)
    outs = values[(kind, ref[1])]
    index = ref[2] if kind == "node" else 0
    if index >= len(outs):
        raise ConversionError(f"{where} reads output {index} of node {ref[1]}, which its converter did not produce",
                              symbol=subgraph.symbol)
    return outs[index]


def _convert_node(build, index, node, bias=None, converter=None) -> list:
    trt, network, subgraph = build.trt, build.network, build.subgraph
    op = node["op"]
    converter = converter or get_converter(op)
    if converter is None:
        raise ConversionError("no converter is registered; register one with tvm_tensorrt.converters.register_converter",
                              symbol=subgraph.symbol, op_name=op)
    inputs = []
    for i, ref in enumerate(node["inputs"]):
        kind = converter.input_kind(i)
        weight = build.weight_of(ref)
        if weight is not None:
            array, in_network = weight
            inputs.append(ConverterInput(tuple(array.shape), str(array.dtype), weight=array)
                          if kind == "weight" else
                          ConverterInput(tuple(array.shape), build.dtype_in_network(str(array.dtype)),
                                         weight=in_network, materialize=lambda ref=ref: build.lookup(ref, op)))
            continue
        if kind == "weight":
            raise ConversionError(f"input {i} must be a constant weight but is computed in the graph",
                                  symbol=subgraph.symbol, op_name=op)
        desc = _describe(subgraph, ref)
        inputs.append(ConverterInput(tuple(desc["shape"]), build.dtype_in_network(desc["dtype"]),
                                     tensor=build.lookup(ref, op), dims=desc.get("dims")))
    layer_name = f"{subgraph.symbol}/{index}:{op}"
    out_dtypes = [build.dtype_in_network(o["dtype"]) for o in node["outputs"]]
    params = ConverterParams(network, trt, inputs, dict(node["attrs"]), op, layer_name,
                             [tuple(o["shape"]) for o in node["outputs"]], out_dtypes, build.keep_alive,
                             compute_dtype=build.compute_dtype or _float_dtype_of(inputs, out_dtypes),
                             output_dims=[o.get("dims") or o["shape"] for o in node["outputs"]],
                             shape_var=build.shape_var, bias=bias, shared=build.shared)
    first_layer = network.num_layers
    with captured_errors() as trt_errors:
        try:
            outputs = list(converter.convert(params))
            _check_outputs(subgraph, op, outputs, params.output_shapes)
        except ConversionError:
            raise
        except Exception as err:  # a converter bug, or TensorRT refusing what it built
            detail = f" (TensorRT: {'; '.join(trt_errors[-2:])})" if trt_errors else ""
            raise ConversionError(f"converter {type(converter).__name__} failed: {type(err).__name__}: {err}{detail}",
                                  symbol=subgraph.symbol, op_name=op) from err
    for k in range(first_layer, network.num_layers):
        network.get_layer(k).name = f"{layer_name}#{k - first_layer}"
    return outputs


def _float_dtype_of(inputs, out_dtypes) -> str:
    """The float precision a node computes in: its first float output's or input's dtype (a
    comparison's output is bool, a gather's indices int), float32 when it has none."""
    for dtype in list(out_dtypes) + [i.dtype for i in inputs]:
        if dtype in FLOATS:
            return dtype
    return "float32"


def _describe(subgraph, ref) -> dict:
    if ref[0] == "input":
        return subgraph.inputs[ref[1]]
    return subgraph.nodes[ref[1]]["outputs"][ref[2]]


def _check_outputs(subgraph, op, outputs, expected) -> None:
    if len(outputs) < len(expected):
        raise ConversionError(f"converter returned {len(outputs)} outputs, Relax has {len(expected)}",
                              symbol=subgraph.symbol, op_name=op)
    dynamic = any(-1 in d["shape"] for d in subgraph.inputs)  # TensorRT may not know every dim statically
    for k, (tensor, shape) in enumerate(zip(outputs, expected)):
        got = tuple(tensor.shape)
        if len(got) != len(shape) or any(e != -1 and g != e and not (dynamic and g == -1)
                                         for g, e in zip(got, shape)):
            raise ConversionError(f"output {k} has shape {got}, Relax expects {tuple(shape)}",
                                  symbol=subgraph.symbol, op_name=op)
