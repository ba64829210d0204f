"""TensorRT's NMS, KV-cache-update and MoE layers against what today's exports need (issue 26).

None of the three becomes a layer of ours; docs/converters.md ("Layers not used, and why") says
why, and these tests hold the evidence those notes cite:

* NMS: the evaluator's NMS kernel agrees with onnxruntime on the networks NVIDIA's parser builds
  from ONNX NonMaxSuppression models (corner and centre boxes, batches, classes, thresholds,
  limits) except where TensorRT's layer is documented to differ (rows ordered by score across
  classes; no score threshold means scores must exceed 0); TVM's import of NonMaxSuppression has
  a data-dependent row count, so it stays in TVM, with that reason in explain().
* KV-cache update: the layer's cache must be a network input, updated in place, of fixed size.
* MoE: TensorRT-RTX 1.7's builder cannot build an IMoELayer network here.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import tvm_tensorrt
from test_evaluator import BACKEND, Parsed

TRT = BACKEND.trt


def nms_model(center=0, batch=2, classes=3, boxes=20, max_out=4, iou=0.4, score=0.3, thresholds=2):
    """One NonMaxSuppression node; `thresholds`: how many of iou_threshold, score_threshold it has."""
    names = ["boxes", "scores", "max_out", "iou", "score"][:3 + thresholds]
    values = [np.array([max_out], np.int64), np.array([iou], np.float32), np.array([score], np.float32)]
    node = helper.make_node("NonMaxSuppression", names, ["selected"], center_point_box=center)
    graph = helper.make_graph(
        [node], "nms",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, boxes, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, classes, boxes])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, ["selected_count", 3])],
        initializer=[numpy_helper.from_array(v, n) for v, n in zip(values, names[2:])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8  # onnxruntime's highest
    return model


def nms_inputs(seed, center, batch=2, classes=3, boxes=20, low=0.0):
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 10, (batch, boxes, 2))
    size = rng.uniform(1, 5, (batch, boxes, 2))
    data = np.concatenate([corner + size / 2, size] if center else [corner + size, corner], axis=-1)  # flipped pairs
    scores = rng.uniform(low, 1, (batch, classes, boxes))
    return {"boxes": data.astype(np.float32), "scores": scores.astype(np.float32)}


def by_class(rows):
    """Rows in ONNX's order: by batch and class, keeping each class's order (a stable sort)."""
    return sorted(map(tuple, rows.tolist()), key=lambda r: (r[0], r[1]))


def assert_score_order(rows, scores):
    for b in np.unique(rows[:, 0]):
        mine = rows[rows[:, 0] == b]
        ranked = scores[mine[:, 0], mine[:, 1], mine[:, 2]]
        assert np.all(np.diff(ranked) <= 0), f"batch {b}: rows not in decreasing score: {ranked}"


@pytest.mark.parametrize("center", [0, 1])
def test_nms_layer_selects_what_onnxruntime_selects(center):
    model = nms_model(center=center)
    parsed = Parsed(model)
    assert parsed.layer_types["NMS"] == 1
    for seed in range(3):
        feeds = nms_inputs(seed, center)
        got = parsed.evaluate(feeds)["selected"]
        expected = ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0]
        assert got.dtype == np.int64 and len(expected) > 6
        assert by_class(got) == [tuple(r) for r in expected.tolist()]
        assert_score_order(got, feeds["scores"])


def test_nms_without_score_threshold_drops_scores_not_above_zero():
    """ONNX selects among all boxes when score_threshold is absent; TensorRT's layer then uses
    0.0, which a score must exceed: the parser's network loses the non-positive ones."""
    model = nms_model(thresholds=1, iou=0.5, max_out=20)
    feeds = nms_inputs(7, 0, low=-1.0)
    got = Parsed(model).evaluate(feeds)["selected"]
    expected = ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0]
    scores = feeds["scores"]
    positive = [tuple(r) for r in expected.tolist() if scores[r[0], r[1], r[2]] > 0]
    assert len(positive) < len(expected), "the case must have a selected box of non-positive score"
    # a non-positive box ranks below every positive one, so it never suppresses or displaces one
    assert by_class(got) == positive


def test_tvm_keeps_non_max_suppression_and_says_why(tmp_path):
    path = tmp_path / "nms.onnx"
    onnx.save(nms_model(batch=1, classes=2, boxes=6, max_out=3), str(path))
    mod, params = tvm_tensorrt.from_onnx(str(path))
    decisions = [d for d in tvm_tensorrt.explain(mod, params=params).decisions
                 if d.op == "relax.vision.all_class_non_max_suppression"]
    assert len(decisions) == 1 and not decisions[0].offloaded
    assert "data-dependent number of rows" in decisions[0].reason


