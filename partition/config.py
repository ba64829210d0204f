"""The partition config: a JSON-serialisable dict that travels from partitioning to the runtime."""

from __future__ import annotations

from tvm_tensorrt.errors import ConfigError
from tvm_tensorrt.common import DEFAULT_WORKSPACE_SIZE, parse_version
from tvm_tensorrt.converters.patterns import check_no_fuse


def parse_dim_ranges(dim_ranges) -> dict:
    """{name: (min, opt, max)} -> {name: [min, opt, max]}, checked: the optimization-profile
    range of each shape variable (a symbolic dim such as batch or seq)."""
    if dim_ranges is None:
        return {}
    if not isinstance(dim_ranges, dict):
        raise ConfigError(f"dim_ranges must map shape-variable names to (min, opt, max), got {dim_ranges!r}")
    ranges = {}
    for name, values in dim_ranges.items():
        try:
            lo, opt, hi = (int(v) for v in values)
        except (TypeError, ValueError):
            raise ConfigError(f"dim_ranges[{name!r}] must be three ints (min, opt, max), got {values!r}") from None
        if not 1 <= lo <= opt <= hi:
            raise ConfigError(f"dim_ranges[{name!r}] = {(lo, opt, hi)} must satisfy 1 <= min <= opt <= max")
        ranges[str(name)] = [lo, opt, hi]
    return ranges


IMPLICIT_BATCH_DROPPED_IN = (10, 0, 0)  # the TensorRT release without implicit-batch networks


def resolve_batch_mode(use_implicit_batch, version) -> bool:
    """None (the default) follows the target: explicit batch for TensorRT >= 10, which has no
    implicit-batch networks (a symbolic export then goes whole without a flag), implicit below
    10, as the original integration had it. True or False is obeyed on every target."""
    if use_implicit_batch is None:
        return tuple(version) < IMPLICIT_BATCH_DROPPED_IN
    if not isinstance(use_implicit_batch, bool):
        raise ConfigError(f"use_implicit_batch must be True, False or None (follow the target), "
                          f"got {use_implicit_batch!r}")
    return use_implicit_batch


def make_config(version, use_implicit_batch=None, remove_no_mac_subgraphs=False,
                max_workspace_size=DEFAULT_WORKSPACE_SIZE, min_subgraph_size=1, ops_to_exclude=(), dim_ranges=None,
                int8_symmetric=False, backend: str | None = None, no_fuse=(), remove_no_compute_subgraphs=False) -> dict:
    """version: the target TensorRT release, given by the caller (partition_for_tensorrt reads
    the installed backend's); backend: the backend found at partition time, for the record.
    no_fuse: fused patterns (converters/patterns.py) the network builder leaves as pieces.
    int8_symmetric: asymmetric activation Q/DQ pairs are re-quantized symmetrically so TensorRT
    runs true INT8 (changes the numbers); by default they run fake-quantized in float, giving
    onnxruntime's numbers.
    remove_no_compute_subgraphs: a subgraph that only moves data (partition/data_movement.py)
    stays in TVM. Off by default here, as every pruning option of the public contract is (a
    module of one reshape is offloaded); the CLI turns it on (--keep-no-compute-subgraphs off)."""
    version = list(parse_version(version))
    if not isinstance(max_workspace_size, int) or max_workspace_size <= 0:
        raise ConfigError(f"max_workspace_size must be a positive number of bytes, got {max_workspace_size!r}")
    if not isinstance(min_subgraph_size, int) or min_subgraph_size < 1:
        raise ConfigError(f"min_subgraph_size must be an int >= 1, got {min_subgraph_size!r}")
    if isinstance(ops_to_exclude, str):
        raise ConfigError("ops_to_exclude must be a list of op names, e.g. ['nn.softmax'], not a string")
    return {
        "tensorrt_version": version,
        "use_implicit_batch": resolve_batch_mode(use_implicit_batch, version),
        "batch_mode_chosen": "default" if use_implicit_batch is None else "argument",
        "remove_no_mac_subgraphs": bool(remove_no_mac_subgraphs),
        "remove_no_compute_subgraphs": bool(remove_no_compute_subgraphs),
        "max_workspace_size": int(max_workspace_size),
        "min_subgraph_size": int(min_subgraph_size),
        "ops_to_exclude": sorted(str(o).removeprefix("relax.") for o in ops_to_exclude),
        "dim_ranges": parse_dim_ranges(dim_ranges),
        "int8_symmetric": bool(int8_symmetric),
        "backend": backend,
        "no_fuse": check_no_fuse(no_fuse),
    }
