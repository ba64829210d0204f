"""`tvm-tensorrt inspect`: what a library's TensorRT subgraphs are, and what an engine file is.

A library built by tvm_tensorrt.build lists its subgraphs through the function
`tvm_tensorrt_subgraphs` (lowering/dispatch.py); one built with external weights is read from
its `.weights` file alone, without TVM's loader (its header lists each subgraph's arrays); a
RunCodegen library carries each blob, weights
inside, in its read-only data, where they are found by their magic. Each subgraph's network is
rebuilt (as the runtime would) to list its layers. An engine file is described by its `.meta`:
deserializing a plan needs a GPU TensorRT can use, which is also what the engine inspector needs.
"""

from __future__ import annotations

import json
import mmap
import os
import struct

import numpy as np

from tvm_tensorrt.errors import SubgraphFormatError, TensorRTError, WeightsFileError
from tvm_tensorrt.library_file import check_library
from tvm_tensorrt.weights_file import WeightsFile, weights_path
from tvm_tensorrt.formats.abi import SUBGRAPHS_LISTING
from tvm_tensorrt.formats.plans import MAGIC as PLANS_MAGIC, decode_plans
from tvm_tensorrt.formats.subgraph import MAGIC, blob_length, decode


def library_subgraphs(path: str) -> list:
    """[(Subgraph, prebuilt plans {key: (plan, ranges)})] of a compiled library."""
    from .model import load

    if os.path.exists(weights_path(path)):
        return _external_subgraphs(path)
    model = load(path)
    try:
        listing = model._vm()[SUBGRAPHS_LISTING]  # the VM load made: another would copy every constant again
    except (AttributeError, RuntimeError, KeyError):  # a RunCodegen library: no listing function
        return _embedded_subgraphs(path)
    values = [_host_view(v) for v in listing()]
    found, i = [], 0
    while i < len(values):
        count = int(values[i])
        blob, plans, weights = values[i + 1], values[i + 2], values[i + 3:i + 3 + count]
        found.append((decode(blob, weights=list(weights)), decode_plans(plans)))
        i += 3 + count
    return found


def _host_view(tensor) -> np.ndarray:
    """A CPU tensor's memory as numpy, without a copy (a library's weights may be gigabytes)."""
    try:
        return np.from_dlpack(tensor)
    except (TypeError, BufferError, RuntimeError, ValueError):
        return tensor.numpy()


def _external_subgraphs(path: str) -> list:
    """A library built with external weights, read without TVM's loader: the subgraphs' blobs,
    plans and weights are arrays of its .weights file (mapped: only what the networks read is
    paged in). The pair is checked (the library names its weights' identity); each blob and plan
    against its digest; weights are not hashed here (their bytes are read only where a converter
    reads them), the runtime checks them on first use."""
    check_library(path)
    weights = WeightsFile(weights_path(path), path)
    with open(path, "rb") as f:
        library = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            paired = library.find(weights.identity.encode()) >= 0
        finally:
            library.close()
    if not paired:
        raise WeightsFileError(f"{weights.path} holds the weights of another build than {path}: a library and its "
                               ".weights file move together; copy the pair from the same compile, or compile again")
    found = []
    for entry in weights.header["subgraphs"]:
        arrays = [weights.array(i, check=False) for i in entry["weights"]]
        found.append((decode(weights.array(entry["blob"]), verify=False, weights=arrays),
                      _plans_listed(weights.array(entry["plans"], check=False))))
    return found


def _plans_listed(container) -> dict:
    """{key: (the plan as a view, ranges)}: what decode_plans gives, without copying (or paging
    in) the plans themselves, which are about as large as the weights; inspect reports sizes."""
    view = memoryview(container).cast("B")
    magic, length = struct.unpack("<8sQ", view[:16])
    if magic != PLANS_MAGIC:
        raise SubgraphFormatError("not a tvm_tensorrt prebuilt-plan container (bad magic); rebuild the library")
    base, listed = 16 + length, {}
    for e in json.loads(bytes(view[16:16 + length]))["plans"]:
        if base + e["offset"] + e["nbytes"] > len(view):
            raise SubgraphFormatError("prebuilt-plan container is truncated; rebuild the library")
        listed[e["key"]] = (view[base + e["offset"]:base + e["offset"] + e["nbytes"]],
                            tuple(tuple(r) for r in e["ranges"]) if e.get("ranges") else None)
    return listed


