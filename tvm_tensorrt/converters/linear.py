"""relax.matmul with numpy semantics: 1-D operands are vectors, batch dims broadcast."""

from .base import TensorRTOpConverter, register_converter
from .helpers import lift_to_rank, tensor_of


@register_converter("matmul")
class MatmulConverter(TensorRTOpConverter):
    input_types = ("tensor", "tensor")

    def convert(self, params):
        trt = params.trt
        shapes = [i.shape for i in params.inputs]
        tensors = [tensor_of(params, i) for i in range(2)]
        ops = [trt.MatrixOperation.VECTOR if len(s) == 1 else trt.MatrixOperation.NONE for s in shapes]
        if len(shapes[0]) > 1 and len(shapes[1]) > 1:
            rank = max(len(s) for s in shapes)
            tensors = [lift_to_rank(params, t, i.shape, rank, i.dims) for t, i in zip(tensors, params.inputs)]
        layer = params.network.add_matrix_multiply(tensors[0], ops[0], tensors[1], ops[1])
        return [layer.get_output(0)]
