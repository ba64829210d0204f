"""Shape ops. Shapes are static inside a subgraph, so reshape-like ops reshape to the output
shape Relax already computed (no -1/0 inference to get wrong)."""

from .base import TensorRTOpConverter, register_converter
from .helpers import reshape, tensor_of


class ReshapeToOutputConverter(TensorRTOpConverter):
    def convert(self, params):
        return [reshape(params, tensor_of(params, 0), params.output_shapes[0])]


register_converter("reshape")(type("ReshapeConverter", (ReshapeToOutputConverter,), {}))
register_converter("flatten")(type("FlattenConverter", (ReshapeToOutputConverter,), {}))


@register_converter("permute_dims")
class PermuteDimsConverter(TensorRTOpConverter):
    def convert(self, params):
        rank = len(params.inputs[0].shape)
        axes = params.attrs.get("axes")
        axes = list(reversed(range(rank))) if axes is None else [a + rank if a < 0 else a for a in axes]
        layer = params.network.add_shuffle(tensor_of(params, 0))
        layer.first_transpose = params.trt.Permutation(axes)
        return [layer.get_output(0)]


@register_converter("concat")
class ConcatConverter(TensorRTOpConverter):
    variable_input_count = True

    def convert(self, params):
        rank = len(params.inputs[0].shape)
        axis = params.attrs["axis"]
        layer = params.network.add_concatenation([tensor_of(params, i) for i in range(len(params.inputs))])
        layer.axis = axis + rank if axis < 0 else axis
        return [layer.get_output(0)]
