"""Support decided by converting, as NVIDIA's onnx-tensorrt decides it (and ONNX Runtime's
TensorRT provider uses that answer when a session is made): each region the rules formed is
written as the subgraph the runtime will read (lowering/serialize.py) and its TensorRT network is
populated with the registered converters. Population only, no engine build: a few milliseconds
a region.

Without this check a rule that accepts what its converter cannot convert is found at the first
inference, on the target, where no TVM copy can help any more. With it, a call whose converter
raises (any Exception: a built-in, a plugin, TensorRT refusing a layer) goes back to TVM with
the converter's words as its reason, and the regions are formed again around it.
"""

from __future__ import annotations

import logging

from tvm_tensorrt.converters.base import get_converter
from tvm_tensorrt.converters.network import populate_network, strongly_typed_flag
from tvm_tensorrt.errors import ConversionError
from tvm_tensorrt.trt_log import errors_handled, new_builder
from .fusions import region_calls, remember_fusions
from .outline import CODEGEN, region_function

logger = logging.getLogger("tvm_tensorrt")

TRIAL_SYMBOL = f"{CODEGEN}_check"  # the regions are numbered when outlined, after the check


class ConversionCheck:
    """One per partition: a TensorRT builder shared by every network it populates, and the
    regions of the current block that converted, with their functions (a region that converted
    is not converted again when the regions are formed anew around a refused call, and the
    outliner uses its function instead of building it again)."""

    def __init__(self, backend, config: dict, record_fusions: bool = False):
        """record_fusions: keep each region's fused patterns for explain() (decisions are wanted)."""
        self.trt = backend.trt
        self.record_fusions = record_fusions
        self.builder = new_builder(self.trt)
        self.flags = strongly_typed_flag(self.trt)
        self.config = config
        self._graph = None
        self.converted: dict = {}  # {frozenset of a region's nodes: region_function's answer}
        self.fusions: dict = {}  # {frozenset of a region's nodes: fusions.RegionFusions}, for explain()
        self._said: set = set()

    def refuse(self, graph, region_of: dict) -> bool:
        """Populate each region's network; a call that cannot be converted gets its reason in
        `graph`. True when any did: the caller forms the regions again."""
        if graph is not self._graph:
            self._graph, self.converted, self.fusions = graph, {}, {}
        members: dict = {}
        for node, region in region_of.items():
            members.setdefault(region, []).append(node)
        refused = False
        for nodes in members.values():
            key = frozenset(nodes)
            if key in self.converted:
                continue
            made, failed = self._convert(graph, sorted(nodes))
            if not failed:
                self.converted[key] = made
                continue
            for node, reason in failed.items():
                graph.nodes[node]["reason"] = reason
            refused = True
        return refused

    def _convert(self, graph, nodes: list) -> tuple:
        """(region_function's answer, {}) when the region converts, else (None, {node: reason})
        for the calls of this region that cannot be converted."""
        # imported here: serialize reads partition's checks, so importing it first imports partition
        from tvm_tensorrt.lowering.serialize import subgraph_of

        try:
            made = region_function(graph, nodes, TRIAL_SYMBOL)
            subgraph = subgraph_of(made[0], TRIAL_SYMBOL, self.config)
            network = self.builder.create_network(self.flags)
            with errors_handled():  # a refusal is this check's answer: its warning says why
                built = populate_network(self.trt, network, subgraph)
            if self.record_fusions:
                remember_fusions(self.fusions, graph, nodes, built, TRIAL_SYMBOL)
            return made, {}
        except Exception as err:  # noqa: BLE001 - whatever a converter raises is its answer
            calls = region_calls(graph, nodes)  # the writer's nodes
            index = getattr(err, "node", None)
            if index is not None and index < len(calls):  # populate_network names the call that failed
                culprits = [calls[index]]
            else:  # before or after the calls (writing the subgraph, its outputs): the op it names, else all
                named = getattr(err, "op_name", None)
                culprits = [n for n in calls if graph.nodes[n]["op"] == named] or calls or nodes
            return None, {node: self._reason(graph.nodes[node]["op"], err) for node in culprits}

    def _reason(self, op, err: Exception) -> str:
        detail = _detail(err)
        converter = get_converter(op) if op is not None else None
        name = type(converter).__name__ if converter is not None else None
        if name is not None and name not in detail:
            detail = f"converter {name}: {detail}"
        reason = f"TensorRT could not convert it: {detail}"
        if (op, detail) not in self._said:  # said once per partition, not once per call of the op
            self._said.add((op, detail))
            logger.warning("relax.%s stays in TVM: %s", op, reason)
        return reason


def _detail(err: Exception) -> str:
    """The failure in the converter's words, without the trial subgraph's name."""
    if not isinstance(err, ConversionError):
        return f"{type(err).__name__}: {err}"
    text = str(err)
    for prefix in (f"subgraph {TRIAL_SYMBOL} op {err.op_name}: ", f"subgraph {TRIAL_SYMBOL}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text
