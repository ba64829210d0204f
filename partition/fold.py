"""Fold calls whose inputs are all constants (ONNX models compute weights in the graph:
ConstantOfShape, transposed Gemm weights, reshaped biases), so TensorRT sees constant weights.

Shape arithmetic on static shapes folds too: ONNX exports read shapes at run time (Shape ->
Gather -> Concat -> Reshape), which TVM imports as shape_of / shape_to_tensor and int64 math.
Where the shape is static it is a constant, and so is everything computed from it; left in the
graph those ops would cut the TensorRT subgraphs apart.

Relax's FoldConstant legalizes every call in the module to find the foldable ones, which costs
seconds per thousand ops; this walks the bindings once, folds data movement and simple
arithmetic with numpy (a call TVM folds costs ~30 ms of code generation), and hands only the
rest to FoldConstant.
"""

from __future__ import annotations

import concurrent.futures
from typing import Optional

import numpy as np
import tvm
import tvm_ffi
from tvm import relax

from tvm_tensorrt.shared_tensors import aligned_empty
from .checks import constant_array, is_constant, is_transposed_weight, listed, owned_array_constant
from .fold_batch_norm import fold_batch_norms, standardised
from .fold_identities import identity_source, merged_reshape
from .shape_values import ShapeValues, bind_sizes
from .graph import retyped, substitute, used_vars


# Ops that make a tensor from sizes alone (no tensor argument): constant when the sizes are.
MADE_FROM_SIZES = ("relax.arange", "relax.zeros", "relax.ones", "relax.full", "relax.eye")


# Quantized weights stay quantized where TensorRT computes with them in INT8 (a convolution's
# kernel, a matmul operand): there dequantize(int8 constant) must reach the engine, not a float
# copy of the weights. Elsewhere (a batch norm's scale, an int32 bias) it folds into a float
# constant, which is what those layers take.
INT8_CONSUMERS = {"relax.nn.conv2d": (1,), "relax.nn.conv3d": (1,), "relax.matmul": (0, 1)}

# A transposed weight (ONNX Gemm's transB, which TVM imports as permute_dims of the weights)
# stays unfolded where only matmuls read it as their right operand: TensorRT's matrix multiply
# reads the weights as stored (MatrixOperation.TRANSPOSE, as NVIDIA's parser gives it transB).
# Folded, it cost a transpose here and a slower build there (VGG's 400 MB fc6: 0.3-0.9 s each).
# What stays in TVM after the partition is folded then (fold_transposed_weights).
TRANSPOSED_CONSUMERS = {"relax.matmul": (1,)}


def _read_only_at(func: relax.Function, candidates: set, consumers: dict) -> set:
    """The candidate vars that only the given positions of the given ops read."""
    if not candidates:
        return candidates
    rejected = set()

    def reject_any(expr) -> None:
        rejected.update(v for v in used_vars(expr) if v in candidates)

    for block in func.body.blocks:
        for binding in block.bindings:
            value = binding.value
            if not isinstance(value, relax.Call):
                reject_any(value)
                continue
            allowed = consumers.get(getattr(value.op, "name", None), ())
            for i, arg in enumerate(listed(value.args)):
                if isinstance(arg, relax.Var):  # the common case, checked without a free-var walk
                    if arg in candidates and i not in allowed:
                        rejected.add(arg)
                elif isinstance(arg, (relax.Tuple, relax.TupleGetItem, relax.Call)):
                    reject_any(arg)
    reject_any(func.body.body)
    return candidates - rejected


def _bindings(func: relax.Function):
    return (b for block in func.body.blocks for b in block.bindings if isinstance(b, relax.VarBinding))


def quantized_weights(func: relax.Function) -> set:
    """Vars bound to dequantize(int8 constant) that only INT8-capable positions read."""
    candidates = {b.var for b in _bindings(func)
                  if isinstance(b.value, relax.Call) and getattr(b.value.op, "name", None) == "relax.dequantize"
                  and is_constant(b.value.args[0]) and str(b.value.args[0].ty.dtype) == "int8"}
    return _read_only_at(func, candidates, INT8_CONSUMERS)


