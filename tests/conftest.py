import functools
import logging
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


def pytest_addoption(parser):
    parser.addoption("--all-exports", action="store_true",
                     help="compile and verify every model of tests/models/exports (tests/test_exports.py)")


@pytest.fixture
def trt_log(caplog):
    """The "tvm_tensorrt" logger's INFO messages."""
    caplog.set_level(logging.INFO, logger="tvm_tensorrt")
    return caplog


@pytest.fixture
def registries():
    """Rules and converters a test registers, overrides or removes are undone when it ends."""
    from tvm_tensorrt.converters.base import CONVERTERS
    from tvm_tensorrt.partition.registry import RULES

    with RULES.restored(), CONVERTERS.restored():
        yield


# Suites that test rules and converters one op at a time (tests/op_samples.py). A module of one
# reshape or astype is a subgraph that only moves data, which partitioning keeps in TVM by
# default (partition/data_movement.py); these suites offload it as before, to test its converter.
# Every other suite, the models' and the CLI's included, partitions with the real default.
SINGLE_OP_SUITES = {
    "test_backend", "test_batch_modes", "test_compile_time_conversion", "test_converter_numerics", "test_converters",
    "test_dynamic_batch_converters", "test_evaluator", "test_fused_gelu_reshape", "test_gpu_path",
    "test_operator_table", "test_plugin_api", "test_rules", "test_sizes", "test_subgraph_format",
    "test_symbolic_dims_gather_scan", "test_symbolic_spatial", "test_verify", "test_verify_inconclusive",
    "test_verify_precision",
}


@pytest.fixture(scope="module", autouse=True)
def offload_data_movement_in_single_op_suites(request):
    if request.module.__name__.rpartition(".")[2] not in SINGLE_OP_SUITES:
        yield
        return
    from tvm_tensorrt.partition import api, config

    with pytest.MonkeyPatch.context() as patch:  # an explicit argument still wins (a keyword of the call)
        patch.setattr(api, "make_config", functools.partial(config.make_config, remove_no_compute_subgraphs=False))
        yield
