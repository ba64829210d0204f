"""Window ops and norms over symbolic spatial dims (an image model exported with named height and
width): each is offloaded in the default mode, builds an engine over a profile, and its network
computes what TVM computes at sizes the sample never had, two of them from one network.

Without this, every convolution of such an export stayed in TVM (`this op's converter needs
static shapes`), and each run of elementwise ops between them became its own subgraph that
could not learn the sizes it uses (convnextv2: 5 subgraphs, 21 of 106 ops)."""

import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.ir.prim.expr import Var as SizeVar

import tvm_tensorrt
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.runtime.plan_builder import add_profile, build_network
from tvm_tensorrt.verification import evaluate_network
from op_samples import random_array, sample, single_op_module

SPATIAL = ["nn.conv1d", "nn.conv2d", "nn.conv3d", "nn.conv2d_transpose", "nn.max_pool2d", "nn.avg_pool2d", "nn.max_pool3d",
           "nn.batch_norm", "nn.group_norm", "nn.instance_norm", "image.resize2d"]
H, W = SizeVar("h", "int64"), SizeVar("w", "int64")
DOUBLED = {  # an upsampling neck's resize: the output size an expression of the input's
    "nearest": lambda x: relax.op.image.resize2d(x, (H * 2, W * 2), method="nearest_neighbor",
                                                 rounding_method="round_prefer_floor",
                                                 coordinate_transformation_mode="asymmetric"),
    "linear": lambda x: relax.op.image.resize2d(x, (H * 2, W * 2), method="linear"),
}
SIZES = {"h": (5, 9), "w": (7, 6), "d": (6, 8)}  # two runs; each at least the sample's window


def spatial_sample(op_name):
    if op_name in DOUBLED:
        return single_op_module(DOUBLED[op_name], (SizeVar("n", "int64"), 2, H, W)), (1, 2, 4, 4), ["h", "w"]
    make, [shape], field, dtype = sample(op_name)
    names = ["d", "h", "w"][-(len(shape) - 2):]
    symbolic = (SizeVar("n", "int64"), shape[1]) + tuple(SizeVar(n, "int64") for n in names)
    return single_op_module(make, symbolic, dtype=dtype, field=field), shape, names


def whole_and_built(mod, ranges) -> tuple:
    """(subgraph, backend, network build) of a module that goes to TensorRT whole, after checking
    a real engine builds over the profile `ranges` ((name, min, opt, max), ...)."""
    report = tvm_tensorrt.explain(mod)
    assert all(d.offloaded for d in report.decisions), report.to_table()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
    [func] = offloaded_functions(partitioned).values()
    subgraph = subgraph_of(func, "tensorrt_0", config)
    backend = load_backend()
    builder, built, _ = build_network(subgraph, backend)
    builder_config = builder.create_builder_config()
    add_profile(builder, builder_config, built.network, subgraph, ranges)
    assert builder.build_serialized_network(built.network, builder_config) is not None
    return subgraph, backend, built


@pytest.mark.parametrize("op_name", SPATIAL + sorted(DOUBLED))
def test_symbolic_height_and_width_are_offloaded_built_and_exact(op_name):
    mod, shape, names = spatial_sample(op_name)
    ranges = (("n", 1, 2, 3),) + tuple((n, 3, SIZES[n][0], max(SIZES[n])) for n in names)
    subgraph, backend, built = whole_and_built(mod, ranges)

    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    rng = np.random.default_rng(1)
    for run in range(2):
        x = random_array(rng, (2, shape[1]) + tuple(SIZES[n][run] for n in names), str(mod["main"].params[0].ty.dtype))
        expected = vm["main"](tvm.runtime.tensor(x))
        expected = (expected if hasattr(expected, "numpy") else expected[0]).numpy()
        got = evaluate_network(built.network, backend.trt, {subgraph.inputs[0]["name"]: x})
        np.testing.assert_allclose(got[subgraph.outputs[0]["name"]], expected, rtol=1e-5, atol=1e-5)


def test_nearest_rounding_halves_to_even_stays_in_tvm_on_symbolic_sizes():
    """Which of TensorRT's HALF_UP / HALF_DOWN matches 'round' depends on the sizes: unknown here."""
    mod = single_op_module(lambda x: relax.op.image.resize2d(x, (H * 2, W * 2), method="nearest_neighbor",
                                                             rounding_method="round"), (1, 2, H, W))
    [decision] = tvm_tensorrt.explain(mod).decisions
    assert not decision.offloaded and "'round' (halves to even) on symbolic sizes" in decision.reason


@pytest.mark.parametrize("window, stride, pad, offloaded", [(2, 2, 0, True), (3, 2, 1, True), (2, 3, 0, False)])
def test_ceil_mode_pooling_on_symbolic_sizes(window, stride, pad, offloaded):
    """Offloaded where no size can make Relax drop a last window (stride + end padding <= window):
    then TensorRT's round-up gives Relax's sizes, checked at two sizes against TVM."""
    def make(x):
        return relax.op.nn.avg_pool2d(x, (window, window), strides=(stride, stride), padding=(pad,) * 4,
                                      ceil_mode=True, count_include_pad=False)
    mod = single_op_module(make, (1, 2, H, W))
    [decision] = tvm_tensorrt.explain(mod).decisions
    assert decision.offloaded is offloaded, decision.reason
    if not offloaded:
        assert "depends on the size" in decision.reason or "cannot evaluate" in decision.reason
        return
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod)
    [func] = offloaded_functions(partitioned).values()
    subgraph = subgraph_of(func, "tensorrt_0", config)
    backend = load_backend()
    _, built, _ = build_network(subgraph, backend)
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    for h, w in ((7, 8), (9, 5)):
        x = np.random.default_rng(h).standard_normal((1, 2, h, w)).astype("float32")
        got = evaluate_network(built.network, backend.trt, {subgraph.inputs[0]["name"]: x})
        np.testing.assert_allclose(got[subgraph.outputs[0]["name"]], vm["main"](tvm.runtime.tensor(x)).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_slice_from_a_symbolic_begin():
    """DETR's position embedding reads x[:, -1:] of a cumulative sum: begin `h - 1` on a symbolic
    axis, imported as a size expression. The slice starts there at run time."""
    def make(x):
        rows, cols = x.ty.shape.values[1], x.ty.shape.values[2]
        return relax.op.strided_slice(relax.op.cumsum(x, axis=1), axes=[1, 2], begin=[rows - 1, cols - 1],
                                      end=[rows, cols], assume_inbound=True)
    mod = single_op_module(make, (1, H, W))
    subgraph, backend, built = whole_and_built(mod, (("h", 1, 4, 9), ("w", 1, 4, 9)))
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    for h, w in ((3, 4), (7, 2)):
        x = np.random.default_rng(h).standard_normal((1, h, w)).astype("float32")
        got = evaluate_network(built.network, backend.trt, {subgraph.inputs[0]["name"]: x})
        np.testing.assert_allclose(got[subgraph.outputs[0]["name"]], vm["main"](tvm.runtime.tensor(x)).numpy(),
                                   rtol=1e-5, atol=1e-5)
