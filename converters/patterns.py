"""Fused patterns: groups of serialised nodes that the network builder turns into one TensorRT
layer of their own (normalization, attention) instead of a layer per node.

Exporters decompose what TensorRT has as single layers (a LayerNorm arrives as mean, subtract,
power, mean, add, sqrt, divide, multiply, add). Partitioning offloads each piece by its own rule,
as before; recognition happens here, over the subgraph the runtime rebuilds, so a pattern never
changes what is offloaded (a pattern that does not apply leaves the pieces converted one by one)
and an exported library carries nothing new.

Each pattern is a key (`"layer_norm"`, `"attention"`, ...) with a rule and a converter, as each
operator has: the rule is a matcher `match(view, index) -> Match | str | None` tried at every
node whose op is one of its anchors (None: not this pattern; a string: the pattern is there but
does not apply, and why; a Match: the nodes it covers and the converter inputs), and the
converter is a TensorRTOpConverter whose inputs are the match's inputs. `no_fuse` (partition
option, `--no-fuse KEY`) turns patterns off by key.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from tvm_tensorrt.errors import ConfigError, RegistryError
from tvm_tensorrt.registry import Registry
from .base import INPUT_KINDS, TensorRTOpConverter

logger = logging.getLogger("tvm_tensorrt")


@dataclass
class Match:
    """What a rule found: the nodes it covers (`root` last: its outputs are the pattern's), the
    refs its converter reads (node refs, inputs or weights, as the serialised nodes write them),
    and the converter's attributes (JSON data)."""

    key: str
    root: int
    members: set
    inputs: list
    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Matcher:
    name: str
    anchors: tuple  # ops a match is tried at
    match: Callable


PATTERN_CONVERTERS = Registry("pattern converter")
MATCHERS: list = []
PATTERN_KEYS: dict = {}  # key -> one line saying what it fuses into what (docs, CLI help, errors)


def register_pattern(key: str, description: str):
    """Class decorator: the converter of pattern `key` (a TensorRTOpConverter subclass)."""
    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, TensorRTOpConverter)):
            raise RegistryError(f"register_pattern({key!r}) takes a TensorRTOpConverter subclass, got {cls!r}")
        if any(k not in INPUT_KINDS for k in cls.input_types):
            raise RegistryError(f"{cls.__name__}.input_types: each entry is 'tensor' or 'weight'")
        PATTERN_CONVERTERS.add(key, cls())
        PATTERN_KEYS[key] = description
        return cls
    return decorate


def register_matcher(name: str, anchors: tuple):
    """Function decorator: a rule that may produce matches of one or more keys."""
    def decorate(fn):
        MATCHERS.append(Matcher(name, tuple(anchors), fn))
        return fn
    return decorate


def pattern_converter(key: str) -> Optional[TensorRTOpConverter]:
    return PATTERN_CONVERTERS.get(key)


def check_no_fuse(no_fuse) -> list:
    """The `no_fuse` option, checked: a list of pattern keys."""
    if no_fuse is None:
        return []
    if isinstance(no_fuse, str):
        raise ConfigError(f"no_fuse must be a list of pattern names, e.g. ['attention'], not the string {no_fuse!r}")
    unknown = [k for k in no_fuse if k not in PATTERN_KEYS]
    if unknown:
        raise ConfigError(f"no_fuse names unknown patterns {unknown}; the patterns are {sorted(PATTERN_KEYS)}")
    return sorted(set(str(k) for k in no_fuse))


