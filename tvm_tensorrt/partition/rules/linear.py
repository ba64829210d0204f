"""Matrix multiplication (ONNX Gemm/MatMul and Relax linear lower to relax.matmul)."""

from ..checks import rank_of
from ..registry import register_rule


@register_rule("matmul")
def matmul_rule(call, config):
    lhs, rhs = call.args
    if rank_of(lhs) < 1 or rank_of(rhs) < 1:
        return "matmul of scalars is not offloaded"
    out_dtype = call.attrs.out_dtype
    if out_dtype is not None and str(out_dtype) not in ("", "void", str(lhs.ty.dtype)):
        return f"matmul out_dtype {out_dtype} differs from its input dtype {lhs.ty.dtype}"
    return None
