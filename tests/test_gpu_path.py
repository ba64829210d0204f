"""The CUDA execution path, as far as it runs without a GPU: bindings, and a plan that cannot be
deserialized here (the same path a plan made for another GPU or TensorRT takes)."""

import logging

import numpy as np
import pytest
import tvm

import tvm_tensorrt
from tvm_tensorrt.runtime import gpu
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.plan_builder import build_plan
from tvm_tensorrt.lowering.serialize import subgraph_of
from op_samples import sample_module


def test_bindings_name_every_tensor_with_its_shape_and_address():
    """Addresses are ints equal to what DLPack (numpy's view) reports, byte offset included: the
    value TensorRT's set_tensor_address needs, checked independently of tvm's data_ptr."""
    a = tvm.runtime.tensor(np.zeros((2, 3), "float32"))
    b = tvm.runtime.tensor(np.arange(8, dtype="float16"))._create_view((4,), relative_byte_offset=8)
    found = gpu.bindings(["input_0", "input_1"], [a, b])
    assert found == [("input_0", (2, 3), np.from_dlpack(a).ctypes.data), ("input_1", (4,), np.from_dlpack(b).ctypes.data)]
    assert all(type(address) is int for _, _, address in found)
    assert np.from_dlpack(b)[0] == 4  # the offset view starts at element 4: its address is not the buffer's
    assert not gpu.is_cuda(a)


def conv_plan() -> bytes:
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.conv2d"))
    [func] = offloaded_functions(mod).values()
    return build_plan(subgraph_of(func, "tensorrt_0", config), 1 << 28)


def test_no_usable_device_falls_back_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="tvm_tensorrt")
    assert gpu.load_engine(load_backend().trt, conv_plan(), 0, "tensorrt_0") is None
    assert "TensorRT engine for tensorrt_0 does not run on CUDA device 0" in caplog.text


@pytest.mark.parametrize("damage", ["truncated", "zeroed body"])
def test_a_plan_that_does_not_fit_is_refused_by_deserialization_in_tensorrt_s_words(damage):
    """Deserialization itself runs here: TensorRT reads the plan's header before it needs a
    device, so a plan that does not fit is refused for what it is (a Serialization error), not
    for the missing GPU that a valid plan meets."""
    plan = conv_plan()
    bad = plan[:100] if damage == "truncated" else plan[:64] + bytes(len(plan) - 64)
    with pytest.raises(gpu.GpuExecutionError, match="Serialization"):
        gpu.deserialize(load_backend().trt, bad)
    with pytest.raises(gpu.GpuExecutionError) as valid:
        gpu.deserialize(load_backend().trt, plan)
    assert "Serialization" not in str(valid.value)  # the valid plan gets as far as CUDA
