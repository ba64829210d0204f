"""shape_to_tensor and arange: sizes as data, computed from the engine's input shapes."""

from .base import TensorRTOpConverter, register_converter
from .helpers import cast_to, dim_tensor, reshape, shape_tensor


@register_converter("shape_to_tensor")
class ShapeToTensorConverter(TensorRTOpConverter):
    input_types = ()

    def convert(self, params):
        return [cast_to(params, shape_tensor(params, params.attrs["input"]), params.output_dtypes[0])]


@register_converter("arange")
class ArangeConverter(TensorRTOpConverter):
    """A LINSPACE fill of ceil((end - start) / step) values from start by step."""

    input_types = ()

    def convert(self, params):
        start, end, step = (params.attrs[k] for k in ("start", "end", "step"))
        count = ["floordiv", ["add", ["sub", end, start], ["sub", step, 1 if _positive(step) else -1]], step]
        fill = params.network.add_fill((0,), params.trt.FillOperation.LINSPACE, params.trt.int64)
        fill.set_input(0, shape_tensor(params, [count]))
        fill.set_input(1, reshape(params, dim_tensor(params, start), ()))
        fill.set_input(2, dim_tensor(params, step))
        return [cast_to(params, fill.get_output(0), params.output_dtypes[0])]


def _positive(step) -> bool:
    return not isinstance(step, int) or step > 0  # a symbolic step is a size, so positive
