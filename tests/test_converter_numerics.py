"""Numbers, not just shapes: every sample and awkward case, through tvm_tensorrt.verify (the real
network each converter builds, evaluated on the CPU, against TVM's execution of the same Relax)."""

import numpy as np
import pytest

import tvm_tensorrt
from op_samples import EXTRA_SAMPLES, SAMPLES, extra_sample_module, random_inputs, sample_module

verify = tvm_tensorrt.verify

POSITIVE_INPUTS = {"log", "sqrt", "power"}  # keep NaNs out of the comparison


def inputs_for(op_name, mod):
    arrays = random_inputs(mod, seed=1)
    if op_name in POSITIVE_INPUTS:
        arrays = [np.abs(a) + np.float32(0.1) for a in arrays]
    return arrays


def cases():
    found = [pytest.param(op, sample_module(op), {}, id=op) for op in sorted(SAMPLES)]
    for case_id in sorted(EXTRA_SAMPLES):
        op, mod, options = extra_sample_module(case_id)
        found.append(pytest.param(op, mod, options, id=case_id))
    return found


def check(op_name, mod, options):
    report = tvm_tensorrt.explain(mod, **options)
    assert all(d.offloaded for d in report.decisions), report.to_table()
    result = verify(mod, inputs=inputs_for(op_name, mod), **options)
    assert len(result.subgraphs) == 1 and result.passed, result.to_table()
    return result


@pytest.mark.parametrize("op_name, mod, options", cases())
def test_converter_matches_tvm_fp32(op_name, mod, options):
    check(op_name, mod, options)


@pytest.mark.parametrize("op_name, mod, options", [c for c in cases() if c.id in EXTRA_SAMPLES])
def test_awkward_case_matches_tvm_fp16(op_name, mod, options, monkeypatch):
    monkeypatch.setenv("TVM_TENSORRT_USE_FP16", "1")
    assert check(op_name, mod, options).precision == "fp16"
