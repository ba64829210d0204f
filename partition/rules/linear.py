"""Matrix multiplication: Relax's matmul stands for Relay's nn.dense (ONNX Gemm/MatMul and
Relax's linear lower to permute_dims + matmul + add) and nn.batch_matmul. einsum maps onto
TensorRT's einsum layer, which documents at most two operands, lower-case labels and no
broadcasting; diagonals (a label twice in one term) are not documented, so they stay in TVM."""

from tvm_tensorrt.converters.linear import einsum_terms
from ..checks import (IMPLICIT_HINT, check_same_dtype_out, dims, implicit_batch, is_constant, is_weight, numel, rank_of,
                      tensor_args)
from ..registry import register_rule


def matmul_macs(call) -> int:
    lhs = dims(call.args[0])
    return numel(dims(call.ty)) * max(lhs[-1], 1) if lhs else 0


def batch_position(call, index: int):
    """The output axis operand `index`'s dim 0 becomes, or None when matmul contracts it.
    Output = broadcast batch dims + [M] (lhs rank >= 2) + [N] (rhs rank >= 2)."""
    lhs_rank, rhs_rank = rank_of(call.args[0]), rank_of(call.args[1])
    batch = call.ty.ndim - (lhs_rank >= 2) - (rhs_rank >= 2)
    rank = lhs_rank if index == 0 else rhs_rank
    if index == 0:
        return None if rank < 2 else batch - (rank - 2)  # a matrix's dim 0 is M, else a batch dim
    return None if rank < 3 else batch - (rank - 2)  # a rhs matrix's dim 0 is K, contracted


def implicit_batch_reason(call) -> str | None:
    """A computed operand's dim 0 must become the output's dim 0 (not be contracted, not be
    broadcast behind batch dims the other operand adds); a constant whose dim 0 becomes the
    output's batch dim must broadcast over it."""
    for i, arg in enumerate(call.args):
        position = batch_position(call, i)
        if is_weight(arg):
            if position == 0 and rank_of(arg) >= 3 and dims(arg)[0] != 1:
                return f"constant input {i} {dims(arg)} spans the batch dimension ({IMPLICIT_HINT})"
        elif position != 0:
            fate = "is contracted" if position is None else f"becomes output axis {position}"
            return f"input {i}'s dim 0 {fate}, not the output's batch dimension ({IMPLICIT_HINT})"
    return None


@register_rule("matmul", dynamic=True, original=("nn.dense", "nn.batch_matmul"), macs=matmul_macs,
               batch_limits="a computed operand's dim 0 must be the output's (lhs rank >= 2, rhs rank >= 3, "
                            "no broadcasting over it)",
               limits="out_dtype = input dtype")
def matmul_rule(call, config):
    lhs, rhs = call.args
    if rank_of(lhs) < 1 or rank_of(rhs) < 1:
        return "matmul of scalars is not offloaded"
    reason = check_same_dtype_out(call, "matmul")
    if reason:
        return reason
    return implicit_batch_reason(call) if implicit_batch(config) else None


def einsum_labels(call) -> tuple[list, str, dict]:
    """(input terms, output term, label -> size) in the converter's spelling of the equation."""
    operands = tensor_args(call)
    terms, out = einsum_terms(str(call.attrs.subscripts), [rank_of(a) for a in operands])
    sizes: dict = {}
    for operand, term in zip(operands, terms):
        for label, size in zip(term, dims(operand) or [-1] * len(term)):  # unknown shape: symbolic sizes
            sizes.setdefault(label, set()).add(size)
    return terms, out, sizes


def einsum_macs(call) -> int:
    """One multiply-accumulate per point of the full label space (the product of every label's
    size); per batch item when the batch is symbolic."""
    _, _, sizes = einsum_labels(call)
    return numel([max(s) for s in sizes.values()])


def einsum_batch_reason(call, terms, out):
    """Each computed operand's dim 0 must be the output's dim 0; no constant may span it."""
    if not out:
        return f"einsum to a scalar has no batch dimension ({IMPLICIT_HINT})"
    for i, (operand, term) in enumerate(zip(tensor_args(call), terms)):
        if is_constant(operand):
            if out[0] in term:
                return f"constant operand {i} spans the batch dimension ({IMPLICIT_HINT})"
        elif not term:
            return f"operand {i} is a scalar, which has no batch dimension ({IMPLICIT_HINT})"
        elif term[0] != out[0]:
            fate = f"becomes output axis {out.index(term[0])}" if term[0] in out else "is summed"
            return f"operand {i}'s dim 0 {fate}, not the output's batch dimension ({IMPLICIT_HINT})"
    return None


@register_rule("einsum", dynamic=True, min_version=(8, 0, 0), macs=einsum_macs,
               batch_limits="every computed operand's dim 0 is the output's dim 0; constants do not span it",
               limits="at most 2 operands; no label repeated within a term (diagonal); no broadcasting "
                      "(a label's dims are equal); ellipsis spelled out in labels")
def einsum_rule(call, config):
    subscripts = str(call.attrs.subscripts)
    try:
        terms, out, sizes = einsum_labels(call)
    except ValueError as err:
        return f"einsum {subscripts!r}: {err}"
    if len(terms) > 2:
        return f"einsum {subscripts!r} has {len(terms)} operands; TensorRT's einsum takes at most 2"
    for i, term in enumerate(terms):
        if len(set(term)) != len(term):
            return (f"einsum {subscripts!r} repeats a label within operand {i} (a diagonal), which TensorRT's "
                    "einsum does not document")
    broadcast = [s for s in sizes.values() if len(s) > 1]
    if broadcast:
        return (f"einsum {subscripts!r} broadcasts a label of sizes {sorted(broadcast[0])}; TensorRT's einsum needs "
                "equal sizes")
    return einsum_batch_reason(call, terms, out) if implicit_batch(config) else None
