"""Dtype conversion and replication: astype (cast layer), broadcast_to and tile (slice layers).

astype: float -> int truncates toward zero in both TVM and TensorRT, and -> bool is `x != 0`
in both (NaN is true). They part only where TVM's cast is undefined (NaN or out-of-range
floats to integers, LLVM's fptosi) or wraps (int64 -> int32 beyond int32): TensorRT's results
there are its own, which no rule can see from shapes and dtypes.
"""

from ..checks import ANY_DTYPES, IMPLICIT_HINT, implicit_batch, rank_of
from ..registry import register_rule
from .gates import TENSORRT_10


@register_rule("astype", dynamic=True, min_version=TENSORRT_10, dtypes=ANY_DTYPES,
               limits="NaN or out-of-range floats to integers, and int64 -> int32 overflow, are undefined or "
                      "wrap in TVM and may differ")
def astype_rule(call, config):
    return None


@register_rule("broadcast_to", dynamic=True, min_version=TENSORRT_10, dtypes=ANY_DTYPES,
               batch_limits="keeps the rank and dim 0 (no leading dims added, nothing stretched over the batch)")
def broadcast_to_rule(call, config):
    added = call.ty.ndim - rank_of(call.args[0])
    if implicit_batch(config) and added:
        return (f"broadcast_to adds {added} leading dim(s): the input's axis 0 would stop being the batch "
                f"dimension ({IMPLICIT_HINT})")
    return None


@register_rule("tile", dynamic=True, min_version=TENSORRT_10, dtypes=ANY_DTYPES, limits="repeats >= 1",
               batch_limits="no repeats on axis 0, no added leading dims")
def tile_rule(call, config):
    repeats = [int(r) for r in call.attrs.repeats]
    rank = rank_of(call.args[0])
    if any(r < 1 for r in repeats):
        return f"tile repeats {tuple(repeats)} make an empty tensor, which TensorRT's slice layer cannot"
    # Added leading dims move a symbolic batch off axis 0, which the shape checks refuse.
    if implicit_batch(config) and len(repeats) == rank and repeats[0] != 1:
        return f"tile repeats {tuple(repeats)} repeat axis 0, the batch dimension ({IMPLICIT_HINT})"
    return None
