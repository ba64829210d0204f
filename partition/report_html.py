"""The interactive partition report: one HTML file with everything inlined (no network at view
time, no JavaScript library: the page's script is ours, report_assets/report.js).

The page carries the view graph (report_view.py) as JSON and lays it out in the browser. Models
above OPEN_COLLAPSED_ABOVE operators open with every subgraph closed, so the first picture of a
large model is its cut, not thousands of boxes.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from string import Template

from tvm_tensorrt.common import __version__
from .checks import batch_mode_note
from .report_view import view_graph

ASSETS = Path(__file__).resolve().parent / "report_assets"
OPEN_COLLAPSED_ABOVE = 300


def page_data(report, precision=None) -> dict:
    graph = view_graph(report)
    by_reason: dict = {}
    for i, node in enumerate(graph.nodes):
        if node["kind"] == "op" and not node["subgraph"]:
            by_reason.setdefault(node["reason"], []).append(i)
    reasons = [{"reason": r, "ops": ops} for r, ops in sorted(by_reason.items(), key=lambda kv: -len(kv[1]))]
    config = report.config
    version = ".".join(str(v) for v in config.get("tensorrt_version", ())) or "?"
    quantized = any(d.op in ("relax.quantize", "relax.dequantize") and d.offloaded for d in report.decisions)
    precision_text = precision or "set when engines build (TVM_TENSORRT_PRECISION, default fp32)"
    options = [f"TensorRT {version}", batch_mode_note(config), f"precision: {precision_text}"
               + (", INT8 where the model is quantized" if quantized else "")]
    if config.get("ops_to_exclude"):
        options.append("excluded: " + ", ".join(config["ops_to_exclude"]))
    if config.get("min_subgraph_size", 1) > 1:
        options.append(f"min_subgraph_size {config['min_subgraph_size']}")
    if config.get("remove_no_mac_subgraphs"):
        options.append("remove_no_mac_subgraphs")
    return {"nodes": graph.nodes, "edges": graph.edges, "groups": graph.groups, "reasons": reasons,
            "fusions": graph.fusions, "unfused": _unfused(report, graph),
            "open_collapsed": len(report.decisions) > OPEN_COLLAPSED_ABOVE,
            "header": {**report.totals, "options": " \u00b7 ".join(options)}}


def to_html(report, title: str = "", precision=None) -> str:
    # JSON inside <script>: any "<" could end the element ("</script>") or put the parser in a
    # comment state ("<!--<script"), and names come from the user's model; JSON spells it \u003c.
    data = json.dumps(page_data(report, precision), separators=(",", ":")).replace("<", "\\u003c")
    return Template((ASSETS / "report.html").read_text(encoding="utf-8")).substitute(
        title=escape(title or "TensorRT partition"), version=__version__,
        css=(ASSETS / "report.css").read_text(encoding="utf-8"),
        js=(ASSETS / "report.js").read_text(encoding="utf-8"), data=data)



def _unfused(report, graph) -> list:
    """The patterns that did not apply, each with the index of the node it was tried at."""
    index = {(n["function"], n["name"]): i for i, n in enumerate(graph.nodes) if n["kind"] == "op"}
    return [{**item, "node": index.get((item["function"], item["at"]))} for item in report.unfused_patterns]