class GraphView:
    """The serialised subgraph as a graph a rule can walk: producers, readers, constants."""

    def __init__(self, subgraph, unavailable=()):
        self.subgraph = subgraph
        self.nodes = subgraph.nodes
        self.weights = subgraph.weights
        self.unavailable = set(unavailable)  # nodes another fusion took (conv biases, transposed weights)
        self.readers: dict = {}
        for index, node in enumerate(self.nodes):
            for ref in node["inputs"]:
                if ref[0] == "node":
                    self.readers.setdefault((ref[1], ref[2]), []).append(index)
        self.outputs = Counter((d["ref"][1], d["ref"][2]) for d in subgraph.outputs if d["ref"][0] == "node")

    def node(self, ref, *ops):
        """(index, node) when `ref` is output 0 of a node whose op is one of `ops` (any op if none)."""
        if ref is None or ref[0] != "node" or ref[2] != 0:
            return None
        node = self.nodes[ref[1]]
        if ops and node["op"] not in ops:
            return None
        return ref[1], node

    def constant(self, ref) -> Optional[np.ndarray]:
        return self.weights[ref[1]] if ref is not None and ref[0] == "weight" else None

    def scalar(self, ref) -> Optional[float]:
        value = self.constant(ref)
        if value is None or value.size != 1 or value.dtype.kind != "f":
            return None
        return float(value.reshape(()))

    def desc(self, ref) -> dict:
        if ref[0] == "input":
            return self.subgraph.inputs[ref[1]]
        if ref[0] == "weight":
            array = self.weights[ref[1]]
            return {"shape": list(array.shape), "dtype": str(array.dtype)}
        return self.nodes[ref[1]]["outputs"][ref[2]]

    def dims(self, ref) -> list:
        desc = self.desc(ref)
        return list(desc.get("dims") or desc["shape"])

    def single_reader(self, index: int) -> Optional[int]:
        """The one node that reads node `index`'s output, if exactly one does and it is no output."""
        readers = self.readers.get((index, 0), [])
        if len(readers) != 1 or self.outputs[(index, 0)] or len(self.nodes[index]["outputs"]) != 1:
            return None
        return readers[0]

    def escaping(self, members: set, root: int) -> Optional[int]:
        """A member other than the root whose value is read outside the members, or None."""
        for index in sorted(members - {root}):
            for k in range(len(self.nodes[index]["outputs"])):
                if self.outputs[(index, k)] or any(r not in members for r in self.readers.get((index, k), [])):
                    return index
        return None


def find_matches(subgraph, no_fuse=(), unavailable=()) -> tuple[list, list]:
    """(matches, [(node index, key or matcher name, reason)] for patterns that did not apply).
    Matches never share a node; where two would, the one found first (lower anchor) wins."""
    view = GraphView(subgraph, unavailable)
    taken: set = set()
    matches, refused = [], []
    by_anchor: dict = {}
    for matcher in MATCHERS:
        for op in matcher.anchors:
            by_anchor.setdefault(op, []).append(matcher)
    for index, node in enumerate(subgraph.nodes):
        for matcher in by_anchor.get(node["op"], ()):
            if index in taken:
                break
            try:
                found = matcher.match(view, index)
            except Exception as err:  # noqa: BLE001 (a rule's bug must cost the fusion, never the build)
                logger.warning("the pattern rule %r raised %s: %s at node %d; the nodes are converted one by one",
                               matcher.name, type(err).__name__, err, index)
                found = f"the pattern rule {matcher.name!r} raised {type(err).__name__}: {err}"
            if found is None:
                continue
            if isinstance(found, str):
                refused.append((index, matcher.name, found))
                continue
            reason = _unusable(view, found, no_fuse, taken)
            if reason:
                refused.append((found.root, found.key, reason))
                continue
            taken |= found.members
            matches.append(found)
    return matches, refused


def _unusable(view, found: Match, no_fuse, taken) -> Optional[str]:
    if found.key in no_fuse:
        return f"turned off (no_fuse={sorted(no_fuse)})"
    if found.root != max(found.members):
        return "internal: the pattern's root is not its last node"
    clash = found.members & (taken | view.unavailable)
    if clash:
        return f"node {min(clash)} belongs to another fusion"
    escaping = view.escaping(found.members, found.root)
    if escaping is not None:
        return (f"node {escaping} ({view.nodes[escaping]['op']}) is also read outside the pattern, "
                "so its value must exist as a tensor of its own")
    return None


def unused_after(subgraph, matches, inside: set) -> set:
    """Nodes only fused patterns read, through members that are gone now (a rotary cache's
    cos(concat(f, f)), which the pattern rebuilds as cos(f)): nothing reads them any more, so they
    get no layer. A node that had no reader to begin with is kept as it was. `inside`: the
    matches' members other than their roots (the caller's)."""
    reads: dict = {}
    roots = {m.root: m for m in matches}
    for index, node in enumerate(subgraph.nodes):
        for ref in node["inputs"]:
            if ref[0] == "node":
                reads.setdefault(ref[1], set()).add(index)
    live = {d["ref"][1] for d in subgraph.outputs if d["ref"][0] == "node"}
    unused = set()
    for index in reversed(range(len(subgraph.nodes))):
        if index in inside:
            continue
        if index not in live and reads.get(index):
            unused.add(index)
            continue
        refs = roots[index].inputs if index in roots else subgraph.nodes[index]["inputs"]
        live |= {ref[1] for ref in refs if ref[0] == "node"}
    return unused
