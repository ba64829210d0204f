"""The serialised subgraph: what an exported library carries for each TensorRT region.

The runtime must not need Relax objects (a converter sees only this), so an offloaded function
is written as versioned JSON (inputs, nodes with op names and plain-Python attrs, outputs) plus
one block of raw weight bytes. Layout of a blob:

    MAGIC (8) | json length (8, little endian) | sha256 of the json (32)
    | json | zero padding to 64 | weights (each 64-byte aligned)

The JSON holds `network_digest`, a hash of the graph and of every weight's bytes, so the digest
identifies a subgraph by content (a changed weight can never reuse a stale engine) while
hashing the weights once; decoding with verify=True hashes them again to find damage.

A blob may also leave its weights out (`weights_external`): the header then lists only their
shapes and dtypes, and whoever decodes it passes the arrays. tvm_tensorrt.build does that, so a
library's TVM fallback and its TensorRT subgraphs read one copy of each weight (the VM's
constants); the header's network_digest still covers the weights' bytes.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash

from ..errors import SubgraphFormatError

MAGIC = b"TVMTRTSG"
FORMAT_VERSION = 5  # 2: symbolic dims as `dims` data beside the -1 shapes; 3: the digest covers the JSON
# fields of the network; 4: its weights hashed as two halves; 5: its weights hashed with XXH3-128
# (3 and 4 still read: same fields, their digests checked the way they were made)
OLDER_READABLE_VERSIONS = (3, 4)
_PREFIX = struct.Struct("<8sQ32s")
ALIGN = 64


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Subgraph:
    """A parsed blob. `header` is the JSON dict; weights are read-only views into the blob."""

    header: dict
    weights: list = field(default_factory=list)
    digest: str = ""

    @property
    def symbol(self) -> str:
        return self.header["symbol"]

    @property
    def nodes(self) -> list:
        return self.header["nodes"]

    @property
    def inputs(self) -> list:
        return self.header["inputs"]

    @property
    def outputs(self) -> list:
        return self.header["outputs"]

    @property
    def network_digest(self) -> str:
        return self.header["network_digest"]

    @property
    def config(self) -> dict:
        return self.header.get("config", {})

    def to_bytes(self) -> bytes:
        return encode(self.header, self.weights)


def _complete_header(header: dict, weights: list, external_weights: bool) -> tuple[dict, bytes]:
    """The header with its weight entries, format and network digest, and its JSON text."""
    header = {k: v for k, v in header.items() if k != "weights_external"}
    entries, offset = [], 0
    for w in weights:
        entries.append({"shape": list(w.shape), "dtype": str(w.dtype), "offset": offset, "nbytes": int(w.nbytes)})
        offset = _align(offset + w.nbytes)
    header["weights"] = entries
    header["format"] = "tvm_tensorrt.subgraph"
    header["format_version"] = FORMAT_VERSION
    header["network_digest"] = network_digest(header, weights, FORMAT_VERSION)
    if external_weights:
        header["weights_external"] = True
    return header, json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def make_subgraph(header: dict, weights: list) -> Subgraph:
    """The Subgraph `decode(encode(header, weights))` gives, without writing the blob."""
    weights = [np.asarray(w, order="C") for w in weights]
    header, text = _complete_header(header, weights, external_weights=False)
    return Subgraph(header, weights, hashlib.sha256(text).hexdigest())


def encode(header: dict, weights: list, external_weights: bool = False) -> bytearray:
    """The blob; with external_weights, one that records the weights' shapes but not their bytes."""
    weights = [np.asarray(w, order="C") for w in weights]
    header, text = _complete_header(header, weights, external_weights)
    base = _align(_PREFIX.size + len(text))  # where the weights start, from the blob's start
    stored = [] if external_weights else weights
    blob = bytearray(base + (header["weights"][-1]["offset"] + stored[-1].nbytes if stored else 0))
    blob[:_PREFIX.size] = _PREFIX.pack(MAGIC, len(text), hashlib.sha256(text).digest())
    blob[_PREFIX.size:_PREFIX.size + len(text)] = text
    view = np.frombuffer(blob, dtype=np.uint8)
    for w, entry in zip(stored, header["weights"]):  # one buffer, each weight copied into it once
        start = base + entry["offset"]
        view[start:start + entry["nbytes"]] = w.reshape(-1).view(np.uint8)
    return blob


NETWORK_FIELDS = ("inputs", "outputs", "nodes", "weights")


# Version 4 hashed the weights with SHA-256 as two halves, each on its own thread: still 0.3 s
# for VGG-16's 550 MB, on every compile and every verified load. Version 5 hashes them with
# XXH3-128, 15 GB/s on one core (VGG-16: 0.04 s): a content hash to find damage and key the
# engine cache, as build caches use it; the JSON stays under SHA-256.
_THREADED_HASH_BYTES = 8 << 20


def _halves(arrays: list) -> tuple[list, list]:
    total = sum(a.nbytes for a in arrays)
    running, first = 0, []
    for a in arrays:
        if running >= total / 2:
            break
        first.append(a)
        running += a.nbytes
    return first, arrays[len(first):]


def _fed(h, arrays: list):
    """`h` (a hashlib or xxhash object) after reading every array's bytes in order."""
    for a in arrays:
        h.update(a.data)
    return h


def network_digest(header: dict, weights: list, version: int = FORMAT_VERSION) -> str:
    """Hash of what the TensorRT network is made of (graph, attributes, weights), leaving out the
    symbol and the partition options: identical subgraphs of different models or partitionings
    then share engine-cache entries. `version`: the format whose way of hashing to use."""
    h = hashlib.sha256(json.dumps({k: header[k] for k in NETWORK_FIELDS}, sort_keys=True).encode())
    arrays = [np.asarray(w, order="C").reshape(-1).view(np.uint8) for w in weights]  # any dtype (bfloat16 too)
    if version == 3:
        return _fed(h, arrays).hexdigest()
    h.update(_sha256_halves(arrays) if version == 4 else _fed(xxhash.xxh3_128(), arrays).digest())
    return h.hexdigest()


