"""Weights in ONNX external data, read once, where they go.

onnx's `load_external_data_for_model` reads every external tensor into the parsed model (a
Python bytes object, then protobuf's copy), and the importer then copies each into memory TVM
shares: a 1B-parameter LLM's 4.4 GB held twice or more before TVM sees it. Here the large float
ones become `FileWeight`s (onnx_mapped.py) pointing into their data file, read by positioned
reads straight into the aligned memory TVM shares: each weight is in memory once.
"""

from __future__ import annotations

import os

import numpy as np
import onnx

from .onnx_mapped import MAPPED_DTYPES, FileWeight


def _external_fields(tensor: onnx.TensorProto) -> dict:
    return {entry.key: entry.value for entry in tensor.external_data}


def external_file_weights(model: onnx.ModelProto, base_dir: str, min_elements: int) -> dict:
    """{initializer name: FileWeight} for the model's external-data float initializers of at least
    `min_elements` elements; each is left with no data in `model` (its FileWeight reads it), so
    onnx's loader skips it. Anything unusual (a checksum, a path outside `base_dir`, a length
    that does not fit the shape) is left to onnx's loader."""
    found, states = {}, {}
    base = os.path.realpath(base_dir)
    for tensor in model.graph.initializer:
        dtype = MAPPED_DTYPES.get(tensor.data_type)
        if tensor.data_location != onnx.TensorProto.EXTERNAL or dtype is None:
            continue
        fields = _external_fields(tensor)
        count = int(np.prod(tensor.dims, dtype=np.int64))
        location = fields.get("location", "")
        path = os.path.realpath(os.path.join(base, location))
        if count < min_elements or not location or os.path.isabs(location) or "checksum" in fields or \
                os.path.commonpath([base, path]) != base or not os.path.isfile(path):
            continue
        try:
            offset, length = int(fields.get("offset", 0)), int(fields.get("length", count * dtype.itemsize))
        except ValueError:
            continue
        if path not in states:
            state = os.stat(path)
            states[path] = (state.st_size, state.st_mtime_ns)
        if length != count * dtype.itemsize or offset < 0 or offset + length > states[path][0]:
            continue
        found[tensor.name] = FileWeight(path, offset, dtype, tuple(tensor.dims), states[path])
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
    return found
