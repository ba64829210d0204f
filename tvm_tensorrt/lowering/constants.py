"""Byte constants of a lowered module made without extra copies.

A library with prebuilt engines carries each plan as a constant, and a plan is about as large as
the subgraph's weights (1.1B-parameter LLM: 4.4 GB). Joining the container into one bytes object
and handing it to `relax.const` copied it twice more; here the container (formats/plans.py's
layout, unchanged) is written once into aligned memory that TVM shares.
"""

from __future__ import annotations

import json
import struct

import numpy as np
from tvm import relax

from ..formats.plans import MAGIC
from ..shared_tensors import aligned_empty, shared_tensor

_PREFIX = struct.Struct("<8sQ")


def plans_constant(plans: dict) -> relax.Expr:
    """formats.plans.encode_plans(plans) as a uint8 constant, each plan copied once."""
    entries, offset = [], 0
    ordered = sorted(plans.items())
    for key, (plan, ranges) in ordered:
        entries.append({"key": key, "ranges": [list(r) for r in ranges] if ranges else None,
                        "offset": offset, "nbytes": len(plan)})
        offset += len(plan)
    text = json.dumps({"plans": entries}, separators=(",", ":")).encode()
    head = _PREFIX.pack(MAGIC, len(text)) + text
    out = aligned_empty((len(head) + offset,), np.uint8)
    out[:len(head)] = np.frombuffer(head, np.uint8)
    at = len(head)
    for (_, (plan, _)), entry in zip(ordered, entries):
        out[at:at + entry["nbytes"]] = np.frombuffer(plan, np.uint8)
        at += entry["nbytes"]
    return relax.const(shared_tensor(out))
