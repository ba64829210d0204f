"""Relax function -> Subgraph. The only place that reads Relax on the way to TensorRT, so
converters see plain data and an exported library needs nothing of the compile-time IR."""

from __future__ import annotations

import tvm
from tvm import relax

from ..errors import ConversionError
from tvm_tensorrt.partition.checks import constant_array, is_constant, listed, static_shape
from tvm_tensorrt.partition.symbolic_dims import dim_ast, is_size
from tvm_tensorrt.partition.graph import op_name
from tvm_tensorrt.partition.registry import get_rule
from ..formats.subgraph import Subgraph, decode, encode, make_subgraph, plain


def _tensor_desc(ty) -> dict:
    """Shape with -1 for each symbolic dimension (TensorRT's notation), plus, when there are
    any, `dims`: every dimension as formats.dims data, so the runtime can compute shapes."""
    shape = static_shape(ty)
    if shape is not None:
        return {"shape": list(shape), "dtype": str(ty.dtype)}
    values = getattr(ty.shape, "values", None)
    if values is None:
        raise ConversionError(f"a tensor of unknown rank ({ty}) cannot be offloaded")
    dims = [dim_ast(d) for d in values]
    if any(d is None for d in dims):
        raise ConversionError(f"tensor shape {ty.shape} has a dimension the runtime cannot evaluate")
    return {"shape": [d if isinstance(d, int) else -1 for d in dims], "dims": dims, "dtype": str(ty.dtype)}


def _argument(arg):
    """A shape or scalar argument as data; sizes (ints, shape variables, expressions over them)
    as formats.dims data, so a converter can compute a symbolic one at run time."""
    if isinstance(arg, relax.ShapeExpr):
        return [_size(d) for d in arg.values]
    if is_size(arg):
        return _size(arg)
    return plain(arg.value if hasattr(arg, "value") and not hasattr(arg, "values") else arg)


def _size(dim):
    ast = dim_ast(dim)
    if ast is None:
        raise ConversionError(f"size {dim} is an expression the TensorRT runtime cannot evaluate")
    return ast


def call_attrs(call) -> dict:
    """The call's attributes as data: its rule's attribute writer when it has one, else each
    field of the attrs node; a field the format cannot carry is a ConversionError naming it."""
    name = op_name(call)
    rule = get_rule(name) if name else None
    if rule is not None and rule.attributes is not None:
        return rule.attributes(call)
    attrs = {}
    if call.attrs is not None and hasattr(type(call.attrs), "__tvm_ffi_type_info__"):
        for f in type(call.attrs).__tvm_ffi_type_info__.fields:
            try:
                attrs[f.name] = plain(getattr(call.attrs, f.name))
            except TypeError as err:
                raise ConversionError(f"attribute {f.name} is {err}, which a serialised subgraph cannot carry; "
                                      "give the op's rule an attribute writer (register_rule(..., attributes=...))",
                                      op_name=name) from None
    return attrs


