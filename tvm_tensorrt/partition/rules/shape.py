"""Shape ops; with static shapes every one of them is a shuffle or concatenation layer."""

from ..checks import rank_of
from ..registry import register_rule


@register_rule("reshape")
def reshape_rule(call, config):
    return None


@register_rule("flatten")
def flatten_rule(call, config):
    return None


@register_rule("permute_dims")
def permute_dims_rule(call, config):
    if rank_of(call.args[0]) == 0:
        return "permute_dims of a scalar is not offloaded"
    return None


@register_rule("concat")
def concat_rule(call, config):
    if call.attrs.axis is None:
        return "concat with axis=None (flattening) is not offloaded"
    return None
