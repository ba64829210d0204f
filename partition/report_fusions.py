"""The fused patterns of a partition report: which groups of offloaded calls the network builder
builds as one unit (converters/patterns.py), and the patterns found that did not apply, with why.

The data rides on the decisions (Decision.pattern, .pattern_root, .pattern_layers, .not_fused,
filled from the network builder's own find_matches: partition/fusions.py), so a report built
from decisions anywhere (explain, explain_onnx, the CLI's compile) has it.
"""

from __future__ import annotations

from tvm_tensorrt.converters.patterns import PATTERN_KEYS

SHOWN_NODES = 8  # node names per line of the table; the JSON has them all


def pattern_layer(key: str) -> str:
    """What a pattern becomes, in its registration's words (the part after the last "->")."""
    description = PATTERN_KEYS.get(key, "")
    return description.rpartition(" -> ")[2].strip() if " -> " in description else description


def fused_patterns(report) -> list[dict]:
    """One dict per fused pattern, in model order: key, subgraph, layer (what it becomes), layers
    (the TensorRT layer types its converter made; empty where no TensorRT was installed), root
    (the binding of its last call) and pieces (each call: name, op, onnx)."""
    found: dict = {}
    for d in report.decisions:
        if d.pattern is None:
            continue
        item = found.get((d.function, d.pattern_root))
        if item is None:
            item = found[(d.function, d.pattern_root)] = {
                "key": d.pattern, "subgraph": d.subgraph, "function": d.function, "layer": pattern_layer(d.pattern),
                "layers": list(d.pattern_layers), "root": d.pattern_root, "pieces": []}
        item["pieces"].append({"name": d.binding, "op": d.op, "onnx": report.node_names.get(d.binding)})
    return list(found.values())


def unfused_patterns(report) -> list[dict]:
    """One dict per pattern found at a call that did not apply: key (or the rule's name), the
    call it was tried at (at, op, onnx, subgraph) and the reason; its calls stay one layer each."""
    return [{"key": key, "subgraph": d.subgraph, "function": d.function, "at": d.binding, "op": d.op,
             "onnx": report.node_names.get(d.binding), "reason": reason}
            for d in report.decisions for key, reason in d.not_fused]


def fusion_lines(report) -> list[str]:
    """The table's lines: one per fused pattern, then the patterns that did not apply."""
    lines = []
    fused = fused_patterns(report)
    if fused:
        lines.append("Fused patterns (each built by its own converter, not as a layer per call):")
    for item in fused:
        ops = ", ".join(p["op"].removeprefix("relax.") for p in item["pieces"])
        names = [p["onnx"] or p["name"] for p in item["pieces"]]
        more = f", +{len(names) - SHOWN_NODES} more" if len(names) > SHOWN_NODES else ""
        lines.append(f"  {item['subgraph']} {item['key']}: {item['layer'] or 'one unit'}{_layer_types(item)} "
                     f"from {ops} (nodes {', '.join(names[:SHOWN_NODES])}{more})")
    unfused = unfused_patterns(report)
    if unfused:
        lines.append("Patterns found that did not apply (their calls are converted one by one):")
    for item in unfused:
        lines.append(f"  {item['subgraph']} {item['key']} at {item['onnx'] or item['at']} "
                     f"({item['op'].removeprefix('relax.')}): {item['reason']}")
    return lines


def _layer_types(item) -> str:
    """" [NORMALIZATION]": the layer types the converter made, constants aside; "" unknown."""
    kinds = [k for k in dict.fromkeys(item["layers"]) if k != "CONSTANT"]
    return f" [{', '.join(kinds)}]" if kinds else ""
