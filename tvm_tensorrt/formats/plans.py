"""The container of prebuilt plans a library may carry beside each subgraph blob.

    MAGIC (8) | json length (8, little endian) | JSON {"plans": [{key, ranges, offset, nbytes}]} | plans

Kept apart from the subgraph blob so embedding plans never changes the subgraph's digest, and
so a library without prebuilt plans carries only the empty container.
"""

from __future__ import annotations

import json
import struct

from ..errors import SubgraphFormatError

MAGIC = b"TVMTRTPL"
_PREFIX = struct.Struct("<8sQ")


def encode_plans(plans: dict) -> bytes:
    """plans: {key: (plan bytes, shape-variable ranges or None)}."""
    entries, chunks, offset = [], [], 0
    for key, (plan, ranges) in sorted(plans.items()):
        entries.append({"key": key, "ranges": [list(r) for r in ranges] if ranges else None,
                        "offset": offset, "nbytes": len(plan)})
        chunks.append(plan)
        offset += len(plan)
    text = json.dumps({"plans": entries}, separators=(",", ":")).encode()
    return _PREFIX.pack(MAGIC, len(text)) + text + b"".join(chunks)


def decode_plans(blob) -> dict:
    view = memoryview(blob).cast("B")
    if len(view) < _PREFIX.size:
        raise SubgraphFormatError("prebuilt-plan container is shorter than its header")
    magic, length = _PREFIX.unpack(bytes(view[:_PREFIX.size]))
    if magic != MAGIC:
        raise SubgraphFormatError("not a tvm_tensorrt prebuilt-plan container (bad magic); rebuild the library")
    try:
        entries = json.loads(bytes(view[_PREFIX.size:_PREFIX.size + length]))["plans"]
    except (ValueError, KeyError) as err:
        raise SubgraphFormatError(f"prebuilt-plan container header is damaged: {err}") from err
    base = _PREFIX.size + length
    plans = {}
    for e in entries:
        plan = bytes(view[base + e["offset"]:base + e["offset"] + e["nbytes"]])
        if len(plan) != e["nbytes"]:
            raise SubgraphFormatError("prebuilt-plan container is truncated; rebuild the library")
        plans[e["key"]] = (plan, tuple(tuple(r) for r in e["ranges"]) if e.get("ranges") else None)
    return plans
