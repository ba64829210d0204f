"""Fold an inference batch norm into the convolution before it, as NVIDIA's parser and onnxslim
do: conv(x, W) [+ b] -> batch_norm(gamma, beta, mean, var) becomes conv(x, W * s) + ((b - mean) * s
+ beta), with s = gamma / sqrt(var + eps). One convolution with a bias instead of a convolution
and a scale layer, in TensorRT and in TVM's copy alike.

It runs after constant folding, when the weights are constants (frontend.py binds them only
after the import, so onnxslim never sees them to fuse). A convolution or bias read by anything
else stays as it is.
"""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from typing import Optional

import numpy as np
from tvm import relax

from tvm_tensorrt.shared_tensors import aligned_empty
from .checks import array_constant, constant_array, is_constant, owned_array_constant
from .graph import op_name, retyped, used_vars

CONVOLUTIONS = ("nn.conv1d", "nn.conv2d", "nn.conv3d")
# Weights are scaled on two threads from this many elements in all; below it, starting the
# threads costs more than they save (ShuffleNet's 0.8 M: 11 ms alone, 15 ms on two).
PARALLEL_MIN_ELEMENTS = 4 << 20


def _use_counts(func: relax.Function) -> Counter:
    counts = Counter()
    for block in func.body.blocks:
        for binding in block.bindings:
            counts.update(used_vars(binding.value))
    counts.update(used_vars(func.body.body))
    return counts


def _per_channel(const, channels: int, rank: int) -> Optional[np.ndarray]:
    """The constant as a (channels,) vector when it broadcasts along axis 1 only."""
    array = constant_array(const)
    aligned = (1,) * (rank - array.ndim) + tuple(array.shape) if array.ndim <= rank else None
    if aligned is None or aligned[1] != channels or any(d != 1 for k, d in enumerate(aligned) if k != 1):
        return None
    return array.reshape(channels)


class _Chain:
    """conv [-> add bias] -> batch_norm -> [0], found from the batch norm's binding."""

    def __init__(self, values: dict, uses: Counter, bn_var, bn):
        self.bn_var, self.bn = bn_var, bn
        self.add_var = self.add = self.bias = None
        source = bn.args[0]
        value = values.get(source)
        if op_name(value) == "add" and uses[source] == 1:
            self.add_var, self.add = source, value
            source = value.args[0]
            value = values.get(source)
        self.conv_var, self.conv = source, value

    def foldable(self, uses: Counter) -> bool:
        conv, bn = self.conv, self.bn
        if op_name(conv) not in CONVOLUTIONS or self.conv_var is None or uses[self.conv_var] != 1:
            return False
        if not is_constant(conv.args[1]) or str(conv.attrs.kernel_layout)[0] != "O" \
                or str(conv.attrs.out_layout or conv.attrs.data_layout)[:2] != "NC":
            return False
        if int(bn.attrs.axis) != 1 or bool(bn.attrs.training) or not all(is_constant(a) for a in bn.args[1:]):
            return False
        rank, channels = len(conv.ty.shape.values), int(constant_array(conv.args[1]).shape[0])
        if self.add is not None:
            bias = self.add.args[1]
            self.bias = _per_channel(bias, channels, rank) if is_constant(bias) else None
            if self.bias is None:
                return False
        return str(conv.ty.dtype) in ("float32", "float16") and str(conv.args[1].ty.dtype) == str(conv.ty.dtype)

    def arrays(self) -> tuple:
        """The operands folding needs, read from TVM: (weight, gamma, beta, mean, var, bias, eps)."""
        return (constant_array(self.conv.args[1]), *(constant_array(a) for a in self.bn.args[1:]), self.bias,
                float(self.bn.attrs.epsilon))

    def folded(self, new_weight: np.ndarray, new_bias: np.ndarray) -> tuple:
        """(new conv call, new bias constant)."""
        rank = len(self.conv.ty.shape.values)
        conv = relax.Call(self.conv.op, [self.conv.args[0], owned_array_constant(new_weight)], self.conv.attrs)
        return retyped(conv, self.conv.ty), array_constant(new_bias.reshape((1, -1) + (1,) * (rank - 2)))


