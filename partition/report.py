"""explain(): what was offloaded, into which subgraph, and why the rest stayed in TVM.

Totals count operator calls and multiply-accumulates (MACs). A call's MACs come from its rule's
counter (registry.register_rule(..., macs=...)): convolutions, transposed convolutions and
matmul count exact multiply-adds from their shapes, reductions one accumulation per input
element; ops without a counter count 0. With a symbolic batch dimension, counts are per item.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from .checks import batch_mode_note
from .report_fusions import fused_patterns, fusion_lines, unfused_patterns


def format_count(n: int) -> str:
    """1234567 -> "1.23 M": exact below ten thousand, else three significant digits in the
    largest unit that keeps the number under 1000 (999999 -> "1 M", not "1e+03 k")."""
    if n < 1e4:
        return str(n)
    for scale, unit in ((1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")):
        value = float(f"{n / scale:.3g}")
        if value < 1000 or unit == "T":
            return f"{value:g} {unit}"


@dataclass
class PartitionReport:
    decisions: list  # of partition.api.Decision, one per operator call
    config: dict
    node_names: dict = field(default_factory=dict)  # binding -> the ONNX node it computes, when known

    @property
    def offloaded(self) -> list:
        return [d for d in self.decisions if d.offloaded]

    @property
    def subgraphs(self) -> list[str]:
        seen = []
        for d in self.decisions:
            if d.subgraph and d.subgraph not in seen:
                seen.append(d.subgraph)
        return sorted(seen, key=lambda s: int(s.rsplit("_", 1)[1]))

    @property
    def totals(self) -> dict:
        """Operator calls and MACs, offloaded and in all."""
        return {"ops_offloaded": len(self.offloaded), "ops_total": len(self.decisions),
                "macs_offloaded": sum(d.macs for d in self.offloaded),
                "macs_total": sum(d.macs for d in self.decisions)}

    def subgraph_totals(self) -> list[dict]:
        rows = []
        for symbol in self.subgraphs:
            members = [d for d in self.decisions if d.subgraph == symbol]
            rows.append({"subgraph": symbol, "ops": len(members), "macs": sum(d.macs for d in members)})
        return rows

    @property
    def fused_patterns(self) -> list[dict]:
        """The patterns the network builder builds as one unit each (report_fusions.py)."""
        return fused_patterns(self)

    @property
    def unfused_patterns(self) -> list[dict]:
        """Patterns found that did not apply, with why (report_fusions.py)."""
        return unfused_patterns(self)

    def summary(self) -> str:
        total, done = len(self.decisions), len(self.offloaded)
        return (f"{done} of {total} operator calls offloaded to TensorRT "
                f"in {len(self.subgraphs)} subgraph{'s' if len(self.subgraphs) != 1 else ''}")

    def mac_summary(self) -> str:
        t = self.totals
        share = f" ({100.0 * t['macs_offloaded'] / t['macs_total']:.1f}%)" if t["macs_total"] else ""
        return (f"{format_count(t['macs_offloaded'])} of {format_count(t['macs_total'])} multiply-accumulates "
                f"offloaded{share}")

    def to_table(self) -> str:
        lines = [self.summary(), self.mac_summary(), batch_mode_note(self.config)]
        for row in self.subgraph_totals():
            symbol = row["subgraph"]
            ops = Counter(d.op for d in self.decisions if d.subgraph == symbol)
            lines.append(f"  {symbol}: " + ", ".join(f"{op.removeprefix('relax.')} x{n}" for op, n in ops.items())
                         + f" ({row['ops']} ops, {format_count(row['macs'])} MACs)")
        lines.extend(fusion_lines(self))
        kept = Counter((d.op, d.reason) for d in self.decisions if not d.offloaded)
        if kept:
            lines.append("Kept in TVM:")
            for (op, reason), n in kept.most_common():
                lines.append(f"  {op} x{n}: {reason}")
                nodes = [self.node_names[d.binding] for d in self.decisions if not d.offloaded
                         and (d.op, d.reason) == (op, reason) and d.binding in self.node_names]
                if nodes:  # where to look in the user's model (explain_onnx knows the ONNX nodes)
                    more = f" (+{len(nodes) - 3} more)" if len(nodes) > 3 else ""
                    lines.append(f"    ONNX nodes: {', '.join(nodes[:3])}{more}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "batch_mode": batch_mode_note(self.config), "totals": self.totals,
                "config": self.config,
                "subgraphs": self.subgraphs, "subgraph_totals": self.subgraph_totals(),
                "fused_patterns": self.fused_patterns, "unfused_patterns": self.unfused_patterns,
                "decisions": [asdict(d) for d in self.decisions]}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def to_svg(self, path=None, title: str = "") -> str:
        """The collapsed view (a box per subgraph and per TVM op) as SVG; written to path if given."""
        from .report_view import to_svg

        return _written(to_svg(self, title), path)

    def to_html(self, path=None, title: str = "", precision: str | None = None) -> str:
        """The interactive report (report_html.py): one offline HTML file; written to path if given.
        precision: what the engines will compute in, for the header (None: not known here)."""
        from .report_html import to_html

        return _written(to_html(self, title, precision), path)

    def __str__(self) -> str:
        return self.to_table()


def _written(text: str, path) -> str:
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def explain(mod, params=None, **partition_options) -> PartitionReport:
    from .api import partition_with_decisions

    _, config, decisions = partition_with_decisions(mod, params, **partition_options)
    return PartitionReport(decisions, config)
