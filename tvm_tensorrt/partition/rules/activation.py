"""Activations: TensorRT's activation layer covers them for any float tensor."""

from ..checks import is_constant
from ..registry import register_rule


@register_rule("nn.relu")
def relu_rule(call, config):
    return None


@register_rule("sigmoid")
def sigmoid_rule(call, config):
    return None


@register_rule("clip")
def clip_rule(call, config):
    for name, bound in zip(("min", "max"), call.args[1:]):
        if not hasattr(bound, "value") or is_constant(bound):
            return f"clip {name} must be a scalar known at compile time"
    return None
