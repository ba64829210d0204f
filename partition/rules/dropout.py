"""nn.dropout at inference, as TVM's ONNX importer emits it: the data passes through unchanged
and the mask is all ones (TVM's own lowering does exactly that), so TensorRT computes it free."""

from ..registry import register_rule


@register_rule("nn.dropout", dynamic=True, limits="inference: identity, mask of ones")
def dropout_rule(call, config):
    return None
