"""Triage of "today's exports" (tests/models/exports, issue 24): what happens to each model as exported.

Per model: onnxruntime runs at both test sizes of its symbolic axes (inputs made from
manifest.json); our import (tvm_tensorrt.from_onnx) works, or its error's last line and the ONNX
node it failed on; if it imports, our TensorRT subgraphs, operator calls offloaded / total and the
commonest reason one stayed in TVM (tvm_tensorrt.explain); whether NVIDIA's ONNX parser
(TensorRT-RTX OnnxParser) takes the whole file, or its first error and node.

    .venv/bin/python bench/exports_triage.py [NAME ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "models" / "exports"
sys.path.insert(0, str(ROOT / "tests"))
from model_utils import manifest_inputs as make_inputs  # noqa: E402  (the tests' inputs, shared)


def last_line(err: BaseException, keep: int = 260) -> str:
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    text = f"{type(err).__name__}: {lines[-1] if lines else ''}"
    return text if len(text) <= keep else "..." + text[-keep:]  # the end says what was expected


def onnxruntime_ok(path: Path, entry: dict) -> str:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for k in (0, 1):
        try:
            outs = sess.run(None, make_inputs(entry, k))
        except Exception as err:
            return f"size {k}: {last_line(err)}"
        if not all(np.isfinite(o).all() for o in outs if o.dtype.kind == "f"):
            return f"size {k}: non-finite output"
    return "ok"


@contextlib.contextmanager
def failing_node():
    """Records (node name, op) of the ONNX node TVM's importer was converting when it raised."""
    from tvm.relax.frontend.onnx import onnx_frontend

    importer, seen = onnx_frontend.ONNXGraphImporter, {}
    original = importer._convert_operator

    def convert(self, op_name, inputs, attrs, opset):
        try:
            return original(self, op_name, inputs, attrs, opset)
        except Exception:
            seen.setdefault("node", [attrs.get("tvm_custom", {}).get("name"), op_name])
            raise

    importer._convert_operator = convert
    try:
        yield seen
    finally:
        importer._convert_operator = original


def user_node(path: Path, err: Exception, node):
    """[name, op] of the user's ONNX node an import error is about, where one can be found."""
    nodes = onnx.load(str(path), load_external_data=False).graph.node
    if node:  # onnxslim names a node it rewrote after its output: name the user's node
        return [next((n.name for n in nodes if node[0] in n.output), node[0]), node[1]]
    if "not supported for frontend ONNX:" in str(err):  # an operator with no converter at all
        return [None, str(err).split("frontend ONNX:")[1].strip()]
    if "Node " in str(err):  # "Node /decoder/Tile cannot handle ShapeExpr inputs."
        name = str(err).split("Node ")[1].split()[0]
        return [name, next((n.op_type for n in nodes if n.name == name), None)]
    return None


def ours(path: Path) -> dict:
    import tvm_tensorrt

    warned = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warned.append(record.getMessage().splitlines()[0][:200])
    logging.getLogger("tvm_tensorrt").addHandler(handler)
    try:
        with failing_node() as seen, contextlib.redirect_stdout(io.StringIO()):  # TVM prints as it fails
            try:
                mod, params = tvm_tensorrt.from_onnx(str(path))
            except Exception as err:
                return {"import": last_line(err), "node": user_node(path, err, seen.get("node")), "warnings": warned}
        try:
            report = tvm_tensorrt.explain(mod, params)
        except Exception as err:
            return {"import": "ok", "partition": last_line(err), "warnings": warned}
    finally:
        logging.getLogger("tvm_tensorrt").removeHandler(handler)
    kept = Counter(f"{d.op}: {d.reason}" for d in report.decisions if not d.offloaded).most_common(1)
    return {"import": "ok", "subgraphs": len(report.subgraphs), "offloaded": report.totals["ops_offloaded"],
            "total": report.totals["ops_total"], "kept": kept, "warnings": warned}


def nvidia_parser(path: Path) -> str:
    from tvm_tensorrt.backend import load_backend

    trt = load_backend().trt
    logger = trt.Logger(trt.Logger.INTERNAL_ERROR)
    builder = trt.Builder(logger)  # the builder must outlive its network, the network its parser
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if parser.parse_from_file(str(path)):
        return "whole"
    err = parser.get_error(0)
    op, name = err.node_operator(), err.node_name()
    if not name and err.node() >= 0:  # some errors name only the node's index
        node = onnx.load(str(path), load_external_data=False).graph.node[err.node()]
        op, name = node.op_type, node.name
    elif not name:  # or no node at all: the importer function says which op
        op = f"({err.func()})"
    return f"{op} {name}: {err.desc().strip()}"[:300]


def main(argv=None):
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("names", nargs="*")
    cli.add_argument("--json", type=Path)
    args = cli.parse_args(argv)
    manifest = json.loads((EXPORTS / "manifest.json").read_text())
    rows = []
    print(f"{'model':20s} {'ORT':4s} {'import':6s} {'TRT sg':>6s} {'offloaded/total':>15s}  NVIDIA parser")
    for name in args.names or manifest:
        path = EXPORTS / f"{name}.onnx"
        row = {"model": name, "onnxruntime": onnxruntime_ok(path, manifest[name]), **ours(path)}
        try:
            row["parser"] = nvidia_parser(path)
        except Exception as err:
            row["parser"] = last_line(err)
        rows.append(row)
        share = f"{row['offloaded']}/{row['total']}" if "offloaded" in row else "-"
        print(f"{name:20s} {'ok' if row['onnxruntime'] == 'ok' else 'FAIL':4s} "
              f"{'ok' if row['import'] == 'ok' else 'FAIL':6s} {row.get('subgraphs', '-'):>6} {share:>15s}  "
              f"{row['parser']}", flush=True)
    print()
    for row in rows:
        for key in ("onnxruntime", "import", "partition"):
            if row.get(key, "ok") != "ok":
                where = f" [node {row['node'][0]} ({row['node'][1]})]" if key == "import" and row.get("node") else ""
                print(f"{row['model']}: {key}: {row[key]}{where}")
        for reason, n in row.get("kept", []):
            print(f"{row['model']}: most kept in TVM ({n}x): {reason}")
        for message in row["warnings"]:
            print(f"{row['model']}: warning: {message}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
