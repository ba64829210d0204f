"""An ONNX file read with its large weights left in the file, to be read once, where they go.

Parsing a model copies every weight into protobuf's memory, and reading a weight back out of
the parsed model (`raw_data`) copies it again, into a Python bytes object, holding the GIL:
for ResNet-50's 100 MB that was 40-90 ms on top of the parse, and it stalled TVM's importer on
the other thread. Here the file is mapped just long enough to walk its protobuf fields to each
initializer's `raw_data`, and the model is parsed from the file's bytes without the large float
ones. Each of those becomes a `FileWeight`: where its bytes lie. Reading one (positioned reads,
not the mapping, so a file rewritten meanwhile is an error rather than a SIGBUS) fills aligned
memory TVM can share, on the worker thread of onnx_weights.weight_tensors.

Anything unexpected in the file makes `read_mapped` return None, and the caller reads the model
the ordinary way, which also gives malformed files their error.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import onnx

from .errors import TensorRTError
from .shared_tensors import aligned_empty

_MODEL_GRAPH = onnx.ModelProto.DESCRIPTOR.fields_by_name["graph"].number
_GRAPH_INITIALIZER = onnx.GraphProto.DESCRIPTOR.fields_by_name["initializer"].number
_TENSOR_RAW_DATA = onnx.TensorProto.DESCRIPTOR.fields_by_name["raw_data"].number
_LENGTH_DELIMITED = 2
# Weights left in the file: the float types numpy has, little-endian as ONNX stores them
MAPPED_DTYPES = {onnx.TensorProto.FLOAT: np.dtype("<f4"), onnx.TensorProto.FLOAT16: np.dtype("<f2"),
                 onnx.TensorProto.DOUBLE: np.dtype("<f8")}


@dataclass(frozen=True)
class FileWeight:
    """A weight's bytes in the model file, and the file as it was when they were found."""

    path: str
    offset: int
    dtype: np.dtype
    shape: tuple
    file_state: tuple  # (size, mtime_ns)

    def read(self) -> np.ndarray:
        """The weight, in fresh 64-byte-aligned memory (read in one pass, without the GIL)."""
        out = aligned_empty(self.shape, self.dtype)
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        with open(self.path, "rb") as f:
            self._unchanged(f)
            done = 0
            while done < len(buffer):
                count = os.preadv(f.fileno(), [buffer[done:]], self.offset + done)
                if count == 0:
                    break
                done += count
            if done < len(buffer):
                raise TensorRTError(f"{self.path!r} ended before its weights did; was it rewritten while "
                                    "being read? Compile again once it is complete")
            self._unchanged(f)
        return out

    def _unchanged(self, f) -> None:
        state = os.fstat(f.fileno())
        if (state.st_size, state.st_mtime_ns) != self.file_state:
            raise TensorRTError(f"{self.path!r} changed while it was being read; compile again once it is "
                                "complete")


class _Malformed(Exception):
    """The bytes are not a protobuf message this walk understands."""


def _varint(data, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(data, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, value start, value end) for each field of the
    message in data[start:end], skipping over values without reading them."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value_start, (_, value_end) = pos, _varint(data, pos)
        elif wire == 1 or wire == 5:
            value_start, value_end = pos, pos + (8 if wire == 1 else 4)
        elif wire == _LENGTH_DELIMITED:
            length, value_start = _varint(data, pos)
            value_end = value_start + length
        else:  # groups: not in ONNX
            raise _Malformed
        if value_end > end:
            raise _Malformed
        yield number, wire, field_start, value_start, value_end
        pos = value_end


def _without(data, start: int, end: int, number: int) -> tuple[bytes, Optional[tuple[int, int]]]:
    """The message in data[start:end] without field `number` (its last occurrence), and where
    that field's value lies."""
    kept, found = [], None
    for field, wire, field_start, value_start, value_end in _fields(data, start, end):
        if field == number and wire == _LENGTH_DELIMITED:
            found = (value_start, value_end)
        else:
            kept.append(data[field_start:value_end])
    return b"".join(kept), found


def read_mapped(path: str, min_elements: int) -> Optional[tuple[onnx.ModelProto, dict]]:
    """(the model, {initializer name: FileWeight}) where the model's float initializers of at
    least `min_elements` elements have no raw_data of their own (their FileWeight reads it);
    None where the file is not a plain binary ONNX model this can walk."""
    with open(path, "rb") as f:
        state = os.fstat(f.fileno())
        if state.st_size == 0:
            return None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:  # slices of it are copies
            try:
                return _parse(data, path, (state.st_size, state.st_mtime_ns), min_elements)
            except Exception:  # not walkable, or protobuf refuses it: the ordinary reader says why
                return None


def _parse(data, path: str, file_state: tuple, min_elements: int) -> tuple[onnx.ModelProto, dict]:
    outer, graph_span = [], None
    for number, wire, field_start, value_start, value_end in _fields(data, 0, len(data)):
        if number == _MODEL_GRAPH and wire == _LENGTH_DELIMITED:
            if graph_span is not None:  # protobuf would merge the two; ONNX writes one
                raise _Malformed
            graph_span = (value_start, value_end)
        else:
            outer.append(data[field_start:value_end])
    model = onnx.ModelProto()
    model.ParseFromString(b"".join(outer))
    weights: dict = {}
    if graph_span is None:
        return model, weights
    rest = []
    for number, wire, field_start, value_start, value_end in _fields(data, *graph_span):
        if number != _GRAPH_INITIALIZER or wire != _LENGTH_DELIMITED:
            rest.append(data[field_start:value_end])
            continue
        stripped, raw = _without(data, value_start, value_end, _TENSOR_RAW_DATA)
        tensor = model.graph.initializer.add()  # initializers keep their order
        tensor.ParseFromString(stripped)
        weight = _file_weight(path, file_state, tensor, raw, min_elements)
        if weight is None:
            tensor.ParseFromString(data[value_start:value_end])  # kept whole
        else:
            weights[tensor.name] = weight
    model.graph.MergeFromString(b"".join(rest))
    return model, weights


def _file_weight(path: str, file_state: tuple, tensor: onnx.TensorProto, raw, min_elements: int):
    dtype = MAPPED_DTYPES.get(tensor.data_type)
    if raw is None or dtype is None or tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None
    count = int(np.prod(tensor.dims, dtype=np.int64))
    start, end = raw
    if count < min_elements or count * dtype.itemsize != end - start:
        return None  # small, or inconsistent (the importer will say so)
    return FileWeight(path, start, dtype, tuple(tensor.dims), file_state)
