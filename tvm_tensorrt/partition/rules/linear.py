"""Matrix multiplication: Relax's matmul stands for Relay's nn.dense (ONNX Gemm/MatMul and
Relax's linear lower to permute_dims + matmul + add) and nn.batch_matmul."""

from ..checks import IMPLICIT_HINT, check_same_dtype_out, dims, implicit_batch, is_constant, numel, rank_of
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
        if is_constant(arg):
            if position == 0 and rank_of(arg) >= 3 and dims(arg)[0] != 1:
                return f"constant input {i} {dims(arg)} spans the batch dimension ({IMPLICIT_HINT})"
        elif position != 0:
            fate = "is contracted" if position is None else f"becomes output axis {position}"
            return f"input {i}'s dim 0 {fate}, not the output's batch dimension ({IMPLICIT_HINT})"
    return None


@register_rule("matmul", original=("nn.dense", "nn.batch_matmul"), macs=matmul_macs,
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
