"""Shared predicates for rules: each returns None when fine, or the reason it is not.

Rules combine these with `first_reason` so a rejection always names the first thing that failed.

Batch modes. `use_implicit_batch=None` (the default) means explicit for a TensorRT >= 10 target
and implicit below 10 (config.resolve_batch_mode). With `use_implicit_batch=True` axis 0 of every tensor a subgraph
reads or writes is the batch dimension: an offloaded op may not read across it, move it or
change it, so the engine can take any batch size. Three layers enforce that:

* `check_batch_dim` (every op): each computed input and the output have rank >= 1 and the same
  dim 0; constants (weights) are exempt, they are not subgraph inputs;
* the op's rule: axis arguments that name axis 0 (`check_axes_avoid_batch`), permutations that
  move it, broadcasting that would stretch an input over it;
* region formation: a subgraph's ops, hence its inputs, share one batch size (`batch_key`).

A symbolic dim 0 with every other dim static passes the shape checks in implicit mode.

TensorRT 10 has no implicit batch: every network is explicit-batch, and the mode survives as a
contract that one engine serves any batch size. That contract only means something where the
batch dimension can vary, so for a target TensorRT >= 10 the limits above apply only to calls
that touch a symbolic dim 0 (`limits_apply`); a call on static shapes is judged as in explicit
mode, since nothing can vary on its axis 0. Targets below 10 keep the original limits exactly.

Dtypes: rules accept float tensors unless they declare more (`register_rule(dtypes=...)`);
shape ops, comparisons and the like carry int32/int64/bool tensors (masks, position ids) too.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Optional

import contextlib
import contextvars

import numpy as np
import tvm
from tvm import relax

from tvm_tensorrt.common import normalise_axis  # noqa: F401  (rules import it from here with the other checks)
from .config import IMPLICIT_BATCH_DROPPED_IN
from .symbolic_dims import dim_ast, dim_text, symbolic_dims
from tvm_tensorrt.shared_tensors import shared_tensor

FLOAT_DTYPES = ("float32", "float16", "bfloat16")
INT_DTYPES = ("int32", "int64")
NUMERIC_DTYPES = FLOAT_DTYPES + INT_DTYPES
ANY_DTYPES = NUMERIC_DTYPES + ("bool",)
QUANTIZED_DTYPES = ("int8", "uint8")  # only between a quantize and a dequantize (explicit quantization)
IMPLICIT_HINT = "use_implicit_batch=False offloads it"


def listed(array) -> list:
    """A TVM array's elements as a list. Iterating a TVM array runs Python code for each
    element (3 us); a slice fetches them in one comprehension, 3-4 times faster. Shapes, args
    and bindings are read thousands of times in a partition (ShuffleNet's: 7% faster so)."""
    return array[:]


def shape_dims(ty) -> Optional[list]:
    """A tensor type's dims (TIR expressions), or None when the type has no known shape."""
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None
    values = getattr(ty.shape, "values", None)
    return None if values is None else listed(values)


def static_shape(ty) -> Optional[tuple]:
    """The shape as ints, or None when unknown or symbolic."""
    values = shape_dims(ty)
    if values is None or not all(isinstance(d, tvm.ir.prim.expr.IntImm) for d in values):
        return None
    return tuple(int(d) for d in values)


def dims(expr_or_ty) -> Optional[tuple]:
    """The shape with -1 for each symbolic dim; None when the rank or shape is unknown."""
    values = shape_dims(expr_or_ty.ty if isinstance(expr_or_ty, relax.Expr) else expr_or_ty)
    if values is None:
        return None
    return tuple(int(d) if isinstance(d, tvm.ir.prim.expr.IntImm) else -1 for d in values)


def shape_text(ty) -> str:
    """"1x64x56x56", "batchx128" (symbolic dims by name), "?" when unknown: for people."""
    if not isinstance(ty, relax.TensorType) or getattr(ty.shape, "values", None) is None:
        return "?"
    return "x".join(dim_text(d) for d in ty.shape.values) or "scalar"


def dtype_of(ty) -> Optional[str]:
    return str(ty.dtype) if isinstance(ty, relax.TensorType) else None


def is_constant(expr) -> bool:
    """A tensor constant (TVM 0.27 names the class GenericConst; scalars are IntImm/FloatImm)."""
    return isinstance(expr, tvm.ir.expr.GenericConst)


def constant_array(const) -> "np.ndarray":
    """A constant's values as a read-only numpy view of its bytes: weights are read, never copied
    (a copy only where dlpack cannot carry the dtype)."""
    try:
        array = np.from_dlpack(const.value)
    except (TypeError, BufferError, RuntimeError):
        return const.value.numpy()
    array.flags.writeable = False
    return array


def array_constant(array) -> relax.Expr:
    """A relax constant holding `array` exactly (its dtype kept; relax.const would narrow int64),
    copied once."""
    return relax.const(tvm.runtime.tensor(np.asarray(array, order="C")))


def owned_array_constant(array) -> relax.Expr:
    """A relax constant over `array`'s own memory, not a copy: for arrays made for the constant
    (with shared_tensors.aligned_empty) and never written again, such as a folded weight."""
    return relax.const(shared_tensor(array))


def tensor_args(call) -> list:
    """Tensor-valued arguments, with tuples (e.g. concat's inputs) flattened."""
    found = []
    for arg in listed(call.args):
        if isinstance(arg, relax.Tuple):
            found.extend(f for f in listed(arg.fields) if isinstance(f.ty, relax.TensorType))
        elif isinstance(arg.ty, relax.TensorType):
            found.append(arg)
    return found


def computed_args(call) -> list:
    """Tensor arguments that are not constants: what becomes a subgraph input or edge."""
    return [a for a in tensor_args(call) if not is_constant(a)]


def output_types(call) -> list:
    out = call.ty
    return listed(out.fields) if isinstance(out, relax.TupleType) else [out]


def first_reason(*reasons: Optional[str]) -> Optional[str]:
    for reason in reasons:
        if reason:
            return reason
    return None


def implicit_batch(config: dict) -> bool:
    return bool(config.get("use_implicit_batch", True))


def target_text(config: dict) -> str:
    """The target TensorRT release as people write it, for reasons and reports."""
    return ".".join(str(v) for v in config["tensorrt_version"])


def before_tensorrt_10(config: dict) -> bool:
    return tuple(config.get("tensorrt_version", IMPLICIT_BATCH_DROPPED_IN)) < IMPLICIT_BATCH_DROPPED_IN


def has_symbolic_batch(call) -> bool:
    """Does any tensor the call reads or writes have a symbolic dim 0?"""
    if _JUDGED.get().static:
        return False
    types = [a.ty for a in tensor_args(call)] + output_types(call)
    return any(isinstance(batch_key(ty), str) for ty in types)


def limits_apply(call, config: dict, dynamic: bool = False) -> bool:
    """Do the implicit-batch limits bind this call? (see the module docstring) They also bind a
    call on a symbolic batch in explicit mode when its converter needs static shapes
    (`dynamic=False`): such converters cope with a symbolic dim 0 only while nothing reads,
    moves or changes it."""
    if not implicit_batch(config):
        return not dynamic and has_symbolic_batch(call)
    if before_tensorrt_10(config):
        return True
    return has_symbolic_batch(call)


def config_for_call(call, config: dict, dynamic: bool = False) -> dict:
    """The config a call's checks see: the batch mode that binds it."""
    binding = limits_apply(call, config, dynamic)
    if binding != implicit_batch(config):
        return {**config, "use_implicit_batch": binding}
    return config


def batch_mode_note(config: dict) -> str:
    """One line for reports: the batch mode and what it means for this target."""
    version = target_text(config)
    if not implicit_batch(config):
        if config.get("batch_mode_chosen") == "default":
            return (f"batch mode: explicit (TensorRT {version}): ops may read, move or change axis 0 (the default "
                    "for TensorRT >= 10, which has no implicit batch)")
        return f"batch mode: explicit (TensorRT {version}): ops may read, move or change axis 0"
    if before_tensorrt_10(config):
        chosen = " (the default below TensorRT 10)" if config.get("batch_mode_chosen") == "default" else ""
        return (f"batch mode: implicit (TensorRT {version}): axis 0 is the batch; ops that read, move or change "
                f"it stay in TVM{chosen}")
    return (f"batch mode: implicit, on TensorRT {version} (no implicit batch there): its limits bind only ops on "
            "a symbolic batch")


STATIC_AXIS_HINT = "its converter needs axis 0 left alone when the batch is symbolic"


def explicit_mode_reason(reason: str) -> str:
    """In explicit mode the implicit-batch limits bind only ops whose converter needs them
    (limits_apply); their reasons must not suggest explicit mode as the fix."""
    return reason.replace(IMPLICIT_HINT, STATIC_AXIS_HINT)


def _shape_reason(ty, what: str, config: dict, dynamic: bool) -> Optional[str]:
    """Static shapes pass. A symbolic dim 0 passes where the implicit-batch limits bind (they
    keep such calls off axis 0). Other symbolic dims pass only for rules registered with
    dynamic=True, whose converters compute shapes at run time, and only as expressions the
    runtime can evaluate."""
    if ty.shape is None or getattr(ty.shape, "values", None) is None:
        return (f"{what} has an unknown shape; only tensors of known rank are offloaded (give the model's input "
                "shapes: from_onnx(..., shape_dict={name: shape}), CLI --shape NAME=D0,D1,...)")
    symbolic = [] if _JUDGED.get().static else symbolic_dims(ty)
    if not symbolic or ([a for a, _ in symbolic] == [0] and implicit_batch(config)):
        return None
    shape = "(" + ", ".join(dim_text(d) for d in ty.shape.values) + ")"
    if dynamic and before_tensorrt_10(config):
        return (f"{what} has a dynamic shape {shape}; sizes computed at run time (INT64 shape tensors) need "
                f"TensorRT >= 10, but the target is TensorRT {target_text(config)}")
    if not dynamic:
        return (f"{what} has a dynamic shape {shape}; this op's converter needs static shapes (a symbolic dim 0 "
                "is taken where the op leaves that axis alone)")
    for _, d in symbolic:
        if dim_ast(d) is None:
            return f"{what} has dimension {d}, an expression the TensorRT runtime cannot evaluate"
    return None


def check_tensor(expr_or_ty, what: str, config: Optional[dict] = None,
                 dtypes: tuple = FLOAT_DTYPES, dynamic: bool = False) -> Optional[str]:
    """TensorRT needs dtypes the op's layer takes, and shapes its converter can build (see
    _shape_reason)."""
    ty = expr_or_ty.ty if isinstance(expr_or_ty, relax.Expr) else expr_or_ty
    if not isinstance(ty, relax.TensorType):
        return f"{what} is not a tensor ({type(ty).__name__})"
    dtype = dtype_of(ty)
    if dtype not in dtypes:
        return f"{what} has dtype {dtype}; the TensorRT layer for this op takes {'/'.join(dtypes)}"
    if dtype == "int64" and config is not None and before_tensorrt_10(config):
        return (f"{what} has dtype int64, which TensorRT supports from release 10; the target is TensorRT "
                f"{target_text(config)}")
    return _shape_reason(ty, what, config if config is not None else {"use_implicit_batch": False}, dynamic)


def check_call_tensors(call, config: Optional[dict] = None, dtypes: tuple = FLOAT_DTYPES,
                       dynamic: bool = False) -> Optional[str]:
    """Every tensor input and every output must pass check_tensor."""
    for i, arg in enumerate(tensor_args(call)):
        reason = check_tensor(arg, f"input {i}", config, dtypes, dynamic)
        if reason:
            return reason
    outputs = output_types(call)
    for k, ty in enumerate(outputs):
        what = "output" if len(outputs) == 1 else f"output {k}"
        if not isinstance(ty, relax.TensorType):
            return f"{what} is {type(ty).__name__}, not a tensor"
        reason = check_tensor(ty, what, config, dtypes, dynamic)
        if reason:
            return reason
    return None


def batch_key(ty):
    """Dim 0 as an int, or as text when symbolic; None for scalars and non-tensors."""
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None
    values = getattr(ty.shape, "values", None)
    if not values:
        return None
    first = values[0]
    return int(first) if isinstance(first, tvm.ir.prim.expr.IntImm) else dim_text(first)


def check_batch_dim(call, config: dict) -> Optional[str]:
    """Implicit batch: computed inputs and the (first) output keep one batch dimension, dim 0.

    Only a tuple's first field is checked: the other fields of the tuple-producing ops we
    offload are either checked by their rule (split) or constants (batch_norm's statistics).
    """
    if not implicit_batch(config):
        return None
    for i, arg in enumerate(tensor_args(call)):
        if not is_weight(arg) and arg.ty.ndim == 0:
            return f"input {i} is a scalar, which has no batch dimension ({IMPLICIT_HINT})"
    out = output_types(call)[0]
    if isinstance(out, relax.TensorType) and out.ndim == 0:
        return f"its output is a scalar, which has no batch dimension ({IMPLICIT_HINT})"
    expected = batch_key(out)
    for i, arg in enumerate(tensor_args(call)):
        if is_weight(arg):
            continue
        key = batch_key(arg.ty)
        if key != expected:
            return (f"input {i} has dim 0 = {key} but the output has {expected}: it would read or change the "
                    f"batch dimension ({IMPLICIT_HINT})")
    return None


def check_axes_avoid_batch(axes, rank: int, config: dict, what: str) -> Optional[str]:
    """Implicit batch: `axes` (ints, negatives allowed; None means all) must not include 0."""
    if not implicit_batch(config):
        return None
    if axes is None or 0 in [normalise_axis(int(a), rank) for a in axes]:
        return f"{what} includes axis 0, the batch dimension ({IMPLICIT_HINT})"
    return None


def check_constant(expr, what: str) -> Optional[str]:
    if not is_constant(expr):
        return f"{what} must be a constant (bind params first) because TensorRT builds it into the engine"
    return None


class _JudgedBlock(NamedTuple):
    values: dict  # {var: value}: rules see the binding that made an argument
    static: bool  # every tensor in the block has a static shape


_JUDGED: contextvars.ContextVar = contextvars.ContextVar("judged_block", default=_JudgedBlock({}, False))


@contextlib.contextmanager
def judging(values: dict, static: bool):
    """The block whose calls are being judged. `static` spares the batch and shape checks their
    search for symbolic dims, which ran twice a call: a third of the judging on a CNN."""
    token = _JUDGED.set(_JudgedBlock(values, static))
    try:
        yield
    finally:
        _JUDGED.reset(token)


def static_type(ty) -> bool:
    """No symbolic or unknown dims in a tensor type, or in a tuple's tensors (other types carry no
    tensor shape the checks read)."""
    if isinstance(ty, relax.TupleType):
        return all(static_type(f) for f in listed(ty.fields))
    return not isinstance(ty, relax.TensorType) or static_shape(ty) is not None


def is_quantized_constant(expr) -> bool:
    """A dequantize of a constant: quantized weights, which TensorRT builds into the engine as a
    constant and a dequantize layer, as it does with plain constant weights."""
    value = _JUDGED.get().values.get(expr) if isinstance(expr, relax.Var) else None
    return isinstance(value, relax.Call) and getattr(value.op, "name", None) == "relax.dequantize" \
        and is_constant(value.args[0])


def is_transposed_weight(value) -> bool:
    """permute_dims of a constant that swaps its last two axes only: what the fold keeps for a
    matmul to read as stored (partition/fold.py, transposed_weights)."""
    if not isinstance(value, relax.Call) or getattr(value.op, "name", None) != "relax.permute_dims" \
            or not is_constant(value.args[0]):
        return False
    rank = len(value.args[0].ty.shape.values) if value.args[0].ty.shape is not None else 0
    axes = list(reversed(range(rank))) if value.attrs.axes is None else [int(a) for a in listed(value.attrs.axes)]
    return rank >= 2 and axes == list(range(rank - 2)) + [rank - 1, rank - 2]


def is_transposed_constant(expr) -> bool:
    """A var bound to a transposed weight: weights too, with no batch dimension."""
    return isinstance(expr, relax.Var) and is_transposed_weight(_JUDGED.get().values.get(expr))


def is_weight(expr) -> bool:
    """A constant or quantized constant weights: built into the engine, no batch dimension."""
    return is_constant(expr) or is_quantized_constant(expr) or is_transposed_constant(expr)


def check_constant_kernel(expr, what: str) -> Optional[str]:
    """Constant weights, or quantized constant weights (a dequantize of a constant)."""
    if is_weight(expr):
        return None
    return (f"{what} must be a constant, or a dequantize of a constant (bind params first) because TensorRT "
            "builds it into the engine")


def check_layout(actual: str, allowed: Iterable[str], what: str) -> Optional[str]:
    allowed = tuple(allowed)
    if actual not in allowed:
        return f"{what} is {actual}; TensorRT rules accept {'/'.join(allowed)} (convert the layout first)"
    return None


def check_version(config: dict, version: tuple, what: str) -> Optional[str]:
    """For attributes that need a newer TensorRT than the op itself."""
    target = tuple(config["tensorrt_version"])
    if target < tuple(version):
        return (f"{what} needs TensorRT >= {'.'.join(map(str, version))}, "
                f"but the target is TensorRT {'.'.join(map(str, target))}")
    return None


def check_same_dtype_out(call, what: str) -> Optional[str]:
    """Ops with an out_dtype attribute: TensorRT networks here compute in the input dtype."""
    out_dtype = getattr(call.attrs, "out_dtype", None)
    if out_dtype is None or str(out_dtype) in ("", "void", str(call.args[0].ty.dtype)):
        return None
    return f"{what} out_dtype {out_dtype} differs from its input dtype {call.args[0].ty.dtype}"


def rank_of(expr) -> int:
    ty = expr.ty
    return int(ty.ndim) if isinstance(ty, relax.TensorType) and ty.ndim >= 0 else 0


def ints(values) -> Optional[list]:
    """Attribute arrays as Python ints (None stays None)."""
    return None if values is None else [int(v) for v in values]


def numel(shape) -> int:
    """Element count; a symbolic (-1) batch counts as 1, so MACs are per batch item then."""
    total = 1
    for d in shape or ():
        total *= max(int(d), 1)
    return total