def transposed_weights(func: relax.Function) -> set:
    """Vars bound to a transposed weight that only matmuls read, as their right operand."""
    return _read_only_at(func, {b.var for b in _bindings(func) if is_transposed_weight(b.value)},
                         TRANSPOSED_CONSUMERS)


def fold_transposed_weights(func: relax.Function) -> relax.Function:
    """Fold the transposed weights left outside TensorRT subgraphs (their matmul stayed in TVM),
    as everything else the partition leaves to TVM is: the var is bound to the constant."""
    folded = {b.var: _numpy_fold(b.value) for b in _bindings(func) if is_transposed_weight(b.value)}
    folded = {var: value for var, value in folded.items() if value is not None}
    if not folded:
        return func
    blocks = [type(block)([relax.VarBinding(b.var, folded[b.var]) if b.var in folded else b for b in block.bindings])
              for block in func.body.blocks]
    return relax.Function(func.params, relax.SeqExpr(blocks, func.body.body), func.ret_ty, func.is_pure, func.attrs)


def _foldable(value) -> bool:
    if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
        return False
    if value.op.name == "relax.quantize":
        return False  # a quantize of constants is rare; left for TensorRT to see as written
    if not isinstance(value.ty, relax.TensorType):
        return False
    constant = False
    for arg in listed(value.args):  # most calls read a var: stop at the first
        for field in (listed(arg.fields) if isinstance(arg, relax.Tuple) else (arg,)):
            if isinstance(field, relax.Var):  # a value, or a size variable
                return False
            constant = constant or is_constant(field)
    return constant or value.op.name in MADE_FROM_SIZES


def _constant_args(call) -> Optional[list]:
    """The call's tensor arguments as numpy arrays (tuple fields flattened; shapes and sizes are
    read from the call), or None when one is not a constant."""
    values = []
    for arg in call.args:
        for field in (arg.fields if isinstance(arg, relax.Tuple) else [arg]):
            if not isinstance(field.ty, relax.TensorType):
                continue
            if not is_constant(field):
                return None
            values.append(constant_array(field))
    return values


def _ints(values) -> list:
    return [int(v) for v in values]


def _transpose(array: np.ndarray, axes) -> np.ndarray:
    """np.transpose; a large matrix is copied in bands of rows, 3x faster than numpy's own copy of
    the transposed view, on two threads (numpy lets go of the GIL), into aligned memory that the
    folded constant then shares (Gemm weights with transB: VGG-19's 400 MB fc6)."""
    if array.ndim != 2 or axes not in (None, [1, 0]) or array.size < (1 << 20):
        return np.transpose(array, axes)
    out = aligned_empty(array.shape[::-1], array.dtype)

    def bands(first: int, last: int) -> None:
        for row in range(first, last, 256):
            out[:, row:min(row + 256, last)] = array[row:min(row + 256, last)].T

    middle = array.shape[0] // 512 * 256  # a band boundary
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tvm_tensorrt_fold") as pool:
        later = pool.submit(bands, middle, array.shape[0])
        bands(0, middle)
        later.result()
    return out


def _gather(call, a, gather) -> Optional[np.ndarray]:
    """take / gather_elements where every index is in range: there TVM's modes (fast, clip,
    wrap) all agree with numpy; otherwise TVM decides."""
    data, indices = a
    axis = call.attrs.axis
    size = data.size if axis is None else data.shape[int(axis)]
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        return None
    return gather(data.reshape(-1) if axis is None else data, indices, None if axis is None else int(axis))


def _correctly_rounded(fn):
    """A float32/float16 math function computed in float64 and rounded once: the correctly
    rounded result (almost always), where TVM's own (LLVM's intrinsics) is up to an ulp off it.
    LLaMA's rotary tables are sin and cos of constants: two folds TVM would compile with LLVM."""
    def evaluate(call, a):
        return fn(a[0].astype(np.float64)).astype(a[0].dtype) if a[0].dtype.kind == "f" else None
    return evaluate


