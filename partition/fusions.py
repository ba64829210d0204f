"""Which fused patterns the network builder will build in each region, in the partition's words
(its calls), for explain() and the report.

The answer is the network builder's own: find_matches over the subgraph the runtime rebuilds
(converters/network.fusion_plan). The conversion check (conversion.py) has it already, from
populating the region's network, with the TensorRT layers each pattern's converter made; where no
TensorRT is installed, the same plan is computed from the region's subgraph (no layers then).
Serialised node k of a region is its k-th call: the subgraph writer writes one node per call,
in the region's order.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from tvm import relax

logger = logging.getLogger("tvm_tensorrt")


@dataclass(frozen=True)
class Fusion:
    key: str  # the pattern's key (converters/patterns.PATTERN_KEYS)
    root: int  # the graph node whose value is the pattern's output
    members: frozenset  # graph nodes, the root included
    layers: tuple = ()  # the TensorRT layer types its converter made, in order ("" unknown: no TensorRT here)


@dataclass
class RegionFusions:
    fused: dict = field(default_factory=dict)  # graph node -> Fusion
    not_fused: dict = field(default_factory=dict)  # graph node -> [(key or rule name, reason)]


def region_calls(graph, nodes) -> list:
    """The graph nodes of a region's calls, in the order the subgraph writer numbers them."""
    return [n for n in sorted(nodes) if isinstance(graph.nodes[n]["binding"].value, relax.Call)]


def region_fusions(graph, nodes, matches, refused, network=None, symbol: str = "") -> RegionFusions:
    """find_matches's answer for one region, by graph node. network/symbol: the populated
    network and its subgraph's symbol, to name the layers each pattern became."""
    calls = region_calls(graph, nodes)
    layers = _pattern_layers(network, symbol) if network is not None else {}
    out = RegionFusions()
    for match in matches:
        members = frozenset(calls[i] for i in match.members)
        fusion = Fusion(match.key, calls[match.root], members, tuple(layers.get((match.root, match.key), ())))
        for node in members:
            out.fused[node] = fusion
    fused = {i for match in matches for i in match.members}
    for index, key, reason in refused:
        if index not in fused:  # tried at a call another match covers: its calls are no pieces left alone
            out.not_fused.setdefault(calls[index], []).append((key, _named(graph, calls, reason)))
    return out


def remember_fusions(store: dict, graph, nodes, built, symbol: str) -> None:
    """The conversion check's hook: keep a converted region's fusions (a NetworkBuild's matches,
    its network's layers). Never raises: a report's bookkeeping must not send calls to TVM."""
    try:
        store[frozenset(nodes)] = region_fusions(graph, nodes, built.matches, built.refused, built.network, symbol)
    except Exception as err:  # noqa: BLE001
        logger.debug("explain() could not name the fused patterns of a region: %s", err)


def planned_fusions(graph, nodes, config) -> RegionFusions:
    """The same answer without a TensorRT network: the region's subgraph, written and matched."""
    # imported here: serialize reads partition's checks, so importing it first imports partition
    from tvm_tensorrt.converters.network import fusion_plan
    from tvm_tensorrt.lowering.serialize import subgraph_of
    from .outline import region_function

    func = region_function(graph, sorted(nodes), "tensorrt_plan")[0]
    matches, refused = fusion_plan(subgraph_of(func, "tensorrt_plan", config))
    return region_fusions(graph, nodes, matches, refused)


def block_fusions(graph, region_of: dict, config, check=None) -> RegionFusions:
    """Every region of a block: the conversion check's answers where it has them, else planned."""
    members: dict = {}
    for node, region in region_of.items():
        members.setdefault(region, []).append(node)
    out = RegionFusions()
    known = getattr(check, "fusions", {}) if check is not None else {}
    for nodes in members.values():
        found = known.get(frozenset(nodes))
        if found is None:
            try:
                found = planned_fusions(graph, nodes, config)
            except Exception:  # noqa: BLE001 - a report must not fail where the build would say why
                continue
        out.fused.update(found.fused)
        out.not_fused.update(found.not_fused)
    return out


def _pattern_layers(network, symbol: str) -> dict:
    """{(serialised root, key): [layer type, ...]} from the layer names network.py gives
    (`{symbol}/{node}:{op}#{k}`, op being the pattern's key for a fused pattern)."""
    found: dict = {}
    prefix = f"{symbol}/"
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        head, _, _ = layer.name.rpartition("#")
        if not head.startswith(prefix):
            continue
        index, _, op = head[len(prefix):].partition(":")
        if index.isdigit():
            found.setdefault((int(index), op), []).append(layer.type.name)
    return found


def _named(graph, calls, reason: str) -> str:
    """A rule's reason speaks of serialised nodes ("node 3 (mean) is also read ..."): name them
    as the report does, by the call's binding."""
    def name(m):
        k = int(m.group(1))
        return f"node {graph.nodes[calls[k]]['binding'].var.name}" if k < len(calls) else m.group(0)
    return re.sub(r"\bnode (\d+)\b", name, reason)
