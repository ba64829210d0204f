"""explain() and the HTML report know the fused patterns (converters/patterns.py): which calls
the network builder builds as one unit, into which TensorRT layers, and why a pattern found
elsewhere did not apply; the answer is the network builder's own find_matches."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest
import tvm
from tvm import relax

import tvm_tensorrt
from tvm_tensorrt.converters.network import fusion_plan
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.partition.api import partition_with_decisions
from tvm_tensorrt.partition.report import PartitionReport

from report_browser import ReportPage, browser_binary
from test_fused_layers import escaping_mean_model, layer_types, network_layers

needs_browser = pytest.mark.skipif(browser_binary() is None,
                                   reason="no Chromium binary (setup.sh installs Debian's chromium package)")

ATTENTION_OPS = ["permute_dims", "matmul", "multiply", "add", "nn.softmax", "matmul"]
LAYER_NORM_OPS = ["mean", "subtract", "power", "mean", "add", "sqrt", "divide", "multiply", "add"]


def attention_block() -> tvm.IRModule:
    """Scaled dot-product attention with an additive mask, then a LayerNorm written as its
    pieces, then a relu: two patterns and one call of its own."""
    rng = np.random.default_rng(0)
    const = lambda *shape: relax.const(rng.standard_normal(shape).astype("float32"))  # noqa: E731
    scalar = lambda v: relax.const(np.float32(v))  # noqa: E731
    bb = relax.BlockBuilder()
    q, k, v = (relax.Var(n, relax.TensorType((1, 2, 4, 8), "float32")) for n in "qkv")
    with bb.function("main", [q, k, v]):
        with bb.dataflow():
            kt = bb.emit(relax.op.permute_dims(k, [0, 1, 3, 2]), name_hint="k_t")
            s = bb.emit(relax.op.matmul(q, kt), name_hint="scores")
            s = bb.emit(relax.op.multiply(s, scalar(0.35)), name_hint="scaled")
            s = bb.emit(relax.op.add(s, const(1, 1, 4, 4)), name_hint="masked")
            p = bb.emit(relax.op.nn.softmax(s, axis=-1), name_hint="probs")
            o = bb.emit(relax.op.matmul(p, v), name_hint="context")
            mu = bb.emit(relax.op.mean(o, axis=[-1], keepdims=True), name_hint="mu")
            d = bb.emit(relax.op.subtract(o, mu), name_hint="centred")
            sq = bb.emit(relax.op.power(d, scalar(2.0)), name_hint="sq")
            var = bb.emit(relax.op.mean(sq, axis=[-1], keepdims=True), name_hint="var")
            ve = bb.emit(relax.op.add(var, scalar(1e-5)), name_hint="var_eps")
            std = bb.emit(relax.op.sqrt(ve), name_hint="std")
            n = bb.emit(relax.op.divide(d, std), name_hint="normed")
            g = bb.emit(relax.op.multiply(n, const(8)), name_hint="gamma")
            b = bb.emit(relax.op.add(g, const(8)), name_hint="beta")
            out = bb.emit_output(relax.op.nn.relu(b))
        bb.emit_func_output(out)
    return tvm.IRModule({"main": bb.get()["main"]})


@pytest.fixture(scope="module")
def block():
    return attention_block()


@pytest.fixture(scope="module")
def report(block):
    return tvm_tensorrt.explain(block)


def _ops(pieces):
    return [p["op"].removeprefix("relax.") for p in pieces]


def test_explain_names_each_fused_pattern_its_layers_and_pieces(report, block):
    fused = report.fused_patterns
    assert [f["key"] for f in fused] == ["attention", "layer_norm"]
    attention, norm = fused
    assert _ops(attention["pieces"]) == ATTENTION_OPS and attention["root"] == "context"
    assert [p["name"] for p in attention["pieces"]] == ["k_t", "scores", "scaled", "masked", "probs", "context"]
    assert _ops(norm["pieces"]) == LAYER_NORM_OPS and norm["root"] == "beta"
    assert attention["layer"] == "one IAttention" and norm["layer"] == "one normalization layer"
    # the layers named are the ones the runtime's network has: true by construction
    built = layer_types(network_layers(block, None))
    named = collections.Counter(t for f in fused for t in f["layers"])
    assert named["ATTENTION_INPUT"] == built["ATTENTION_INPUT"] == 1
    assert named["NORMALIZATION"] == built["NORMALIZATION"] == 1 and built["SOFTMAX"] == 0
    relu = [d for d in report.decisions if d.op == "relax.nn.relu"]
    assert relu[0].pattern is None and relu[0].offloaded
    lines = report.to_table().splitlines()
    at = lines.index("Fused patterns (each built by its own converter, not as a layer per call):")
    assert lines[at + 1] == ("  tensorrt_0 attention: one IAttention [ELEMENTWISE, ATTENTION_INPUT, ATTENTION_OUTPUT] "
                             "from permute_dims, matmul, multiply, add, nn.softmax, matmul "
                             "(nodes k_t, scores, scaled, masked, probs, context)")
    assert lines[at + 2].startswith("  tensorrt_0 layer_norm: one normalization layer [NORMALIZATION] from mean, ")
    assert lines[at + 2].endswith("(nodes mu, centred, sq, var, var_eps, std, normed, gamma, +1 more)")
    data = json.loads(report.to_json())
    assert data["fused_patterns"] == fused and data["unfused_patterns"] == []
    assert {d["pattern"] for d in data["decisions"]} == {"attention", "layer_norm", None}


def test_no_fuse_shows_the_pieces_and_says_so(block):
    report = tvm_tensorrt.explain(block, no_fuse=["attention"])
    assert [f["key"] for f in report.fused_patterns] == ["layer_norm"]
    assert [(u["key"], u["at"], u["reason"]) for u in report.unfused_patterns] == \
        [("attention", "context", "turned off (no_fuse=['attention'])")]
    assert "  tensorrt_0 attention at context (matmul): turned off (no_fuse=['attention'])" in report.to_table()


def test_a_pattern_that_does_not_apply_says_why_in_the_model_s_names():
    mod, params = tvm_tensorrt.from_onnx(escaping_mean_model())
    report = tvm_tensorrt.explain(mod, params)
    assert report.fused_patterns == []
    [unfused] = report.unfused_patterns
    assert unfused["key"] == "layer_norm" and unfused["reason"].startswith(
        "node ReduceMean_0 (mean) is also read outside the pattern")


def _plan(mod, config_options=None):
    """(key, ops of the members) of every match the network builder makes, straight from it."""
    partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, **(config_options or {}))
    found = []
    for gvar, func in partitioned.functions.items():
        if func.attrs is not None and func.attrs.get("Codegen") == "tensorrt":
            subgraph = subgraph_of(func, gvar.name_hint, config)
            for match in fusion_plan(subgraph)[0]:
                found.append((match.key, [subgraph.nodes[i]["op"] for i in sorted(match.members)]))
    return sorted(found)


def test_the_report_is_the_network_builder_s_plan_with_and_without_tensorrt(report, block):
    """Without TensorRT the partition has no networks; the report plans from the subgraphs
    instead, the same patterns, only the layers unknown."""
    assert sorted((f["key"], _ops(f["pieces"])) for f in report.fused_patterns) == _plan(block)
    _, config, decisions = partition_with_decisions(block, convert=False)
    planned = PartitionReport(decisions, config).fused_patterns
    assert [(f["key"], f["pieces"], f["root"]) for f in planned] == \
        [(f["key"], f["pieces"], f["root"]) for f in report.fused_patterns]
    assert all(f["layers"] == [] for f in planned)


@needs_browser
def test_a_fused_pattern_is_one_box_that_opens_to_its_pieces(report, tmp_path):
    path = tmp_path / "fused.html"
    report.to_html(path, title="attention block")
    pieces = sum(len(f["pieces"]) for f in report.fused_patterns)
    with ReportPage(path) as page:
        assert page.count(".unit.fused") == 2
        assert page.count(".unit.op") == len(report.decisions) - pieces  # the relu
        page.page.hover(".unit.fused[data-unit='f:0']")
        details = page.page.inner_text("#details")
        assert "one IAttention" in details and "ATTENTION_INPUT" in details and "nn.softmax" in details
        page.page.click(".unit.fused[data-unit='f:0']")  # open the attention
        assert page.count(".unit.fused") == 1 and page.count(".fuse-frame") == 1
        assert page.count(".unit.op") == 1 + len(report.fused_patterns[0]["pieces"])
        page.page.hover(".unit.op[data-unit='n:%d']" % _node(report, "probs"))
        assert "fused into" in page.page.inner_text("#details")
        page.page.click(".fuse-title")  # its frame's title closes it again
        assert page.count(".unit.fused") == 2 and page.count(".fuse-frame") == 0
        page.page.click("#fusions li")  # the list: a click highlights the pattern's box
        assert page.count(".unit.fused.hl") == 1
        assert "attention" in page.page.inner_text("#fusions") and "layer_norm" in page.page.inner_text("#fusions")
        page.page.fill("#search", "attention")
        page.page.press("#search", "Enter")
        assert page.count(".unit.fused.match") == 1
        page.page.click("#expand-all")
        assert page.count(".unit.op") == len(report.decisions) and page.count(".fuse-frame") == 2
        page.page.click("#collapse-all")
        assert page.count(".unit.group") == 1 and page.count(".unit.fused") == 0
        assert page.errors == []


@needs_browser
def test_a_pattern_turned_off_is_drawn_as_its_pieces_with_the_reason(block, tmp_path):
    report = tvm_tensorrt.explain(block, no_fuse=["attention", "layer_norm"])
    path = tmp_path / "pieces.html"
    report.to_html(path)
    with ReportPage(path) as page:
        assert page.count(".unit.fused") == 0 and page.count(".unit.op") == len(report.decisions)
        page.page.hover(".unit.op[data-unit='n:%d']" % _node(report, "context"))
        assert "not fused" in page.page.inner_text("#details") and "turned off" in page.page.inner_text("#details")
        assert "turned off" in page.page.inner_text("#fusions")
        assert page.errors == []


def _node(report, binding) -> int:
    """The report page's node index of a call: inputs are numbered as the calls first read them."""
    from tvm_tensorrt.partition.report_view import view_graph

    return next(i for i, n in enumerate(view_graph(report).nodes) if n["kind"] == "op" and n["name"] == binding)
