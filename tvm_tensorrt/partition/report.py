"""explain(): what was offloaded, into which subgraph, and why the rest stayed in TVM."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass


@dataclass
class PartitionReport:
    decisions: list  # of partition.api.Decision, one per operator call
    config: dict

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

    def summary(self) -> str:
        total, done = len(self.decisions), len(self.offloaded)
        return (f"{done} of {total} operator calls offloaded to TensorRT "
                f"in {len(self.subgraphs)} subgraph{'s' if len(self.subgraphs) != 1 else ''}")

    def to_table(self) -> str:
        lines = [self.summary()]
        for symbol in self.subgraphs:
            ops = Counter(d.op for d in self.decisions if d.subgraph == symbol)
            lines.append(f"  {symbol}: " + ", ".join(f"{op.removeprefix('relax.')} x{n}" for op, n in ops.items()))
        kept = Counter((d.op, d.reason) for d in self.decisions if not d.offloaded)
        if kept:
            lines.append("Kept in TVM:")
            for (op, reason), n in kept.most_common():
                lines.append(f"  {op} x{n}: {reason}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "config": self.config, "subgraphs": self.subgraphs,
                "decisions": [asdict(d) for d in self.decisions]}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        return self.to_table()


def explain(mod, params=None, **partition_options) -> PartitionReport:
    from .api import partition_with_decisions

    _, config, decisions = partition_with_decisions(mod, params, **partition_options)
    return PartitionReport(decisions, config)
