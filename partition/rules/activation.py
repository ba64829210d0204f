"""Activations: TensorRT's activation layer covers them for any float tensor (silu, softplus and
prelu compose it with element-wise, select and parametric ReLU layers)."""

from ..checks import IMPLICIT_HINT, check_axes_avoid_batch, implicit_batch, is_constant, rank_of
from ..registry import register_rule
from .gates import TENSORRT_10


@register_rule("nn.relu", dynamic=True, original="nn.relu")
def relu_rule(call, config):
    return None


@register_rule("sigmoid", dynamic=True, original="sigmoid")
def sigmoid_rule(call, config):
    return None


@register_rule("tanh", dynamic=True, original="tanh")
def tanh_rule(call, config):
    return None


@register_rule("clip", dynamic=True, min_version=(5, 1, 5), original="clip", limits="min and max known at compile time")
def clip_rule(call, config):
    for name, bound in zip(("min", "max"), call.args[1:]):
        if not hasattr(bound, "value") or is_constant(bound):
            return f"clip {name} must be a scalar known at compile time"
    return None


@register_rule("nn.leakyrelu", dynamic=True, min_version=(5, 1, 5), original="nn.leaky_relu")
def leakyrelu_rule(call, config):
    return None



def no_limits(call, config):
    return None


register_rule("nn.gelu", dynamic=True, min_version=TENSORRT_10)(no_limits)  # the GELU_ERF activation
register_rule("nn.gelu_tanh", dynamic=True, min_version=TENSORRT_10)(no_limits)  # the GELU_TANH activation
register_rule("nn.silu", dynamic=True)(no_limits)  # x * sigmoid(x)
register_rule("nn.selu", dynamic=True, min_version=(5, 1, 5))(no_limits)


@register_rule("nn.softplus", dynamic=True, min_version=TENSORRT_10, limits="beta > 0")
def softplus_rule(call, config):
    """TVM returns x where beta * x > threshold; a select keeps that exact for any threshold."""
    beta = float(call.attrs.beta)
    if beta <= 0:
        return f"softplus beta = {beta}: TensorRT's SOFTPLUS scales by 1 / beta, which needs beta > 0"
    return None


@register_rule("nn.prelu", dynamic=True, min_version=TENSORRT_10, batch_limits="alpha a constant")
def prelu_rule(call, config):
    """alpha runs along `axis`; a constant one cannot span a symbolic batch, a computed one
    would be a subgraph input whose dim 0 is not the batch."""
    if implicit_batch(config) and not is_constant(call.args[1]):
        return f"prelu alpha is computed: it would be a subgraph input without a batch dimension ({IMPLICIT_HINT})"
    return check_axes_avoid_batch([int(call.attrs.axis)], rank_of(call.args[0]), config, "prelu axis")
