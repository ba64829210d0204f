"""Reductions map onto TensorRT's reduce layer with an axis bitmask.

Relay's global pools have no Relax operator: ONNX GlobalAveragePool/GlobalMaxPool import as
mean/max over the spatial axes with keepdims, so those rules stand for them too. The original
counted reductions as compute-intensive for remove_no_mac_subgraphs; we keep that and count one
accumulation per input element.
"""

from ..checks import FLOAT_DTYPES, INT_DTYPES, check_axes_avoid_batch, dims, numel, rank_of
from ..registry import register_rule


def reduce_macs(call) -> int:
    return numel(dims(call.args[0]))


def reduce_rule(call, config):
    rank = rank_of(call.args[0])
    if rank == 0:
        return f"{call.op.name.removeprefix('relax.')} of a scalar is not offloaded"
    axes = None if call.attrs.axis is None else [int(a) for a in call.attrs.axis]
    return check_axes_avoid_batch(axes, rank, config, f"{call.op.name.removeprefix('relax.')} axis")


BATCH_LIMITS = "axis given and without 0"
GLOBAL_POOL = "global pooling: spatial axes with keepdims"
# Integer sums, products, maxima and minima are exact in TensorRT's reduce layer (BEiT sums an
# int64 relative-position index); a mean of integers would not round as TVM does.
register_rule("sum", original="sum", macs=reduce_macs, dynamic=True, batch_limits=BATCH_LIMITS,
              dtypes=FLOAT_DTYPES + INT_DTYPES)(reduce_rule)
register_rule("prod", original="prod", macs=reduce_macs, dynamic=True, batch_limits=BATCH_LIMITS,
              dtypes=FLOAT_DTYPES + INT_DTYPES)(reduce_rule)
register_rule("max", original=("max", "nn.global_max_pool2d", "nn.adaptive_max_pool2d"), macs=reduce_macs,
              dynamic=True, batch_limits=BATCH_LIMITS, dtypes=FLOAT_DTYPES + INT_DTYPES,
              limits=GLOBAL_POOL + " (Relax has no adaptive_max_pool2d; its global (1, 1) form is this)")(reduce_rule)
register_rule("min", original="min", macs=reduce_macs, dynamic=True, batch_limits=BATCH_LIMITS,
              dtypes=FLOAT_DTYPES + INT_DTYPES)(reduce_rule)
register_rule("mean", original=("mean", "nn.global_avg_pool2d"), macs=reduce_macs, dynamic=True,
              batch_limits=BATCH_LIMITS, limits=GLOBAL_POOL)(reduce_rule)
# GroupNorm and weight standardisation as exporters write them (reshape -> mean / variance ->
# normalise): TensorRT has no variance layer, the converter computes it as two reductions.
register_rule("variance", macs=reduce_macs, dynamic=True, batch_limits=BATCH_LIMITS)(reduce_rule)