def _embedded_subgraphs(path: str) -> list:
    data = np.fromfile(path, dtype=np.uint8)
    raw = data.tobytes()
    found: list = []
    start = raw.find(MAGIC)
    while start >= 0:
        try:
            end = start + blob_length(raw[start:])
            found.append((decode(raw[start:end]), {}))
        except TensorRTError:
            end = start + len(MAGIC)
        start = raw.find(MAGIC, end)
    if not found:
        raise TensorRTError(f"{path} carries no TensorRT subgraph (nothing was offloaded, or it is not a "
                            "tvm-tensorrt library)")
    return found


def describe_network(subgraph, backend, precision: str = "fp32") -> list:
    """One row per layer: name, type, output dtypes, output shapes."""
    from .plan_builder import build_network

    network = build_network(subgraph, backend, precision)[1].network
    rows = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        outputs = [layer.get_output(k) for k in range(layer.num_outputs)]
        rows.append({"name": layer.name, "type": str(layer.type).split(".")[-1],
                     "dtypes": [str(t.dtype).split(".")[-1].lower() for t in outputs],
                     "shapes": [list(t.shape) for t in outputs]})
    return rows


def inspect_library(path: str, backend) -> list:
    """Per subgraph: symbol, inputs, outputs, layers, and its prebuilt engines' sizes and ranges."""
    report = []
    for subgraph, plans in library_subgraphs(path):
        report.append({"symbol": subgraph.symbol, "inputs": subgraph.inputs, "outputs": _io(subgraph.outputs),
                       "config": subgraph.config, "network_digest": subgraph.network_digest,
                       "layers": describe_network(subgraph, backend) if backend is not None else None,
                       "prebuilt_engines": [{"key": key, "bytes": len(plan), "ranges": ranges}
                                            for key, (plan, ranges) in plans.items()]})
    return report


def _io(descs) -> list:
    return [{k: d[k] for k in ("name", "shape", "dtype")} for d in descs]


def inspect_plan(path: str) -> dict:
    """An engine file's `.meta` and size; the engine inspector needs a GPU to deserialize it."""
    meta_path = os.path.splitext(path)[0] + ".meta"
    if not os.path.exists(meta_path):
        raise TensorRTError(f"{meta_path} is missing: only plans from tvm-tensorrt's engine cache can be described "
                            "without a GPU")
    with open(meta_path) as f:
        meta = json.load(f)
    return {"plan": path, "bytes": os.path.getsize(path), **meta,
            "engine_inspector": "needs a CUDA GPU TensorRT can run on: the plan must be deserialized first"}


def to_table(report: list) -> str:
    lines = []
    for entry in report:
        shapes = ", ".join(f"{d['name']} {d['dtype']}{tuple(d['shape'])}" for d in entry["inputs"])
        lines.append(f"{entry['symbol']}: inputs {shapes}")
        for engine in entry["prebuilt_engines"]:
            lines.append(f"  prebuilt engine {engine['key'][:12]}: {engine['bytes']} bytes, ranges {engine['ranges']}")
        if entry["layers"] is None:
            lines.append("  (layers: TensorRT is needed to rebuild the network)")
            continue
        lines.append(f"  {len(entry['layers'])} layers")
        lines.append(f"  {'layer':44s} {'type':18s} {'dtype':10s} shape")
        for row in entry["layers"]:
            lines.append(f"  {row['name'][:44]:44s} {row['type'][:18]:18s} {','.join(row['dtypes'])[:10]:10s} "
                         f"{' '.join(str(tuple(s)) for s in row['shapes'])}")
    return "\n".join(lines)
