"""Activations: TensorRT's activation layer covers them for any float tensor."""

from ..checks import is_constant
from ..registry import register_rule


@register_rule("nn.relu", original="nn.relu")
def relu_rule(call, config):
    return None


@register_rule("sigmoid", original="sigmoid")
def sigmoid_rule(call, config):
    return None


@register_rule("tanh", original="tanh")
def tanh_rule(call, config):
    return None


@register_rule("clip", min_version=(5, 1, 5), original="clip", limits="min and max known at compile time")
def clip_rule(call, config):
    for name, bound in zip(("min", "max"), call.args[1:]):
        if not hasattr(bound, "value") or is_constant(bound):
            return f"clip {name} must be a scalar known at compile time"
    return None


@register_rule("nn.leakyrelu", min_version=(5, 1, 5), original="nn.leaky_relu")
def leakyrelu_rule(call, config):
    return None
