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