class _Writer:
    def __init__(self, symbol: str):
        self.symbol = symbol
        self.refs: dict = {}  # relax Var -> ref
        self.weights: list = []
        self.constants: list = []  # the relax constants the weights come from, in the same order
        self.weight_index: dict = {}
        self.nodes: list = []

    def weight_ref(self, const) -> list:
        if const not in self.weight_index:  # TVM objects hash and compare by identity
            self.weight_index[const] = len(self.weights)
            self.weights.append(constant_array(const))
            self.constants.append(const)
        return ["weight", self.weight_index[const]]

    def tensor_ref(self, expr, where: str) -> list:
        if is_constant(expr):
            return self.weight_ref(expr)
        if expr in self.refs:
            return self.refs[expr]
        raise ConversionError(f"{where} reads {expr} which the subgraph does not define", symbol=self.symbol)

    def add_call(self, var, call) -> None:
        name = op_name(call)
        if name is None:
            raise ConversionError(f"binding {var.name} is not an operator call", symbol=self.symbol)
        rule = get_rule(name)
        names = (rule.argument_names if rule is not None else ()) or \
            [a.name for a in tvm.ir.Op.get(call.op.name).arguments]
        inputs, attrs, args = [], call_attrs(call), listed(call.args)
        if len(args) > len(names):
            raise ConversionError(f"{len(args)} arguments where the operator names {len(names)}: give its rule "
                                  "argument_names", symbol=self.symbol, op_name=name)
        for arg_name, arg in zip(names, args):
            if isinstance(arg, relax.Tuple) and not all(isinstance(f.ty, relax.TensorType) for f in arg.fields):
                attrs[arg_name] = [_argument(f) for f in arg.fields]  # strided_slice's begin/end: sizes
            elif isinstance(arg, relax.Tuple):
                inputs.extend(self.tensor_ref(f, name) for f in arg.fields)
            elif isinstance(arg.ty, relax.TensorType):
                inputs.append(self.tensor_ref(arg, name))
            else:  # shapes and scalars are attributes, named as the operator names its arguments
                attrs[arg_name] = _argument(arg)
        outs = call.ty.fields if isinstance(call.ty, relax.TupleType) else [call.ty]
        index = len(self.nodes)
        self.nodes.append({"op": name, "inputs": inputs, "attrs": attrs,
                           "outputs": [_tensor_desc(t) for t in outs]})
        if isinstance(call.ty, relax.TupleType):
            self.refs[var] = ["tuple", index]
        else:
            self.refs[var] = ["node", index, 0]

    def add_binding(self, binding) -> None:
        value = binding.value
        if isinstance(value, relax.Call):
            self.add_call(binding.var, value)
        elif isinstance(value, relax.TupleGetItem):
            ref = self.refs.get(value.tuple_value)
            if not ref or ref[0] != "tuple":
                raise ConversionError(f"{binding.var.name} takes a field of a non-tuple", symbol=self.symbol)
            self.refs[binding.var] = ["node", ref[1], int(value.index)]
        elif isinstance(value, relax.Var):
            self.refs[binding.var] = self.refs[value]
        elif isinstance(value, relax.Tuple):
            self.refs[binding.var] = ["result", [self.tensor_ref(f, "return") for f in value.fields]]
        else:
            raise ConversionError(f"cannot serialise a {type(value).__name__} binding", symbol=self.symbol)


def _write(func: relax.Function, symbol: str, config: dict) -> tuple[dict, _Writer]:
    writer = _Writer(symbol)
    inputs = []
    for i, param in enumerate(func.params):
        inputs.append({"name": f"input_{i}", **_tensor_desc(param.ty)})
        writer.refs[param] = ["input", i]
    for block in func.body.blocks:
        for binding in block.bindings:
            writer.add_binding(binding)
    result = writer.refs.get(func.body.body) if isinstance(func.body.body, relax.Var) else None
    if result is None:
        raise ConversionError("the function must return a var", symbol=symbol)
    results = result[1] if result[0] == "result" else [result]
    ret_types = func.ret_ty.fields if isinstance(func.ret_ty, relax.TupleType) else [func.ret_ty]
    outputs = [{"name": f"output_{i}", "ref": ref, **_tensor_desc(t)} for i, (ref, t) in enumerate(zip(results, ret_types))]
    header = {"symbol": symbol, "config": config, "inputs": inputs, "outputs": outputs, "nodes": writer.nodes,
              "returns_tuple": isinstance(func.ret_ty, relax.TupleType)}
    return header, writer


def serialize_function(func: relax.Function, symbol: str, config: dict) -> bytes:
    """The blob for one offloaded function; `config` is the partition config (engine options)."""
    header, writer = _write(func, symbol, config)
    return encode(header, writer.weights)


def serialize_sharing_weights(func: relax.Function, symbol: str, config: dict) -> tuple[bytes, list, Subgraph]:
    """(blob without weight bytes, the relax constants that hold them in the blob's order, the
    decoded subgraph): the caller passes those constants beside the blob, so the weights exist
    once, wherever the rest of the program keeps its constants."""
    header, writer = _write(func, symbol, config)
    blob = encode(header, writer.weights, external_weights=True)
    return blob, writer.constants, decode(blob, verify=False, weights=writer.weights)


def subgraph_of(func: relax.Function, symbol: str, config: dict) -> Subgraph:
    """The Subgraph `serialize_function` would write, without writing it (weights not copied)."""
    header, writer = _write(func, symbol, config)
    return make_subgraph(header, writer.weights)