def _sha256_halves(arrays: list) -> bytes:
    """Version 4's weight hash: the two halves' SHA-256 digests, on two threads when large."""
    first, second = _halves(arrays)
    digest = lambda half: _fed(hashlib.sha256(), half).digest()
    if sum(a.nbytes for a in arrays) < _THREADED_HASH_BYTES:
        return digest(first) + digest(second)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(digest, second)
        return digest(first) + later.result()


def read_digest(blob) -> str:
    """The content digest from a blob's first bytes, without hashing the rest (cheap per call)."""
    head = bytes(memoryview(blob)[:_PREFIX.size])
    if len(head) < _PREFIX.size:
        raise SubgraphFormatError("subgraph blob is shorter than its header")
    magic, _, digest = _PREFIX.unpack(head)
    if magic != MAGIC:
        raise SubgraphFormatError("not a tvm_tensorrt subgraph blob (bad magic); rebuild the library")
    return digest.hex()


def blob_length(blob) -> int:
    """How many bytes from the start of `blob` (which may run on) its serialised subgraph spans."""
    header, text_len = _header(memoryview(blob).cast("B"))
    entries = header["weights"]
    stored = entries and not header.get("weights_external")
    return _align(_PREFIX.size + text_len) + (entries[-1]["offset"] + entries[-1]["nbytes"] if stored else 0)


def decode_header(blob) -> dict:
    """Only the JSON header: what a caller needs before it can hand over external weights."""
    return _header(memoryview(blob).cast("B"))[0]


def _header(view) -> tuple[dict, int]:
    """The blob's JSON header and its length in bytes."""
    read_digest(view)
    _, text_len, _ = _PREFIX.unpack(bytes(view[:_PREFIX.size]))
    try:
        header = json.loads(bytes(view[_PREFIX.size:_PREFIX.size + text_len]))
    except ValueError as err:
        raise SubgraphFormatError(f"subgraph header is not valid JSON: {err}") from err
    if header.get("format_version") not in (FORMAT_VERSION, *OLDER_READABLE_VERSIONS):
        raise SubgraphFormatError(
            f"subgraph format version {header.get('format_version')} is not {FORMAT_VERSION}; "
            "rebuild the library with this tvm_tensorrt version")
    return header, text_len


def _external_weights(header: dict, weights) -> list:
    """The arrays a weights_external blob is decoded with, checked against what it recorded."""
    entries, weights = header["weights"], list(weights or [])
    if len(weights) != len(entries):
        raise SubgraphFormatError(f"subgraph {header.get('symbol')} keeps its {len(entries)} weights outside the blob, "
                                  f"and {len(weights)} were passed with it")
    arrays = [np.asarray(w) for w in weights]
    for i, (entry, w) in enumerate(zip(entries, arrays)):
        if list(w.shape) != entry["shape"] or str(w.dtype) != entry["dtype"]:
            raise SubgraphFormatError(f"weight {i} of subgraph {header.get('symbol')} is {w.dtype}{list(w.shape)}, "
                                      f"the blob recorded {entry['dtype']}{entry['shape']}")
    return arrays


def decode(blob, verify: bool = True, weights=None) -> Subgraph:
    """weights: the arrays of a weights_external blob, in the order its header lists them.
    verify: check the JSON against the digest and the weights against the network digest."""
    view = memoryview(blob).cast("B")
    digest = read_digest(view)
    _, text_len, _ = _PREFIX.unpack(bytes(view[:_PREFIX.size]))
    if verify and hashlib.sha256(view[_PREFIX.size:_PREFIX.size + text_len]).hexdigest() != digest:
        raise SubgraphFormatError("subgraph blob is damaged (digest mismatch); rebuild the library")
    header, _ = _header(view)
    if header.get("weights_external"):
        return Subgraph(header, _external_weights(header, weights), digest)
    base = _align(_PREFIX.size + text_len)
    arrays = []
    for entry in header["weights"]:
        start = base + entry["offset"]
        raw = view[start:start + entry["nbytes"]]
        if len(raw) != entry["nbytes"]:
            raise SubgraphFormatError("subgraph blob is truncated (its weights end early); rebuild the library")
        arrays.append(np.frombuffer(raw, dtype=entry["dtype"]).reshape(entry["shape"]))
    if verify and network_digest(header, arrays, header["format_version"]) != header["network_digest"]:
        raise SubgraphFormatError("subgraph blob is damaged (its weights do not match their digest); "
                                  "rebuild the library")
    return Subgraph(header, arrays, digest)


def plain(value: Any):
    """TVM attribute values as JSON values (ints, floats, strings, dtypes as their names, lists,
    None). Anything else is a TypeError: an attribute the format cannot carry must be written by
    its op's attribute writer (register_rule(..., attributes=...)), never as printed text."""
    import tvm
    import tvm_ffi

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tvm.ir.prim.expr.IntImm, tvm.ir.prim.expr.FloatImm)):
        return value.value
    if isinstance(value, tvm_ffi.dtype):
        return str(value)
    if isinstance(value, relax_shape_types()):
        return [plain(v) for v in value.values]
    if isinstance(value, (list, tuple)) or type(value).__name__ == "Array":
        return [plain(v) for v in value]
    raise TypeError(f"a {type(value).__name__} ({value!r:.80})")


def relax_shape_types() -> tuple:
    from tvm import relax

    return (relax.ShapeExpr,)
