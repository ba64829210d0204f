"""explain() for an ONNX model, and the model with the partition written into it, for Netron.

Each node gets metadata (`tvm_tensorrt.decision` = tensorrt | tvm | folded, `tvm_tensorrt.subgraph`,
`tvm_tensorrt.reason`) and a first line in its doc string, which Netron shows as the node's
description; nodes kept in TVM say so there. The model's own metadata gets the summary.

A node is matched to the operator calls it became through the binding names the importer gives
(frontend.import_onnx). A node with no call of its own was folded: a constant, shape arithmetic
computed at compile time, or merged into a neighbour (a bias add into its matmul, a batch norm
into its convolution) by onnxslim, TVM's importer or our folds.
"""

from __future__ import annotations

import os

import onnx

from .frontend import import_onnx, load_onnx, node_names
from tvm_tensorrt.partition.report import PartitionReport, explain

KEY = "tvm_tensorrt."
DOC_MARK = "[tvm-tensorrt]"
FOLDED = ("no operator of its own at run time: computed at compile time (constants, shape arithmetic), "
          "dropped, or merged into a neighbouring operator")
FOLDED_BY_TYPE = {"Constant": "a constant: no operator at run time, its value is used where it is read",
                  "Identity": "an identity: no operator at run time, its input is used directly"}


def explain_onnx(model_or_path, shape_dict=None, simplify=None, **partition_options) -> PartitionReport:
    """explain() of the imported model, its calls named by the ONNX nodes they come from
    (simplify: as for from_onnx)."""
    mod, node_of = import_onnx(model_or_path, shape_dict, simplify)
    report = explain(mod, None, **partition_options)
    report.node_names = node_of
    return report


def node_decisions(model: onnx.ModelProto, report) -> list[dict]:
    """One dict per node of the model, in order: name, decision, subgraph, reason."""
    calls: dict = {}
    for d in report.decisions:
        node = report.node_names.get(d.binding)
        if node is not None:
            calls.setdefault(node, []).append(d)
    rows = []
    for node, name in zip(model.graph.node, node_names(model)):
        mine = calls.get(name, [])
        subgraphs = sorted({d.subgraph for d in mine if d.subgraph}, key=lambda s: int(s.rsplit("_", 1)[1]))
        kept = [d for d in mine if not d.offloaded]
        if not mine:
            row = {"decision": "folded", "subgraph": "", "reason": FOLDED_BY_TYPE.get(node.op_type, FOLDED)}
        elif kept:
            row = {"decision": "tvm", "subgraph": ",".join(subgraphs), "reason": kept[0].reason or ""}
        else:
            row = {"decision": "tensorrt", "subgraph": ",".join(subgraphs), "reason": ""}
        rows.append({"name": name, **row})
    return rows


def annotate_onnx(model_or_path, report) -> onnx.ModelProto:
    """A copy of the model (the caller's model and file are not touched) with every node's
    decision. `report` must come from the same model (explain_onnx)."""
    original = load_onnx(model_or_path)
    model = onnx.ModelProto()
    model.CopyFrom(original)
    for node, row in zip(model.graph.node, node_decisions(model, report)):
        node.name = row["name"]  # unnamed nodes get the name the report uses for them
        _set_metadata(node.metadata_props, {"decision": row["decision"], "subgraph": row["subgraph"],
                                            "reason": row["reason"]})
        node.doc_string = _doc_line(row) + _own_doc(node.doc_string)
    _set_metadata(model.metadata_props, {"summary": report.summary(), "macs": report.mac_summary()})
    return model


def save_annotated(model: onnx.ModelProto, path) -> None:
    """Models past protobuf's 2 GB limit keep their weights in a side file, as onnx does."""
    large = sum(t.ByteSize() for t in model.graph.initializer) > (1 << 31) - (1 << 26)
    onnx.save_model(model, path, save_as_external_data=large,
                    location=f"{os.path.basename(os.fspath(path))}.data" if large else None)


def _doc_line(row: dict) -> str:
    if row["decision"] == "tensorrt":
        return f"{DOC_MARK} TensorRT, subgraph {row['subgraph']}"
    if row["decision"] == "tvm":
        return f"{DOC_MARK} KEPT IN TVM: {row['reason']}"
    return f"{DOC_MARK} folded: {row['reason']}"


def _own_doc(doc: str) -> str:
    """The node's own doc string, without a line we wrote before (annotating twice is harmless)."""
    lines = [line for line in doc.splitlines() if not line.startswith(DOC_MARK)]
    return "\n" + "\n".join(lines) if lines else ""


def _set_metadata(props, values: dict) -> None:
    keep = [(p.key, p.value) for p in props if not p.key.startswith(KEY)]
    del props[:]
    for key, value in keep + [(KEY + k, v) for k, v in values.items()]:
        entry = props.add()
        entry.key, entry.value = key, value

