"""Every converter builds a real engine (TensorRT-RTX builder on the CPU) whose outputs have
Relax's shapes and dtypes; the two registries stay in step."""

import pytest
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.converters import registered_converter_names
from tvm_tensorrt.partition import registered_rule_names
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.plan_builder import build_network, build_plan
from tvm_tensorrt.lowering.serialize import subgraph_of
from op_samples import EXTRA_SAMPLES, PARTNERED, SAMPLES, extra_sample_module, sample_module

TRT_TO_NUMPY = {"FLOAT": "float32", "HALF": "float16", "INT32": "int32", "INT64": "int64", "BOOL": "bool"}


def test_every_rule_has_a_converter_and_every_converter_a_rule():
    assert registered_rule_names() == registered_converter_names()


def subgraphs(mod, config):
    return [subgraph_of(func, str(func.attrs["global_symbol"]), config)
            for func in offloaded_functions(mod).values()]


def assert_engine_matches_relax(mod, config):
    [subgraph] = subgraphs(mod, config)
    _, built, _ = build_network(subgraph)
    network = built.network
    relax_out = mod["main"].ret_ty
    assert network.num_outputs == 1
    out = network.get_output(0)
    assert tuple(out.shape) == tuple(int(d) for d in relax_out.shape.values)
    assert TRT_TO_NUMPY[out.dtype.name] == str(relax_out.dtype)
    plan = build_plan(subgraph, config["max_workspace_size"])
    assert isinstance(plan, bytes) and len(plan) > 1000
    return subgraph


@pytest.mark.parametrize("op_name", sorted(SAMPLES))
def test_converter_builds_engine_with_relax_shapes(op_name):
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module(op_name))
    subgraph = assert_engine_matches_relax(mod, config)
    assert sorted(n["op"] for n in subgraph.nodes) == sorted([op_name] + ([PARTNERED[op_name]] if op_name in PARTNERED
                                                                          else []))


@pytest.mark.parametrize("case_id", sorted(EXTRA_SAMPLES))
def test_awkward_case_builds_engine_with_relax_shapes(case_id):
    op_name, mod, options = extra_sample_module(case_id)
    mod, config = tvm_tensorrt.partition_for_tensorrt(mod, **options)
    subgraph = assert_engine_matches_relax(mod, config)
    assert op_name in [n["op"] for n in subgraph.nodes]


def test_layers_are_named_after_subgraph_node_and_op():
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.conv2d"))
    [subgraph] = subgraphs(mod, config)
    _, built, _ = build_network(subgraph)
    names = [built.network.get_layer(i).name for i in range(built.network.num_layers)]
    assert "tensorrt_0/0:nn.conv2d#0" in names


def test_backend_is_real_tensorrt():
    backend = load_backend()
    assert backend.name in ("tensorrt", "tensorrt-rtx")
    assert hasattr(backend.trt, "Builder")


def test_bfloat16_model_with_weights_builds_an_engine_as_given():
    """A bfloat16 model stays bfloat16: its weights reach TensorRT as BF16 (the bindings take
    them by pointer), and its activations pass through in bfloat16."""
    import ml_dtypes
    import numpy as np
    from op_samples import single_op_module

    weight = relax.const(np.ones((3, 4), dtype=ml_dtypes.bfloat16))
    mod = single_op_module(lambda x: relax.op.nn.relu(relax.op.matmul(x, weight)), (2, 3), dtype="bfloat16")
    mod, config = tvm_tensorrt.partition_for_tensorrt(mod)
    [subgraph] = subgraphs(mod, config)
    assert subgraph.weights[0].dtype.name == "bfloat16"
    _, built, _ = build_network(subgraph)
    assert built.network.get_output(0).dtype.name == "BF16"
    assert len(build_plan(subgraph, config["max_workspace_size"])) > 1000


def layer_types(mod):
    mod, config = tvm_tensorrt.partition_for_tensorrt(mod)
    [subgraph] = subgraphs(mod, config)
    network = build_network(subgraph)[1].network
    return [network.get_layer(i).type.name for i in range(network.num_layers)]


def test_a_convolution_s_bias_add_is_folded_into_the_convolution():
    """TVM splits ONNX Conv's bias into conv2d + add; the network has one convolution layer."""
    import numpy as np
    from op_samples import const, single_op_module

    bias = relax.const(np.arange(4, dtype="float32").reshape(1, 4, 1, 1))
    mod = single_op_module(lambda x: relax.op.add(relax.op.nn.conv2d(x, const(4, 3, 3, 3)), bias), (1, 3, 8, 8))
    assert layer_types(mod) == ["CONVOLUTION"]
    assert tvm_tensorrt.verify(mod).passed

    def conv_read_twice(x):  # the convolution's output is read by the add and by the multiply
        conv = relax.BlockBuilder.current().emit(relax.op.nn.conv2d(x, const(4, 3, 3, 3)))
        return relax.op.multiply(relax.op.add(conv, bias), conv)

    mod = single_op_module(conv_read_twice, (1, 3, 8, 8))
    assert layer_types(mod).count("ELEMENTWISE") == 2
    assert tvm_tensorrt.verify(mod).passed


def test_constants_broadcast_as_arrays_without_a_shuffle():
    from op_samples import const, single_op_module

    mod = single_op_module(lambda x: relax.op.multiply(x, const(5)), (2, 3, 5))
    assert layer_types(mod) == ["CONSTANT", "ELEMENTWISE"]
