"""Backend discovery: a broken install is reported, once, and is not the same as no install."""

import logging
import sys

import pytest

import tvm_tensorrt
from tvm_tensorrt import backend
from op_samples import sample_module


@pytest.fixture
def rediscover(monkeypatch):
    """Discovery starts afresh in the test and again after it (the real backend comes back)."""
    backend.forget_backend()
    yield monkeypatch
    backend.forget_backend()


def broken_package(tmp_path, monkeypatch, name: str, error: str) -> None:
    """An installed package whose import fails, as a wheel without its shared library does."""
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text(f"raise ImportError({error!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    if name in sys.modules:
        monkeypatch.delitem(sys.modules, name)


def test_a_broken_full_tensorrt_is_said_once_and_tensorrt_rtx_is_used(tmp_path, rediscover, caplog):
    broken_package(tmp_path, rediscover, "tensorrt", "libnvinfer.so.10: cannot open shared object file")
    caplog.set_level(logging.WARNING, logger="tvm_tensorrt")
    found = [backend.find_backend() for _ in range(3)]
    assert all(b is not None and b.name == "tensorrt-rtx" for b in found)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["TensorRT is installed but does not load (ImportError: libnvinfer.so.10: cannot open "
                        "shared object file); using TensorRT-RTX"]


def test_a_broken_install_keeps_its_error_and_partitioning_still_works(tmp_path, rediscover, caplog):
    broken_package(tmp_path, rediscover, "tensorrt_rtx_bindings", "libcudart.so.13: cannot open shared object file")
    installed = backend._installed
    rediscover.setattr(backend, "_installed", lambda module: module != "tensorrt" and installed(module))
    caplog.set_level(logging.WARNING, logger="tvm_tensorrt")
    assert backend.find_backend() is None and backend.find_backend() is None
    error = backend.backend_error()
    assert error.broken and "TensorRT-RTX is installed but does not load (ImportError: libcudart.so.13" in str(error)
    with pytest.raises(tvm_tensorrt.BackendUnavailableError) as raised:
        backend.load_backend()
    assert raised.value is error  # the same error, not "none installed"
    assert len(caplog.records) == 1 and "libcudart.so.13" in caplog.records[0].getMessage()
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.relu"))
    assert config["tensorrt_version"] == list(backend.DEFAULT_TENSORRT_VERSION) and config["backend"] is None


def test_nothing_installed_is_not_a_warning(rediscover, caplog):
    rediscover.setattr(backend, "_installed", lambda module: False)
    caplog.set_level(logging.WARNING, logger="tvm_tensorrt")
    assert backend.find_backend() is None
    assert not backend.backend_error().broken and "No TensorRT backend is installed" in str(backend.backend_error())
    assert caplog.records == []


def test_the_tensorrt_log_bridge_forwards_by_level_and_captures_errors_always(caplog):
    """TensorRT's messages reach the "tvm_tensorrt" logger at their level; VERBOSE and INFO (800
    per build) only when DEBUG is on. Errors are captured for the exception we raise even when
    nothing logs them."""
    from tvm_tensorrt.trt_log import captured_errors, trt_logger

    trt = backend.load_backend().trt
    bridge, severity = trt_logger(trt), trt.ILogger.Severity
    with caplog.at_level(logging.WARNING, logger="tvm_tensorrt"), captured_errors() as errors:
        for level, text in [(severity.VERBOSE, "tactic 7"), (severity.INFO, "built"), (severity.WARNING, "slow"),
                            (severity.ERROR, "bad shape"), (severity.INTERNAL_ERROR, "assertion")]:
            bridge.log(level, text)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "TensorRT: slow"), (logging.ERROR, "TensorRT: bad shape"), (logging.ERROR, "TensorRT: assertion")]
    assert errors == ["bad shape", "assertion"]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tvm_tensorrt"):
        bridge.log(severity.VERBOSE, "tactic 8")
    assert [r.getMessage() for r in caplog.records] == ["TensorRT: tactic 8"]
    with caplog.at_level(logging.CRITICAL, logger="tvm_tensorrt"), captured_errors() as errors:
        bridge.log(severity.ERROR, "still captured")
    assert errors == ["still captured"] and not caplog.records[1:]