class Errors(TRT.ILogger):
    """The builder's error messages, to check a refusal is the one the docs cite."""

    def __init__(self):
        TRT.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if severity in (TRT.ILogger.ERROR, TRT.ILogger.INTERNAL_ERROR):
            self.messages.append(msg)


def _build(network, builder):
    return builder.build_serialized_network(network, builder.create_builder_config())


def _kv_network(cache_from_input: bool, logger):
    builder = TRT.Builder(logger)
    network = builder.create_network(0)
    if cache_from_input:
        cache = network.add_input("cache", TRT.float32, (1, 2, 8, 4))
    else:  # the export's contract: present = concat(past, new) along the sequence
        past = network.add_input("past", TRT.float32, (1, 2, 7, 4))
        spare = network.add_constant((1, 2, 1, 4), TRT.Weights(np.zeros((1, 2, 1, 4), np.float32))).get_output(0)
        joined = network.add_concatenation([past, spare])
        joined.axis = 2
        cache = joined.get_output(0)
    update = network.add_input("update", TRT.float32, (1, 2, 1, 4))
    where = network.add_input("write_indices", TRT.int32, (1,))
    layer = network.add_kv_cache_update(cache, update, where, TRT.KVCacheMode.LINEAR)
    network.mark_output(layer.get_output(0))
    return builder, network, layer


def test_kv_cache_update_writes_into_a_network_input_of_fixed_size():
    logger = Errors()
    builder, network, layer = _kv_network(True, logger)
    assert tuple(layer.get_output(0).shape) == (1, 2, 8, 4)  # the cache's size, not past + new
    assert _build(network, builder) is not None
    builder, network, _ = _kv_network(False, logger)
    assert _build(network, builder) is None
    assert any("The cache tensor must be a network input" in m for m in logger.messages), logger.messages


def test_moe_layer_does_not_build_with_tensorrt_rtx_1_7():
    logger = Errors()
    builder = TRT.Builder(logger)
    network = builder.create_network(0)
    tokens, hidden, inter, experts, k = 8, 32, 16, 4, 2
    x = network.add_input("x", TRT.float16, (1, tokens, hidden))
    chosen = network.add_input("experts", TRT.int32, (1, tokens, k))
    weights = network.add_input("weights", TRT.float16, (1, tokens, k))
    layer = network.add_moe(x, chosen, weights)
    rng = np.random.default_rng(0)

    def constant(*shape):
        return network.add_constant(shape, TRT.Weights(rng.standard_normal(shape).astype(np.float16))).get_output(0)

    layer.set_gated_weights(constant(experts, hidden, inter), constant(experts, hidden, inter),
                            constant(experts, inter, hidden), TRT.MoEActType.SILU)
    network.mark_output(layer.get_output(0))
    assert tuple(layer.get_output(0).shape) == (1, tokens, hidden)
    assert _build(network, builder) is None
    assert any("Cannot decompose operation" in m and "moe" in m for m in logger.messages), logger.messages


def test_moe_network_of_nvidias_parser_fails_the_same_way():
    """Not our use of the API: the network NVIDIA's parser makes of its own TRT_MoE node fails too."""
    tokens, hidden, inter, experts, k = 8, 32, 16, 4, 2
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float16), name) for name, shape in
               (("gate", (experts, hidden, inter)), ("up", (experts, hidden, inter)), ("down", (experts, inter, hidden)))]
    node = helper.make_node("TRT_MoE", ["x", "experts", "weights", "gate", "up", "down"], ["y"], domain="trt",
                            activation_type=1)  # SILU
    graph = helper.make_graph(
        [node], "moe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, tokens, hidden]),
         helper.make_tensor_value_info("experts", TensorProto.INT32, [1, tokens, k]),
         helper.make_tensor_value_info("weights", TensorProto.FLOAT16, [1, tokens, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, tokens, hidden])], initializer=weights)
    parsed = Parsed(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("trt", 1)]))
    assert parsed.layer_types["MOE"] == 1
    logger = Errors()
    builder = TRT.Builder(logger)  # the parsed network, built by a builder that records its errors
    assert builder.build_serialized_network(parsed.network, builder.create_builder_config()) is None
    assert any("Cannot decompose operation" in m and "moe" in m for m in logger.messages), logger.messages