# op -> numpy evaluation (call, argument arrays) -> array; what TVM computes, exactly: data
# movement, and float arithmetic that is IEEE either way; math functions correctly rounded.
# Anything else goes to FoldConstant, whose code generation costs 20-50 ms a call.
_NUMPY = {
    "relax.reshape": lambda call, a: a[0].reshape(_ints(call.args[1].values)),
    "relax.permute_dims": lambda call, a: _transpose(
        a[0], None if call.attrs.axes is None else _ints(call.attrs.axes)),
    "relax.expand_dims": lambda call, a: a[0].reshape(_ints(call.ty.shape.values)),
    "relax.squeeze": lambda call, a: a[0].reshape(_ints(call.ty.shape.values)),
    "relax.broadcast_to": lambda call, a: np.broadcast_to(a[0], _ints(call.args[1].values)),
    "relax.concat": lambda call, a: np.concatenate(a, axis=int(call.attrs.axis)),
    "relax.astype": lambda call, a: a[0].astype(str(call.attrs.dtype)),
    "relax.where": lambda call, a: np.where(a[0], a[1], a[2]),
    "relax.less": lambda call, a: np.less(a[0], a[1]),
    "relax.greater": lambda call, a: np.greater(a[0], a[1]),
    "relax.equal": lambda call, a: np.equal(a[0], a[1]),
    "relax.add": lambda call, a: np.add(a[0], a[1]),
    "relax.subtract": lambda call, a: np.subtract(a[0], a[1]),
    "relax.multiply": lambda call, a: np.multiply(a[0], a[1]),
    "relax.negative": lambda call, a: np.negative(a[0]),
    "relax.take": lambda call, a: _gather(call, a, lambda d, i, axis: np.take(d, i, axis=axis)),
    "relax.gather_elements": lambda call, a: _gather(call, a, np.take_along_axis),
    "relax.sin": _correctly_rounded(np.sin),
    "relax.cos": _correctly_rounded(np.cos),
    "relax.exp": _correctly_rounded(np.exp),
    "relax.log": _correctly_rounded(np.log),
}


def _numpy_fold(call) -> Optional[relax.Expr]:
    """The folded constant computed with numpy, or None (then TVM folds it)."""
    evaluate = _NUMPY.get(call.op.name)
    args = _constant_args(call) if evaluate is not None else None
    if args is None:
        return None
    if call.op.name in ("relax.astype",) and any(a.dtype.kind == "f" for a in args) \
            and np.dtype(str(call.attrs.dtype)).kind in "iub":
        return None  # float -> int casts of out-of-range values differ between numpy and TVM
    try:
        with np.errstate(all="ignore"):
            value = evaluate(call, args)
    except (ValueError, TypeError):
        return None
    if value is None:
        return None
    value = np.asarray(value)
    dtype = str(call.ty.dtype)
    if tuple(value.shape) != tuple(_ints(call.ty.shape.values)) or str(value.dtype) != dtype:
        return None  # a promotion or broadcast numpy does differently: let TVM decide
    return owned_array_constant(value)  # shared where it is fresh, aligned memory (_transpose's); else copied


def _evaluate(call) -> relax.Expr:
    """The folded constant for `call`, or the call itself when TVM cannot fold it."""
    folded = _numpy_fold(call)
    if folded is not None:
        return folded
    bb = relax.BlockBuilder()
    with bb.function("main", []):
        with bb.dataflow():  # FoldConstant only folds inside dataflow blocks
            out = bb.emit_output(call)
        bb.emit_func_output(out)
    result = relax.transform.FoldConstant()(bb.get())["main"].body.body
    return result if is_constant(result) else call


