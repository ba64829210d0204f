"""The partition as a picture: the graph the HTML report and the SVG draw, and the SVG itself.

One graph serves both: model inputs, operator calls and model outputs as nodes, dataflow as
edges, each TensorRT subgraph a group. The HTML report lays it out in the browser, because a
group opens and closes there (report_assets/report.js); the SVG is the static picture of the
collapsed view (every subgraph one box) for docs and terminals, laid out here. Both layouts use
the same method, simple enough to keep twice: longest-path ranks top to bottom, then one
barycenter sweep to order each rank (fewer crossings, no solver).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html import escape

from .report import format_count

# Subgraph colours, by subgraph index (NVIDIA green first); TVM ops are drawn grey.
PALETTE = ("#76b900", "#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#e377c2", "#bcbd22", "#8c564b")


@dataclass
class ViewGraph:
    nodes: list  # dicts: kind (input | op | output), label, and for ops the decision's fields
    edges: list  # (from node index, to node index)
    groups: list  # dicts: id (tensorrt_k), ops, macs, histogram [[op, count]], colour
    fusions: list = field(default_factory=list)  # fused patterns: report_fusions.fused_patterns + members (node indices)


def short_op(op: str) -> str:
    return op.removeprefix("relax.")


def view_graph(report) -> ViewGraph:
    nodes: list = []
    edges: list = []
    index_of: dict = {}  # (function, name) -> node index

    def input_node(function: str, name: str) -> int:
        key = (function, name)
        if key not in index_of:
            index_of[key] = len(nodes)
            nodes.append({"kind": "input", "label": name, "name": name, "function": function})
        return index_of[key]

    outputs = []
    for d in report.decisions:
        sources = [index_of.get((d.function, name)) for name in d.inputs]
        sources = [s if s is not None else input_node(d.function, name) for s, name in zip(sources, d.inputs)]
        index_of[(d.function, d.binding)] = len(nodes)
        edges.extend((s, len(nodes)) for s in sources)
        nodes.append({"kind": "op", "label": short_op(d.op), "op": d.op, "name": d.binding,
                      "onnx": report.node_names.get(d.binding), "function": d.function,
                      "shapes": list(d.shapes), "dtype": d.dtype, "macs": d.macs,
                      "subgraph": d.subgraph, "reason": d.reason, "fusion": None,
                      "not_fused": [list(pair) for pair in d.not_fused]})
        if d.used_after:
            outputs.append(len(nodes) - 1)
    for k, source in enumerate(outputs):
        edges.append((source, len(nodes)))
        nodes.append({"kind": "output", "label": f"output {k}" if len(outputs) > 1 else "output",
                      "name": nodes[source]["name"], "function": nodes[source]["function"]})
    groups = []
    for i, row in enumerate(report.subgraph_totals()):
        histogram = Counter(short_op(d.op) for d in report.decisions if d.subgraph == row["subgraph"])
        groups.append({"id": row["subgraph"], "ops": row["ops"], "macs": row["macs"],
                       "histogram": histogram.most_common(), "colour": PALETTE[i % len(PALETTE)]})
    fusions = report.fused_patterns
    for k, item in enumerate(fusions):
        item["members"] = [index_of[(item["function"], p["name"])] for p in item["pieces"]]
        for i in item["members"]:
            nodes[i]["fusion"] = k
    return ViewGraph(nodes, edges, groups, fusions)


def collapsed_units(graph: ViewGraph):
    """The collapsed view: (units, edges between units); a unit is a group id or a node index.
    Subgraphs are convex (partition/regions.py), so contracting each one leaves no cycle."""
    unit_of = [n.get("subgraph") or i for i, n in enumerate(graph.nodes)]
    units = list(dict.fromkeys(unit_of))
    edges = list(dict.fromkeys((unit_of[a], unit_of[b]) for a, b in graph.edges if unit_of[a] != unit_of[b]))
    return units, edges


def layered_layout(units: list, edges: list) -> dict:
    """unit -> (rank, position in its rank): longest-path ranks, then one barycenter sweep."""
    preds: dict = {u: [] for u in units}
    succs: dict = {u: [] for u in units}
    for a, b in edges:
        preds[b].append(a)
        succs[a].append(b)
    waiting = {u: len(preds[u]) for u in units}
    ready = [u for u in units if not waiting[u]]
    rank: dict = {}
    for u in ready:  # grows while it is walked: Kahn's order
        rank[u] = max((rank[p] + 1 for p in preds[u]), default=0)
        for s in succs[u]:
            waiting[s] -= 1
            if not waiting[s]:
                ready.append(s)
    deepest = max(rank.values(), default=-1)
    for u in units:  # on a cycle (which regions never form): still drawn, below the rest
        if u not in rank:
            deepest += 1
            rank[u] = deepest
            ready.append(u)
    rows: dict = {}
    for u in ready:
        rows.setdefault(rank[u], []).append(u)
    place: dict = {}
    for r in sorted(rows):
        row = rows[r]
        first = {u: i for i, u in enumerate(row)}
        row.sort(key=lambda u: _barycenter([place[p][1] for p in preds[u] if p in place], first[u]))
        for i, u in enumerate(row):
            place[u] = (r, i)
    return place


def _barycenter(above: list, otherwise: float) -> float:
    return sum(above) / len(above) if above else otherwise


# The static picture's geometry (px).
BOX_W, BOX_H, GROUP_H, GAP_X, GAP_Y, MARGIN = 200, 34, 56, 28, 40, 20


def to_svg(report, title: str = "") -> str:
    """The collapsed view as one SVG document: a box per subgraph, per TVM op, per input and
    output; each box's <title> carries its details (the reason, for TVM ops)."""
    graph = view_graph(report)
    units, edges = collapsed_units(graph)
    place = layered_layout(units, edges)
    groups = {g["id"]: g for g in graph.groups}
    widths: dict = {}
    for u, (r, i) in place.items():
        widths[r] = max(widths.get(r, 0), i + 1)
    subtitle = f"{report.summary()}; dashed grey: kept in TVM"
    span = max(max(widths.values(), default=1) * (BOX_W + GAP_X), 7 * len(subtitle))
    ranks = max((r for r, _ in place.values()), default=0) + 1
    heading = 44
    width, height = span + 2 * MARGIN, heading + ranks * (GROUP_H + GAP_Y) + 2 * MARGIN
    centre: dict = {}
    for u, (r, i) in place.items():
        x = MARGIN + span / 2 + (i - (widths[r] - 1) / 2) * (BOX_W + GAP_X)
        centre[u] = (x, MARGIN + heading + r * (GROUP_H + GAP_Y) + GROUP_H / 2)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="#ffffff"/>']
    out.append(f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="14" font-weight="bold">'
               f'{escape(title or "Partition")}</text>')
    out.append(f'<text x="{MARGIN}" y="{MARGIN + 30}" fill="#444444">{escape(subtitle)}</text>')
    for a, b in edges:
        (x1, y1), (x2, y2) = centre[a], centre[b]
        y1, y2 = y1 + _height(a, groups) / 2, y2 - _height(b, groups) / 2
        bend = max(GAP_Y / 2, (y2 - y1) / 3)
        out.append(f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}" '
                   'fill="none" stroke="#8a8a8a" stroke-width="1.2"/>')
    for u in units:
        out.append(_svg_box(u, centre[u], graph, groups))
    out.append("</svg>")
    return "\n".join(out)


