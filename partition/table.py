"""docs/operators.md, generated from the rule registry (so the table cannot drift from the code).

    python -m tvm_tensorrt.partition.table > docs/operators.md

One row per operator of the original (Relay) TensorRT table, with the Relax operator(s) that
stand for it; rules registered without an original name (plugins) get rows of their own.
"""

from __future__ import annotations

from . import rules  # noqa: F401  (registers the built-in rules)
from tvm_tensorrt.common import format_version
from .registry import get_rule, registered_rule_names

HEADER = """# Operators

Generated from the rule registry by `python -m tvm_tensorrt.partition.table`; do not edit by hand
(`tests/test_operator_table.py` fails when this file and the registry disagree).

Each row is an operator of the original Relay TensorRT integration and the Relax operator(s)
our rule and converter are registered under (Relax renamed or merged many: `nn.dense` and
`nn.batch_matmul` are `matmul`, `nn.bias_add` is `add`, global pools are adaptive pools or
reductions with `keepdims`). Every rule also requires tensors of the dtypes its layer takes
(float32/float16/bfloat16 unless its limits say more) and shapes its converter can build
(symbolic dims: see docs/partitioning.md) and, where the implicit-batch limits bind (targets
below TensorRT 10, or a symbolic batch), that every computed input and the output keep one
batch dimension, dim 0; the columns list what each rule adds to that. "symbolic dims": "any" where the converter builds
shapes at run time, "batch" where only a symbolic dim 0 the op leaves alone is taken. "MACs" marks
the ops whose multiply-accumulates `remove_no_mac_subgraphs` and `explain()` count.

"""


def _rows() -> list[tuple]:
    """(original name, [rules]) in the order of first registration of the original name."""
    by_original: dict[str, list] = {}
    unnamed = []
    for name in registered_rule_names():
        rule = get_rule(name)
        if not rule.original:
            unnamed.append(("", [rule]))
        for original in rule.original:
            by_original.setdefault(original, []).append(rule)
    return sorted(by_original.items()) + unnamed


def _cell(ops, values) -> str:
    """One op: its text. Several (one original name, several Relax forms): "`op`: text" each."""
    named = [(op, v) for op, v in zip(ops, values) if v]
    if not named:
        return "-"
    if len(ops) == 1 or len({v for _, v in named}) == 1 and len(named) == len(ops):
        return named[0][1]
    return "; ".join(f"`{op}`: {v}" for op, v in named)


def operator_table() -> list[dict]:
    """The rows as data: original, relax (op names), min_version, batch_limits, limits, macs,
    dtypes, dynamic (symbolic dims beyond the batch)."""
    rows = []
    for original, rules_ in _rows():
        rows.append({
            "original": original or None,
            "relax": [r.op_name for r in rules_],
            "min_version": [list(r.min_version) if r.min_version else None for r in rules_],
            "batch_limits": [r.batch_limits for r in rules_],
            "limits": [r.limits for r in rules_],
            "macs": [r.does_mac_work for r in rules_],
            "dtypes": [list(r.dtypes) for r in rules_],
            "dynamic": [r.dynamic for r in rules_],
        })
    return rows


def _dtype_classes(dtypes) -> str:
    """float32/float16/bfloat16 -> "float"; with int32/int64 and bool spelled out."""
    found = ["float"] if {"float32", "float16", "bfloat16"} <= set(dtypes) else \
        [d for d in dtypes if d.startswith(("float", "bfloat"))]
    return ", ".join(found + [d for d in dtypes if not d.startswith(("float", "bfloat"))])


def markdown() -> str:
    lines = [HEADER.rstrip("\n"), "",
             "| original | Relax operator | min TensorRT | dtypes | symbolic dims | implicit-batch limits | "
             "attribute limits | MACs |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in operator_table():
        gates = {tuple(v) if v else None for v in row["min_version"]}
        if len(gates) == 1:
            gate = next(iter(gates))
            version = format_version(gate) if gate else "any"
        else:
            version = "; ".join(f"{op}: {format_version(v) if v else 'any'}"
                                for op, v in zip(row["relax"], row["min_version"]))
        relax_ops = ", ".join(f"`{op}`" for op in row["relax"])
        macs = "yes" if any(row["macs"]) else ""
        dtypes = _cell(row["relax"], [_dtype_classes(d) for d in row["dtypes"]])
        symbolic = _cell(row["relax"], ["any" if d else "batch" for d in row["dynamic"]])
        lines.append(f"| {'`' + row['original'] + '`' if row['original'] else '-'} | {relax_ops} | {version} | "
                     f"{dtypes} | {symbolic} | {_cell(row['relax'], row['batch_limits'])} | "
                     f"{_cell(row['relax'], row['limits'])} | {macs} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
