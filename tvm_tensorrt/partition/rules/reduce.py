"""Reductions map onto TensorRT's reduce layer with an axis bitmask."""

from ..checks import rank_of
from ..registry import register_rule


@register_rule("mean")
def mean_rule(call, config):
    if rank_of(call.args[0]) == 0:
        return "mean of a scalar is not offloaded"
    return None