def standardised(bn) -> Optional[relax.Expr]:
    """Field 0 of a training-mode batch norm of constants, as a constant, or None.

    Weight standardisation (NFNet, BiT: `F.batch_norm(w.reshape(1, O, -1), None, None,
    training=True)`) exports as a training-mode BatchNormalization of a weight: all constant, but
    TVM's FoldConstant keeps tuple-valued calls, so the convolution read a computed weight and
    stayed in TVM. The batch statistics are the population mean and variance over every axis
    but `axis`, in float64, rounded once to the weight's dtype."""
    if op_name(bn) != "nn.batch_norm" or not bool(bn.attrs.training) or not all(is_constant(a) for a in bn.args):
        return None
    x, gamma, beta = (constant_array(a).astype(np.float64) for a in bn.args[:3])
    axis = int(bn.attrs.axis) % x.ndim
    others = tuple(k for k in range(x.ndim) if k != axis)
    along = [1] * x.ndim
    along[axis] = -1
    mean, var = x.mean(axis=others, keepdims=True), x.var(axis=others, keepdims=True)
    scale = gamma.reshape(along) if bool(bn.attrs.scale) else 1.0
    shift = beta.reshape(along) if bool(bn.attrs.center) else 0.0
    value = (x - mean) / np.sqrt(var + float(bn.attrs.epsilon)) * scale + shift
    return owned_array_constant(value.astype(str(bn.args[0].ty.dtype)))


def _scaled(weight, gamma, beta, mean, var, bias, epsilon) -> tuple:
    """(weight * s, (bias - mean) * s + beta), s = gamma / sqrt(var + eps): numpy only, so that
    two run at once (numpy lets go of the GIL). The per-channel factors in float64, the weight
    scaled in its own dtype (one rounding, as a float64 product rounded back would give within
    an ulp; a float64 copy of every weight cost ResNet-50 a quarter of a second)."""
    gamma, beta, mean, var = (a.astype(np.float64) for a in (gamma, beta, mean, var))
    scale = gamma / np.sqrt(var + epsilon)
    new_weight = np.multiply(weight, scale.astype(weight.dtype).reshape((-1,) + (1,) * (weight.ndim - 1)),
                             out=aligned_empty(weight.shape, weight.dtype))
    new_bias = ((bias.astype(np.float64) if bias is not None else 0.0) - mean) * scale + beta
    return new_weight, new_bias.astype(weight.dtype)


def fold_batch_norms(func: relax.Function) -> relax.Function:
    """`func` with every foldable conv -> batch_norm pair folded (the same object when none is)."""
    values = {b.var: b.value for block in func.body.blocks for b in block.bindings if isinstance(b, relax.VarBinding)}
    uses = _use_counts(func)
    first_field_read = {v.tuple_value for v in values.values() if isinstance(v, relax.TupleGetItem) and v.index == 0}
    chains = {}
    for var, value in values.items():
        if op_name(value) == "nn.batch_norm" and uses[var] == 1 and var in first_field_read:
            chain = _Chain(values, uses, var, value)
            if chain.foldable(uses):
                chains[var] = chain
    if not chains:
        return func
    operands = [c.arrays() for c in chains.values()]
    if sum(o[0].size for o in operands) >= PARALLEL_MIN_ELEMENTS:  # ResNet-50: 58 -> 34 ms
        with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="tvm_tensorrt_bn") as pool:
            scaled = dict(zip(chains, pool.map(lambda args: _scaled(*args), operands)))
    else:
        scaled = {var: _scaled(*args) for var, args in zip(chains, operands)}
    by_conv = {c.conv_var: c for c in chains.values()}
    dropped = {c.add_var for c in chains.values() if c.add_var is not None} | set(chains)
    biased = {}  # batch norm var -> (conv var, folded bias): its field 0 becomes conv + bias
    new_blocks = []
    for block in func.body.blocks:
        bindings = []
        for binding in block.bindings:
            var, value = binding.var, binding.value
            if var in by_conv:
                chain = by_conv[var]
                conv, bias = chain.folded(*scaled[chain.bn_var])
                # the folded conv is what the model's Conv node computed (bias included): its name
                named = type(var)(chain.add_var.name, var.ty) if chain.add_var is not None else var
                bindings.append(relax.VarBinding(named, conv))
                biased[chain.bn_var] = (named, bias)
            elif var in dropped:
                continue  # the bias add and the batch norm: now the add below
            elif isinstance(value, relax.TupleGetItem) and value.tuple_value in biased:
                conv_var, bias = biased[value.tuple_value]
                bindings.append(relax.VarBinding(var, retyped(relax.op.add(conv_var, bias), var.ty)))
            else:
                bindings.append(binding)
        new_blocks.append(type(block)(bindings))
    return relax.Function(func.params, relax.SeqExpr(new_blocks, func.body.body), func.ret_ty, func.is_pure, func.attrs)
