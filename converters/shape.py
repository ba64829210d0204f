"""Shape ops. Shapes are static inside a subgraph, so reshape-like ops reshape to the output
shape Relax already computed (no -1/0 inference to get wrong), and slicing ops compute their
windows from the input shape the way Relax does (numpy slicing semantics)."""

from __future__ import annotations


from .base import TensorRTOpConverter, register_converter
from .helpers import normalise_axis, reshape, scalar_constant, slice_layer, tensor_of
from .reshape_dims import shape_tensor_cost


class ReshapeToOutputConverter(TensorRTOpConverter):
    def convert(self, params):
        item = params.inputs[0]
        return [reshape(params, tensor_of(params, 0), params.output_dims[0], item.dims or item.shape)]


register_converter("reshape")(type("ReshapeConverter", (ReshapeToOutputConverter,), {}))
register_converter("flatten")(type("FlattenConverter", (ReshapeToOutputConverter,), {}))
register_converter("nn.batch_flatten")(type("NnBatchFlattenConverter", (ReshapeToOutputConverter,), {}))
register_converter("expand_dims")(type("ExpandDimsConverter", (ReshapeToOutputConverter,), {}))
register_converter("squeeze")(type("SqueezeConverter", (ReshapeToOutputConverter,), {}))


def transpose(params, tensor, perm):
    layer = params.network.add_shuffle(tensor)
    layer.first_transpose = params.trt.Permutation(list(perm))
    return layer.get_output(0)


@register_converter("permute_dims")
class PermuteDimsConverter(TensorRTOpConverter):
    def convert(self, params):
        rank = len(params.inputs[0].shape)
        axes = params.attrs.get("axes")
        axes = list(reversed(range(rank))) if axes is None else [normalise_axis(a, rank) for a in axes]
        return [transpose(params, tensor_of(params, 0), axes)]


@register_converter("layout_transform")
class LayoutTransformConverter(TensorRTOpConverter):
    def convert(self, params):
        return [transpose(params, tensor_of(params, 0), params.attrs["permutation"])]


@register_converter("concat")
class ConcatConverter(TensorRTOpConverter):
    variable_input_count = True

    def convert(self, params):
        rank = len(params.inputs[0].shape)
        layer = params.network.add_concatenation([tensor_of(params, i) for i in range(len(params.inputs))])
        layer.axis = normalise_axis(params.attrs["axis"], rank)
        return [layer.get_output(0)]


@register_converter("split")
class SplitConverter(TensorRTOpConverter):
    """One slice per output, at the offsets the output shapes Relax computed add up to."""

    def convert(self, params):
        shape = params.inputs[0].shape
        axis = normalise_axis(params.attrs["axis"], len(shape))
        x = tensor_of(params, 0)
        outputs, offset = [], 0
        for out_shape in params.output_shapes:
            start = [0] * len(shape)
            start[axis] = offset
            outputs.append(slice_layer(params, x, start, out_shape, [1] * len(shape)).get_output(0))
            offset += out_shape[axis]
        return outputs


@register_converter("strided_slice")
class StridedSliceConverter(TensorRTOpConverter):
    """Static windows from the input shape, as Relax computes them; where the output has symbolic
    dims (a whole symbolic axis, or a slice to a symbolic length) the window's size is the output
    shape, computed at run time."""

    def convert(self, params):
        shape = list(params.inputs[0].shape)
        rank = len(shape)
        axes, begin, end = (params.attrs[n] for n in ("axes", "begin", "end"))
        strides = params.attrs.get("strides") or [1] * len(axes)
        start, size, step = [0] * rank, list(shape), [1] * rank
        for axis, b, e, s in zip(axes, begin, end, strides):
            axis = normalise_axis(int(axis), rank)
            if shape[axis] < 0 or not isinstance(e, int) or not isinstance(b, int):  # sized by the output
                start[axis] = int(b) if isinstance(b, int) else b  # a symbolic begin (x[:, -1:]): dims data
                size[axis] = params.output_shapes[0][axis]
                continue
            selected = range(shape[axis])[slice(int(b), int(e), int(s))]
            start[axis], size[axis], step[axis] = selected.start, len(selected), int(s)
        size = [-1 if o < 0 else s for s, o in zip(size, params.output_shapes[0])]
        in_dims, out_dims = params.inputs[0].dims or shape, params.output_dims[0]
        # symbolic sizes that are the input's whole axes come from its shape at run time (a
        # subtraction), others are computed from the shape variables
        whole = all(in_dims[k] == out_dims[k] for k, o in enumerate(params.output_shapes[0]) if o < 0) \
            and shape_tensor_cost(out_dims) > 3  # shape, constant, subtraction
        return [slice_layer(params, tensor_of(params, 0), start, size, step,
                            out_dims=None if whole else out_dims).get_output(0)]


PAD_SAMPLE_MODES = {"constant": "FILL", "reflect": "REFLECT", "replicate": "CLAMP", "circular": "WRAP"}


@register_converter("nn.pad")
class PadConverter(TensorRTOpConverter):
    """A slice that starts before the input and runs past it; the sample mode fills the
    outside (constant value, mirror, edge, wrap-around), as onnx-tensorrt does for Pad."""

    def convert(self, params):
        attrs = params.attrs
        widths = list(attrs["pad_width"])
        before = widths[0::2]
        rank = len(params.inputs[0].shape)
        mode = PAD_SAMPLE_MODES[attrs.get("pad_mode", "constant")]
        layer = slice_layer(params, tensor_of(params, 0), [-b for b in before], params.output_shapes[0],
                            [1] * rank, mode)
        if mode == "FILL":
            layer.set_input(4, scalar_constant(params, float(attrs.get("pad_value", 0.0)), params.inputs[0].dtype))
        return [layer.get_output(0)]