def fold_constants(func: relax.Function, keep_transposed: bool = True) -> tuple:
    """(the function with constants folded, {fresh size var: the size it is}). keep_transposed:
    leave transposed weights that only matmuls read (transposed_weights) as they are."""
    folded: dict = {}
    kept = quantized_weights(func)  # weights TensorRT reads as they are
    if keep_transposed:
        kept |= transposed_weights(func)
    new_blocks = []
    changed = False
    normalizer = relax.BlockBuilder()
    shapes = ShapeValues()
    values: dict = {}  # var -> its value as rewritten here
    for block in func.body.blocks:
        bindings = []
        for binding in block.bindings:
            value = binding.value
            replaced = [v for v in used_vars(value) if v in folded] if folded else ()
            if replaced:
                same_types = all(tvm_ffi.structural_equal(v.ty, folded[v].ty) for v in replaced)
                # a bias reshaped to a constant of its own type: the call's type stands; where a
                # replacement is more precise (shape arithmetic), inference may sharpen the call's
                value = retyped(substitute(value, folded), value.ty) if same_types \
                    else normalizer.normalize(substitute(value, folded))
            if isinstance(binding, relax.MatchCast):
                shapes.match_cast(relax.MatchCast(binding.var, value, binding.ty))
                if tvm_ffi.structural_equal(value.ty, binding.ty):  # checks nothing: plain, so DCE may drop it
                    bindings.append(relax.VarBinding(binding.var, value))
                    changed = True
                    continue
            shape_value = shapes.replacement(binding.var, value) if isinstance(binding, relax.VarBinding) else None
            if shape_value is not None:
                folded[binding.var] = shape_value
                changed = changed or not shape_value.same_as(value)
                value = shape_value
            elif isinstance(value, relax.TupleGetItem) and value.index == 0 and \
                    (weight := standardised(values.get(value.tuple_value))) is not None:
                folded[binding.var] = value = weight  # the batch norm itself is then dead code
                changed = True
            elif isinstance(binding, relax.VarBinding) and binding.var not in kept and _foldable(value):
                result = _evaluate(value)
                if is_constant(result):
                    folded[binding.var] = result
                    changed = True
                    value = result
            elif isinstance(binding, relax.VarBinding) and isinstance(value, relax.Call):
                source = identity_source(value)
                # a block's output var may not be replaced by a var local to the block
                if source is not None and (isinstance(binding.var, relax.DataflowVar)
                                           or not isinstance(source, relax.DataflowVar)):
                    folded[binding.var] = value = source
                    changed = True
                elif (merged := merged_reshape(value, values)) is not None:
                    value = normalizer.normalize(merged)
                    changed = True
            values[binding.var] = value
            if isinstance(binding, relax.MatchCast):
                bindings.append(relax.MatchCast(binding.var, value, binding.ty))
            else:
                bindings.append(relax.VarBinding(binding.var, value))
        new_blocks.append(type(block)(bindings))
    if not changed:
        return func, shapes.size_bindings
    body = relax.SeqExpr(new_blocks, substitute(func.body.body, folded))
    return relax.Function(func.params, body, func.ret_ty, func.is_pure, func.attrs), shapes.size_bindings


def fold_module(mod: tvm.IRModule, keep_transposed: bool = True) -> tvm.IRModule:
    """Fold every function; where shape arithmetic showed a size variable to be another size,
    bind it and fold once more (the shapes it sized are now the model's own). keep_transposed:
    see fold_constants (calibration folds them: it quantizes the weights a matmul reads)."""
    for _ in range(2):
        updates, sizes = {}, {}
        for gv, func in mod.functions.items():
            if isinstance(func, relax.Function) and not (func.attrs and "Codegen" in func.attrs):
                new, sizes[gv] = fold_constants(func, keep_transposed)
                new = fold_batch_norms(new)
                if not new.same_as(func):
                    updates[gv] = new
        if not updates and not any(sizes.values()):
            return mod
        mod = mod.clone()  # never edit the caller's module
        for gv, func in updates.items():
            mod[gv] = func
        mod = relax.transform.DeadCodeElimination()(relax.transform.Normalize()(mod))
        if not any(sizes.values()):
            return mod
        for gv, bindings in sizes.items():
            mod = bind_sizes(mod, gv, bindings)
    return mod
