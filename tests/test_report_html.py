"""The partition picture: the HTML report in a real headless browser, the SVG, the annotated ONNX
model for Netron, and the CLI that writes them."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

import onnx
import pytest

import tvm_tensorrt
from tvm_tensorrt.cli import main
from tvm_tensorrt.onnx_explain import annotate_onnx, explain_onnx, node_decisions
from tvm_tensorrt.partition.report_html import OPEN_COLLAPSED_ABOVE
from tvm_tensorrt.models import DEFAULT_MODEL

from report_browser import ReportPage, browser_binary, many_op_module

MODELS = os.path.join(os.path.dirname(__file__), "models")
BERT = os.path.join(MODELS, "bert_encoder.onnx")

needs_browser = pytest.mark.skipif(browser_binary() is None,
                                   reason="no Chromium binary (setup.sh installs Debian's chromium package)")


@pytest.fixture(scope="module")
def bert_report():
    """A model of the set, cut in three: each softmax stays in TVM (ops_to_exclude)."""
    return explain_onnx(BERT, ops_to_exclude=["nn.softmax"])


@pytest.fixture(scope="module")
def bert_html(bert_report, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "bert.html"
    bert_report.to_html(path, title="bert_encoder")
    return path


def test_the_table_names_the_onnx_nodes_kept_in_tvm(bert_report):
    lines = bert_report.to_table().splitlines()
    at = lines.index("  relax.nn.softmax x2: relax.nn.softmax is in ops_to_exclude")
    assert lines[at + 1] == ("    ONNX nodes: /model/encoder/layer.0/attention/self/Softmax, "
                             "/model/encoder/layer.1/attention/self/Softmax")


def test_the_report_is_one_offline_file(bert_html):
    """Nothing is fetched at view time: no src/href, no CSS url(), no @import (the SVG namespace
    URI is a name, not a fetch)."""
    html = bert_html.read_text()
    assert not re.search(r"""\b(src|href)\s*=|url\(|@import""", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}


@needs_browser
def test_the_report_in_a_browser(bert_report, bert_html, tmp_path):
    kept = [d for d in bert_report.decisions if not d.offloaded]
    assert len(bert_report.subgraphs) == 3 and len(kept) == 2
    fused = bert_report.fused_patterns  # each one box until opened (test_fused_report.py)
    pieces = {p["name"]: f["subgraph"] for f in fused for p in f["pieces"]}
    page = ReportPage(bert_html)
    try:
        # a small model opens expanded: one node per operator call, a fused pattern's calls one box
        assert page.count(".unit.op") == len(bert_report.decisions) - len(pieces)
        assert page.count(".unit.fused") == len(fused)
        assert page.count(".frame") == 3
        page.page.click("#collapse-all")
        assert page.count(".unit.group") == 3  # one group per subgraph
        assert page.count(".unit.op") == len(kept)  # only the TVM ops stay separate
        page.page.hover(".unit.op.tvm")
        details = page.page.inner_text("#details")
        assert kept[0].reason in details and "TVM" in details
        page.page.hover(".unit.group")
        assert "tensorrt_" in page.page.inner_text("#details")
        page.page.click(".unit.group[data-unit='g:tensorrt_1']")  # open one subgraph
        assert page.count(".unit.group") == 2
        members = sum(1 for d in bert_report.decisions if d.subgraph == "tensorrt_1")
        inside = [f for f in fused if f["subgraph"] == "tensorrt_1"]
        assert page.count(".unit.op.trt") == members - sum(len(f["pieces"]) for f in inside)
        assert page.count(".unit.fused") == len(inside)
        page.page.click("#expand-all")
        assert page.count(".unit.op") == len(bert_report.decisions)
        # the reasons summary: a click highlights exactly the ops kept for that reason
        page.page.click("#reasons li")
        assert page.count(".unit.hl") == len(kept)
        # search by subgraph and by op name
        page.page.fill("#search", "tensorrt_2")
        page.page.wait_for_function("document.getElementById('search-count').textContent !== ''")
        assert page.count(".unit.match") == sum(1 for d in bert_report.decisions if d.subgraph == "tensorrt_2")
        page.page.fill("#search", "softmax")
        page.page.wait_for_function("document.getElementById('search-count').textContent.startsWith('2 ')")
        page.page.fill("#search", "layer_norm")  # Enter before the typing pause: the new query, not the old
        page.page.press("#search", "Enter")
        norms = sum(1 for d in bert_report.decisions if d.op == "relax.nn.layer_norm")
        assert page.page.inner_text("#search-count") == f"{norms} matches" and page.count(".unit.match") == norms
        # a click in an open subgraph's frame, off any box, leaves it open; its title closes it
        page.page.click("#expand-all")  # back to the top of the graph, where the first frame starts
        frame = page.page.locator(".frame rect").first.bounding_box()
        page.page.mouse.click(frame["x"] + 3, frame["y"] + frame["height"] - 3)
        assert page.count(".frame") == 3
        page.page.locator(".frame-title").first.click()
        assert page.count(".frame") == 2 and page.count(".unit.group") == 1
        header = page.page.inner_text("header")
        total = len(bert_report.decisions)
        assert f"{total - 2} of {total} ops offloaded" in header and "3 TensorRT subgraphs" in header
        assert "TensorRT 10" in header and "batch mode" in header and "precision" in header
        shot = tmp_path / "bert_report.png"
        page.page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        assert page.errors == []
    finally:
        page.close()


@needs_browser
def test_a_2000_operator_report_opens_collapsed_and_expands(tmp_path):
    """The load time is measured in bench/report_load.py (goal: under 3 s); here, that it works."""
    report = tvm_tensorrt.explain(many_op_module(2000), ops_to_exclude=["nn.softmax"])
    assert len(report.decisions) == 2000 > OPEN_COLLAPSED_ABOVE
    path = tmp_path / "big.html"
    report.to_html(path)
    page = ReportPage(path)
    try:
        assert page.count(".unit.group") == len(report.subgraphs) >= 10
        assert page.count(".unit.op") == sum(1 for d in report.decisions if not d.offloaded)
        page.page.click("#expand-all")
        assert page.count(".unit.op") == 2000
        assert page.errors == []
    finally:
        page.close()


def test_counts_read_as_people_write_them():
    from tvm_tensorrt.partition.report import format_count

    assert [format_count(n) for n in (9999, 12345, 100_000, 120_000, 999_999, 1_700_000, 10**15)] == \
        ["9999", "12.3 k", "100 k", "120 k", "1 M", "1.7 M", "1000 T"]


@needs_browser
def test_names_from_the_model_stay_text_in_the_page(tmp_path):
    """Names come from the user's model: markup in one, or a "<!--<script" that would make the
    HTML parser swallow the page's script, is shown as text. The header's MACs read as Python
    writes them (200 k, once shown as "2 k")."""
    import numpy as np
    import tvm
    from tvm import relax

    hostile = '<!--<script>"><img src=x onerror="alert(1)">'  # no dots: TVM makes them _
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 100), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.matmul(x, relax.const(np.ones((100, 2000), "float32"))), name_hint=hostile)
            out = bb.emit_output(relax.op.nn.relu(y))
        bb.emit_func_output(out)
    report = tvm_tensorrt.explain(tvm.IRModule({"main": bb.get()["main"]}))
    assert report.totals["macs_total"] == 200_000
    path = tmp_path / "hostile.html"
    report.to_html(path, title=hostile)
    with ReportPage(path) as page:
        assert page.count("img") == 0 and page.errors == []
        assert "200 k of 200 k MACs offloaded" in page.page.inner_text("header")
        page.page.hover(".unit.op")
        assert hostile in page.page.inner_text("#details")


def test_the_svg_draws_the_collapsed_view(bert_report, tmp_path):
    path = tmp_path / "bert.svg"
    bert_report.to_svg(path, title="bert_encoder")
    root = ET.parse(path).getroot()  # well-formed XML
    svg = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(svg + "title")]
    boxes = len(bert_report.subgraphs) + 2 + 2 + 2  # subgraphs, the TVM softmaxes, 2 inputs, 2 outputs
    assert len(titles) == boxes
    assert sum(t.startswith("TensorRT subgraph") for t in titles) == 3
    kept = [t for t in titles if "stays in TVM" in t]
    assert len(kept) == 2 and all("ops_to_exclude" in t for t in kept)


def test_the_annotated_model_carries_every_node_s_decision(bert_report, tmp_path):
    model = onnx.load(BERT)
    annotated = annotate_onnx(BERT, bert_report)
    onnx.checker.check_model(annotated, full_check=True)
    assert onnx.load(BERT) == model  # the user's file is untouched
    rows = node_decisions(model, bert_report)
    assert len(rows) == len(annotated.graph.node) == len(model.graph.node)
    for node, row in zip(annotated.graph.node, rows):
        meta = {p.key: p.value for p in node.metadata_props}
        assert meta["tvm_tensorrt.decision"] in ("tensorrt", "tvm", "folded")
        assert meta["tvm_tensorrt.decision"] == row["decision"]
        assert node.doc_string.startswith("[tvm-tensorrt]")
    by_name = {n.name: n for n in annotated.graph.node}
    softmaxes = [n for n in model.graph.node if n.op_type == "Softmax"]
    assert len(softmaxes) == 2
    for node in softmaxes:  # the two TVM ops, marked where Netron shows them
        meta = {p.key: p.value for p in by_name[node.name].metadata_props}
        assert meta["tvm_tensorrt.decision"] == "tvm" and "ops_to_exclude" in meta["tvm_tensorrt.reason"]
        assert "KEPT IN TVM" in by_name[node.name].doc_string
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul"]
    assert matmuls and all({p.key: p.value for p in by_name[n.name].metadata_props}["tvm_tensorrt.decision"]
                           == "tensorrt" for n in matmuls)
    # every operator call the report names comes back to a node of the user's model
    named = {bert_report.node_names[d.binding] for d in bert_report.decisions if d.binding in bert_report.node_names}
    assert named <= {n.name for n in model.graph.node}
    assert len(named) >= 0.9 * len(bert_report.decisions)
    # annotating an annotated model again gives the same model
    again = annotate_onnx(annotated, bert_report)
    assert again == annotated


@pytest.mark.parametrize("simplify", [None, True])
def test_unnamed_and_fused_nodes_are_found(simplify):
    """The bundled CNN has no node names. Imported as it is (no shape arithmetic: onnxslim is not
    needed), our fold scales the conv's weights by the batch norm, which keeps the conv's name,
    and the batch norm becomes the bias add after it: every node has its call. Through onnxslim,
    the Conv and its BatchNormalization become one node of onnxslim's own name, found through the
    output tensor it shares with the user's model (the batch norm's), and the Conv is folded."""
    model = onnx.load(DEFAULT_MODEL)
    assert not any(n.name for n in model.graph.node)
    report = explain_onnx(DEFAULT_MODEL, simplify=simplify)
    rows = node_decisions(model, report)
    decided = {r["name"]: r["decision"] for r in rows}
    folded = set() if simplify is None else {"Conv_0"}
    assert {name for name, d in decided.items() if d == "folded"} == folded
    assert all(d == "tensorrt" for name, d in decided.items() if name not in folded)
    annotated = annotate_onnx(DEFAULT_MODEL, report)
    onnx.checker.check_model(annotated, full_check=True)
    assert [n.name for n in annotated.graph.node] == [r["name"] for r in rows]


def test_cli_explain_writes_the_three_files(tmp_path, capsys):
    html, svg, annotated = tmp_path / "r.html", tmp_path / "r.svg", tmp_path / "r.onnx"
    assert main(["explain", DEFAULT_MODEL, "--html", str(html), "--svg", str(svg), "--onnx", str(annotated)]) == 0
    out = capsys.readouterr().out
    assert "20 of 20 operator calls offloaded" in out and f"wrote html: {html}" in out
    assert html.read_text().startswith("<!DOCTYPE html>") and "default_cnn.onnx" in html.read_text()
    ET.parse(svg)
    onnx.checker.check_model(onnx.load(str(annotated)), full_check=True)


def test_cli_explain_refuses_to_overwrite_the_model(tmp_path, capsys):
    copy = tmp_path / "model.onnx"
    copy.write_bytes(open(DEFAULT_MODEL, "rb").read())
    before = copy.read_bytes()
    assert main(["explain", str(copy), "--onnx", str(copy)]) == 2  # a usage error, as argparse's
    err = capsys.readouterr().err
    assert "would replace the model" in err and "e.g. --onnx model.annotated.onnx" in err
    assert copy.read_bytes() == before
    assert main(["explain", str(copy), "--html", str(tmp_path / "missing" / "r.html")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("picture, model, options", [
    ("default_cnn_partition.svg", DEFAULT_MODEL, {}),
    ("bert_encoder_softmax_in_tvm.svg", BERT, {"ops_to_exclude": ["nn.softmax"]}),
])
def test_the_readme_pictures_are_current(picture, model, options):
    """The README shows these; regenerate with `tvm-tensorrt explain MODEL --svg docs/images/...`."""
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "images", picture)
    with open(path, encoding="utf-8") as f:
        committed = f.read()
    assert explain_onnx(model, **options).to_svg(title=os.path.basename(model)) == committed
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()
    assert f"(docs/images/{picture})" in readme
