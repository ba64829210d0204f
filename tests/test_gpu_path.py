"""The CUDA execution path, as far as it runs without a GPU: bindings, and a plan that cannot be
deserialized here (the same path a plan made for another GPU or TensorRT takes)."""

import logging

import numpy as np
import tvm

import tvm_tensorrt
from tvm_tensorrt.runtime import gpu
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.engine import build_plan
from tvm_tensorrt.lowering.serialize import subgraph_of
from op_samples import sample_module


def test_bindings_name_every_tensor_with_its_shape_and_address():
    a = tvm.runtime.tensor(np.zeros((2, 3), "float32"))
    b = tvm.runtime.tensor(np.zeros((4,), "float16"))
    found = gpu.bindings(["input_0", "input_1"], [a, b])
    assert found == [("input_0", (2, 3), a.data_ptr), ("input_1", (4,), b.data_ptr)]
    assert not gpu.is_cuda(a)


def test_plan_that_cannot_be_deserialized_falls_back_with_a_warning(caplog):
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.conv2d"))
    [func] = offloaded_functions(mod).values()
    plan = build_plan(subgraph_of(func, "tensorrt_0", config), 1 << 28)
    caplog.set_level(logging.WARNING, logger="tvm_tensorrt")
    assert gpu.load_engine(load_backend().trt, plan, 0, "tensorrt_0") is None
    assert "TensorRT engine for tensorrt_0 does not run on CUDA device 0" in caplog.text
