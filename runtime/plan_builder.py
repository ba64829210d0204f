"""Serialised subgraph -> TensorRT plan bytes (the unit that is cached and shipped)."""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

from tvm_tensorrt.converters.network import populate_network, strongly_typed_flag
from tvm_tensorrt.errors import ConversionError
from tvm_tensorrt.file_writes import write_atomically
from tvm_tensorrt.formats import dims
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.trt_log import captured_errors, new_builder, trt_logger
from .progress import check_cancelled, monitor_for

logger = logging.getLogger("tvm_tensorrt")

TIMING_CACHE_FILE = "timing.cache"  # beside the engines in the cache folder (full TensorRT only)

def build_network(subgraph, backend=None, precision: str = "fp32", fuse: bool = True):
    """(builder, network build, trt logger) for `subgraph`; callers keep all three alive."""
    backend = backend or load_backend()
    trt = backend.trt
    bridge = trt_logger(trt)
    builder = new_builder(trt)
    network = builder.create_network(strongly_typed_flag(trt))
    built = populate_network(trt, network, subgraph, precision, fuse)
    return builder, built, bridge


def add_profile(builder, config, network, subgraph, ranges) -> None:
    """One optimization profile: each input's shapes at its shape variables' (min, opt, max);
    TensorRT needs it to build an engine with dynamic shapes."""
    profile = builder.create_optimization_profile()
    points = [{name: r[k] for name, *r in ranges} for k in range(3)]
    for i, desc in enumerate(subgraph.inputs):
        if -1 not in desc["shape"]:
            continue
        name = network.get_input(i).name
        try:
            shapes = [tuple(dims.evaluate(d, values) for d in dims.dims_of(desc)) for values in points]
        except KeyError as err:
            raise ConversionError(f"input {name} uses shape variable {err}, which has no range") from None
        profile.set_shape(name, *shapes)
    config.add_optimization_profile(profile)


_SAID: set = set()  # messages logged once per process


def _timing_cache(config, backend, folder: Optional[str]):
    """Full TensorRT: the builder's timing cache, read from and written back to `folder` (the
    engine cache), so later builds skip timing tactics again. TensorRT-RTX's timing-cache calls
    are no-ops (it tunes at run time, in its runtime cache): said once, nothing written."""
    if folder is None:
        return None, None
    path = os.path.join(folder, TIMING_CACHE_FILE)
    if backend.name != "tensorrt":
        if "timing" not in _SAID:
            _SAID.add("timing")
            logger.info("%s keeps no timing cache (its timing-cache calls are no-ops); %s is not written",
                        backend.describe(), path)
        return None, None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        data = b""
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache, path


def build_plan(subgraph, workspace_size: int, backend=None, precision: str = "fp32", ranges=None,
               options=None, stats: Optional[dict] = None) -> bytes:
    """Plan bytes for `subgraph`; `ranges` ((name, min, opt, max), ...) when it has symbolic dims;
    `options` (runtime.options.EngineOptions): the builder settings the user chose; `stats`, when
    given, receives the network's layer count and the build's seconds. Where TensorRT cannot build
    the network with its fused layers (converters/patterns.py; TensorRT-RTX 1.7's attention fails
    on some dynamic shapes, e.g. a Whisper decoder step), it is built again from the pieces."""
    try:
        return _build_plan(subgraph, workspace_size, backend, precision, ranges, options, stats, fuse=True)
    except ConversionError as err:
        if not err.fused:
            raise
        logger.warning("TensorRT could not build subgraph %s with its %d fused layer(s) (%s); building it from "
                       "their pieces", subgraph.symbol, err.fused, err)
        return _build_plan(subgraph, workspace_size, backend, precision, ranges, options, stats, fuse=False)


def _build_plan(subgraph, workspace_size, backend, precision, ranges, options, stats, fuse: bool) -> bytes:
    backend = backend or load_backend()
    trt = backend.trt
    start = time.perf_counter()
    builder, built, _ = build_network(subgraph, backend, precision, fuse)
    config = builder.create_builder_config()
    monitor = monitor_for(trt, subgraph.symbol)
    if monitor is not None:
        config.progress_monitor = monitor
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_size))
    if options is not None and options.builder_optimization_level is not None:
        config.builder_optimization_level = options.builder_optimization_level
    if options is not None and options.max_aux_streams is not None:
        config.max_aux_streams = options.max_aux_streams
    timing, timing_path = _timing_cache(config, backend, options.cache_dir if options is not None else None)
    if ranges:
        add_profile(builder, config, built.network, subgraph, ranges)
    with captured_errors() as errors:
        plan = builder.build_serialized_network(built.network, config)
    check_cancelled(subgraph.symbol)  # Ctrl-C: the monitor stopped the build (progress.py)
    if plan is None:
        detail = "; ".join(errors[-3:]) or "no error message from TensorRT"
        raise ConversionError(f"TensorRT could not build the engine: {detail}", symbol=subgraph.symbol,
                              fused=built.fused)
    if timing is not None:
        _write_quietly(timing_path, bytes(memoryview(timing.serialize())))
    if stats is not None:
        stats.update(layers=built.network.num_layers, build_seconds=round(time.perf_counter() - start, 3))
    return bytes(memoryview(plan))


def _write_quietly(path: str, data: bytes) -> None:
    """The timing cache only speeds builds up: a failed write is logged, never an error."""
    try:
        write_atomically(path, data)
    except OSError as err:
        logger.warning("Could not write the TensorRT timing cache %s (%s)", path, err.strerror)