def _height(unit, groups) -> float:
    return GROUP_H if unit in groups else BOX_H


def _svg_box(unit, centre, graph: ViewGraph, groups: dict) -> str:
    x, y = centre
    if unit in groups:
        g = groups[unit]
        ops = ", ".join(f"{op} x{n}" for op, n in g["histogram"][:6])
        lines = (f"{g['id']}", f"{g['ops']} ops, {format_count(g['macs'])} MACs",
                 ", ".join(f"{op} x{n}" for op, n in g["histogram"][:3]))
        tip = f"TensorRT subgraph {g['id']}: {g['ops']} ops ({ops}{', ...' if len(g['histogram']) > 6 else ''})"
        style = f'fill="{g["colour"]}" fill-opacity="0.22" stroke="{g["colour"]}" stroke-width="2"'
        h = GROUP_H
    else:
        n = graph.nodes[unit]
        if n["kind"] == "op":
            lines = (n["label"], "kept in TVM")
            tip = f"{n['label']} ({n['name']}) stays in TVM: {n['reason']}"
            style = 'fill="#eeeeee" stroke="#777777" stroke-dasharray="4 3"'
        else:
            lines = (n["label"], n["name"]) if n["kind"] == "output" else (n["name"], "input")
            tip = f"model {n['kind']} ({n['name']})"
            style = 'fill="#ffffff" stroke="#444444"'
        h = BOX_H
    weights = ('font-weight="bold"',) + ("",) * (len(lines) - 1)
    text = "".join(f'<text x="{x:.1f}" y="{y + (k - (len(lines) - 1) / 2) * 14 + 4:.1f}" text-anchor="middle" '
                   f'{weights[k]}>{escape(_clip(line))}</text>' for k, line in enumerate(lines))
    return (f'<g><title>{escape(tip)}</title><rect x="{x - BOX_W / 2:.1f}" y="{y - h / 2:.1f}" width="{BOX_W}" '
            f'height="{h}" rx="6" {style}/>{text}</g>')


def _clip(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"
