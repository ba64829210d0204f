"""The CPU evaluator of TensorRT network definitions (tvm_tensorrt.verification), checked independently.

The evaluator must not agree with our converters by accident, so it is checked on networks that
NVIDIA's own ONNX parser (shipped with TensorRT-RTX) builds from ONNX models whose outputs are
known independently of us:

* the ONNX package's backend node tests. This onnx wheel ships no `backend/test/data/node`
  folder, so the same cases are generated with `onnx.backend.test.case.node.collect_testcases()`
  (the code that writes those folders; expected outputs come from ONNX's numpy reference code);
* the ONNX package's `backend/test/data/pytorch-converted` and `pytorch-operator` folders
  (model.onnx + test_data_set_0) and its `light` ResNet-50 / DenseNet-121 models;
* small models made here with onnx.helper (random weights, fixed seed) whose expected outputs
  come from onnxruntime.

Every case named SUPPORTED below must parse and match; every case named in UNSUPPORTED must fail
in the way its reason says (so neither list can silently rot).
"""

from __future__ import annotations

import collections
import functools
import glob
import os
import warnings

import numpy as np
import pytest

import onnx
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tvm_tensorrt.errors import TensorRTError  # noqa: E402
from tvm_tensorrt.backend import load_backend  # noqa: E402
from tvm_tensorrt.verification import (EvaluationError, UnsupportedLayerError, evaluate_network,  # noqa: E402
                                 supported_layer_types)

BACKEND = load_backend()  # a missing backend fails loudly: these tests need the real builder
ONNX_DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


# ---- parsing ---------------------------------------------------------------------------------
class ParseFailed(Exception):
    pass


class Parsed:
    """A network built by NVIDIA's ONNX parser; holds the parser, which owns the weights."""

    def __init__(self, model):
        trt = BACKEND.trt
        self.trt = trt
        self.logger = trt.Logger(trt.Logger.ERROR)
        self.builder = trt.Builder(self.logger)
        self.network = self.builder.create_network(0)
        self.parser = trt.OnnxParser(self.network, self.logger)
        if not self.parser.parse(model.SerializeToString()):
            errors = [str(self.parser.get_error(i)) for i in range(self.parser.num_errors)]
            raise ParseFailed("; ".join(errors) or "parse failed")
        self.layer_types = collections.Counter(self.network.get_layer(i).type.name
                                               for i in range(self.network.num_layers))

    def evaluate(self, feeds):
        return evaluate_network(self.network, self.trt, feeds)


def _array(value):
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def assert_matches(got, expected, what):
    expected = _array(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    if expected.dtype == np.float16:
        assert got.dtype == np.float16, f"{what}: expected a float16 result, got {got.dtype}"
    if expected.dtype.kind in "fV" or got.dtype.kind in "fV":
        half = np.float16 in (got.dtype, expected.dtype)
        rtol, atol = (2e-3, 2e-3) if half else (1e-4, 1e-5)
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


# ---- ONNX backend node tests -------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def node_cases() -> dict:
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {case.name: case for case in collect_testcases(None)}


def node_model(name, variant):
    """The case's model; with variant "data" every graph input but the first becomes an
    initializer (as weights, shapes and axes are in real models), with "all" none does."""
    case = node_cases()[name]
    inputs, outputs = case.data_sets[0]
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    keep = range(len(inputs)) if variant == "all" else [0]
    feeds = {}
    graph_inputs = list(graph.input)
    del graph.input[:]
    for i, info in enumerate(graph_inputs):
        value = _array(inputs[i])
        if i in keep:
            graph.input.append(info)
            feeds[info.name] = value
        else:
            graph.initializer.append(numpy_helper.from_array(value, info.name))
    return model, feeds, [o.name for o in graph.output], outputs


@functools.lru_cache(maxsize=None)
def parsed_node_case(name, variant):
    model, feeds, names, outputs = node_model(name, variant)
    return Parsed(model), feeds, names, outputs


def _cases(variant, names):
    return [(name, variant) for name in names.split()]


# Curated: every layer type and attribute our converters use, plus the rest of the evaluator.
SUPPORTED_NODE_CASES = (
    # CONVOLUTION: pads, asymmetric pads, strides, SAME padding; kernel as weights and as input
    _cases("data", "test_basic_conv_with_padding test_basic_conv_without_padding test_conv_with_strides_padding "
                   "test_conv_with_strides_no_padding test_conv_with_strides_and_asymmetric_padding "
                   "test_conv_with_autopad_same")
    + _cases("all", "test_basic_conv_with_padding test_conv_with_strides_and_asymmetric_padding "
                    "test_conv_with_autopad_same")
    # DECONVOLUTION
    + _cases("data", "test_convtranspose test_convtranspose_1d test_convtranspose_3d test_convtranspose_pads "
                     "test_convtranspose_dilations test_convtranspose_autopad_same test_convtranspose_group_2 "
                     "test_convtranspose_group_2_image_3 test_convtranspose_output_shape "
                     "test_convtranspose_kernel_shape test_convtranspose_pad")
    # POOLING: max/average, pads, count_include_pad, SAME_UPPER/LOWER, ceil mode, 1-D and 3-D
    + _cases("data", "test_averagepool_2d_default test_averagepool_2d_pads test_averagepool_2d_pads_count_include_pad "
                     "test_averagepool_2d_precomputed_pads test_averagepool_2d_precomputed_pads_count_include_pad "
                     "test_averagepool_2d_precomputed_same_upper test_averagepool_2d_precomputed_strides "
                     "test_averagepool_2d_same_upper test_averagepool_2d_same_lower test_averagepool_2d_strides "
                     "test_averagepool_2d_ceil test_averagepool_1d_default test_averagepool_3d_default "
                     "test_maxpool_2d_default test_maxpool_2d_pads test_maxpool_2d_precomputed_pads "
                     "test_maxpool_2d_precomputed_same_upper test_maxpool_2d_precomputed_strides "
                     "test_maxpool_2d_same_upper test_maxpool_2d_same_lower test_maxpool_2d_strides "
                     "test_maxpool_2d_ceil test_maxpool_1d_default test_maxpool_3d_default "
                     "test_globalaveragepool test_globalmaxpool test_lppool_2d_strides")
    # ACTIVATION (and PARAMETRIC_RELU)
    + _cases("data", "test_relu test_sigmoid test_tanh test_leakyrelu test_leakyrelu_default test_elu "
                     "test_elu_default test_selu test_selu_default test_softplus test_softsign test_hardsigmoid "
                     "test_hardsigmoid_default test_thresholdedrelu test_thresholdedrelu_default test_clip "
                     "test_clip_inbounds test_clip_outbounds test_clip_splitbounds test_clip_default_min "
                     "test_clip_default_inbounds test_gelu_default_1 test_gelu_default_2 test_gelu_tanh_1 "
                     "test_gelu_tanh_2 test_hardswish test_mish test_prelu_example test_prelu_broadcast")
    + _cases("all", "test_clip_example test_prelu_broadcast")
    # ELEMENTWISE (numpy broadcasting becomes SHUFFLE + ELEMENTWISE) and SELECT
    + _cases("all", "test_add test_add_bcast test_add_int8 test_sub test_sub_bcast test_mul test_mul_bcast test_div "
                    "test_div_bcast test_div_int32_trunc test_pow test_pow_bcast_array test_pow_bcast_scalar "
                    "test_pow_types_float32_int64 test_max_example test_min_example test_max_float16 "
                    "test_min_int32 test_mean_example test_sum_example test_and2d test_or_bcast4v3d test_xor3d "
                    "test_equal test_equal_bcast test_greater test_greater_equal test_less test_less_equal_bcast "
                    "test_where_example test_where_long_example")
    + _cases("data", "test_add_bcast test_mul_bcast test_div_bcast")
    # UNARY
    + _cases("data", "test_exp test_log test_sqrt test_reciprocal test_abs test_neg test_sin test_cos test_tan "
                     "test_sinh test_cosh test_asin test_acos test_atan test_asinh test_acosh test_atanh test_ceil "
                     "test_floor test_erf test_not_2d test_sign test_round test_isnan test_isinf")
    # FLOOR_DIV on integers (floor_mod, floor_divide)
    + _cases("all", "test_mod_mixed_sign_int32 test_mod_mixed_sign_int64 test_mod_broadcast")
    # SCALE (inference batch norm), NORMALIZATION, LRN
    + _cases("data", "test_batchnorm_example test_batchnorm_epsilon test_instancenorm_example "
                     "test_instancenorm_epsilon test_group_normalization_example test_group_normalization_epsilon "
                     "test_lrn test_lrn_default")
    + _cases("all", "test_batchnorm_example")
    # SOFTMAX (axes bitmask)
    + _cases("data", "test_softmax_example test_softmax_axis_0 test_softmax_axis_1 test_softmax_axis_2 "
                     "test_softmax_negative_axis test_softmax_default_axis test_softmax_large_number "
                     "test_logsoftmax_axis_1")
    # REDUCE (axes bitmask, keep_dims)
    + _cases("data", "test_reduce_mean_keepdims_random test_reduce_mean_do_not_keepdims_random "
                     "test_reduce_mean_default_axes_keepdims_random test_reduce_mean_negative_axes_keepdims_random "
                     "test_reduce_sum_keepdims_random test_reduce_sum_do_not_keepdims_random "
                     "test_reduce_max_keepdims_random test_reduce_min_negative_axes_keepdims_random "
                     "test_reduce_prod_keepdims_random test_reduce_max_empty_set")
    # SHUFFLE (reshape 0/-1, reshape dims from a tensor, transposes), SQUEEZE/UNSQUEEZE
    + _cases("data", "test_reshape_reordered_all_dims test_reshape_reordered_last_dims test_reshape_reduced_dims "
                     "test_reshape_extended_dims test_reshape_one_dim test_reshape_negative_dim "
                     "test_reshape_negative_extended_dims test_reshape_zero_dim test_reshape_zero_and_negative_dim "
                     "test_reshape_allowzero_reordered test_flatten_axis0 test_flatten_axis1 test_flatten_axis2 "
                     "test_flatten_axis3 test_flatten_default_axis test_flatten_negative_axis1 test_transpose_default "
                     "test_transpose_all_permutations_0 test_transpose_all_permutations_1 "
                     "test_transpose_all_permutations_2 test_transpose_all_permutations_3 "
                     "test_transpose_all_permutations_4 test_transpose_all_permutations_5 "
                     "test_depthtospace_example test_depthtospace_crd_mode_example test_spacetodepth_example "
                     "test_squeeze test_squeeze_negative_axes test_unsqueeze_axis_0 test_unsqueeze_two_axes "
                     "test_unsqueeze_negative_axes test_unsqueeze_unsorted_axes")
    + _cases("all", "test_reshape_zero_dim test_reshape_zero_and_negative_dim test_reshape_negative_dim")
    # CONCATENATION
    + _cases("all", "test_concat_1d_axis_0 test_concat_2d_axis_1 test_concat_3d_axis_2 test_concat_3d_axis_negative_1 "
                    "test_concat_3d_axis_negative_3")
    # MATRIX_MULTIPLY (NONE / TRANSPOSE / VECTOR, batch broadcasting)
    + _cases("all", "test_matmul_2d test_matmul_3d test_matmul_4d test_matmul_bcast test_matmul_1d_1d "
                    "test_matmul_4d_1d test_gemm_default_zero_bias test_gemm_default_no_bias "
                    "test_gemm_default_scalar_bias test_gemm_default_vector_bias test_gemm_default_matrix_bias "
                    "test_gemm_transposeA test_gemm_transposeB test_gemm_alpha test_gemm_beta "
                    "test_gemm_all_attributes test_einsum_batch_matmul test_einsum_transpose test_einsum_sum "
                    "test_einsum_inner_prod")
    + _cases("data", "test_gemm_all_attributes test_gemm_transposeA test_matmul_4d_1d")
    # CONSTANT, IDENTITY, CAST (FP16 in and out)
    + _cases("data", "test_constant test_identity test_cast_FLOAT_to_FLOAT16 test_cast_FLOAT16_to_FLOAT "
                     "test_cast_DOUBLE_to_FLOAT16 test_cast_FLOAT16_to_DOUBLE test_pow_types_int64_float32")
    + _cases("all", "test_castlike_FLOAT_to_FLOAT16 test_castlike_FLOAT16_to_FLOAT")
    # SLICE (static, and start/size/stride computed by shape layers), split, pads
    + _cases("data", "test_slice test_slice_neg test_slice_start_out_of_bounds test_slice_end_out_of_bounds "
                     "test_slice_default_axes test_slice_default_steps test_slice_neg_steps test_slice_negative_axes "
                     "test_split_equal_parts_2d test_split_variable_parts_2d_opset18 test_split_1d_uneven_split_opset18 "
                     "test_constant_pad test_constant_pad_axes test_edge_pad test_reflect_pad test_wrap_pad "
                     "test_expand_dim_changed test_tile")
    + _cases("all", "test_slice test_slice_neg_steps test_slice_negative_axes test_constant_pad "
                    "test_split_variable_parts_2d_opset18 test_expand_dim_changed")
    # GATHER (DEFAULT, ELEMENT, ND)
    + _cases("data", "test_gather_0 test_gather_1 test_gather_2d_indices test_gather_negative_indices "
                     "test_gather_elements_0 test_gather_elements_1 test_gather_elements_negative_indices "
                     "test_gathernd_example_float32 test_gathernd_example_int32_batch_dim1")
    # SCATTER (ND, ELEMENT)
    + _cases("data", "test_scatternd test_scatter_elements_with_axis test_scatter_elements_without_axis "
                     "test_scatter_elements_with_negative_indices")
    # SHAPE, TOPK, CUMULATIVE, FILL, RESIZE
    + _cases("data", "test_shape test_shape_start_1 test_shape_end_negative_1 test_size test_top_k "
                     "test_top_k_smallest test_argmax_keepdims_random test_argmin_no_keepdims_example "
                     "test_cumsum_1d test_cumsum_2d_axis_1 test_cumsum_1d_reverse_exclusive test_tril test_tril_neg "
                     "test_upsample_nearest test_resize_upsample_scales_nearest test_resize_downsample_scales_nearest "
                     "test_resize_upsample_scales_linear test_resize_downsample_scales_linear "
                     "test_resize_upsample_scales_linear_align_corners "
                     "test_resize_downsample_scales_linear_align_corners test_resize_upsample_sizes_nearest "
                     # coordinate modes, nearest rounding modes and cubic (A, exclude_outside) our resize2d uses
                     "test_resize_downsample_sizes_linear_pytorch_half_pixel "
                     "test_resize_upsample_sizes_nearest_floor_align_corners "
                     "test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric "
                     "test_resize_upsample_sizes_nearest_ceil_half_pixel test_resize_downsample_sizes_nearest "
                     "test_resize_upsample_scales_cubic test_resize_upsample_sizes_cubic "
                     "test_resize_downsample_scales_cubic test_resize_upsample_scales_cubic_align_corners "
                     "test_resize_downsample_scales_cubic_align_corners test_resize_upsample_scales_cubic_asymmetric "
                     "test_resize_upsample_scales_cubic_A_n0p5_exclude_outside "
                     "test_resize_downsample_scales_cubic_A_n0p5_exclude_outside")
    + _cases("all", "test_range_int32_type_negative_delta")
    # ATTENTION_INPUT/OUTPUT (IAttention: grouped-query heads, scale on Q and K, causal, float and bool
    # masks) and ROTARY_EMBEDDING (rotate-half, interleaved, position ids, partial rotary dim): the
    # fused patterns' layers (converters/fused_attention.py, fused_rotary.py). diff_heads_sizes does
    # not parse: TensorRT's attention needs K and V of one shape.
    + _cases("all", "test_attention_4d test_attention_4d_gqa test_attention_4d_scaled test_attention_4d_causal "
                    "test_attention_4d_gqa_causal test_attention_4d_attn_mask test_attention_4d_attn_mask_bool "
                    "test_attention_4d_fp16 test_rotary_embedding test_rotary_embedding_interleaved "
                    "test_rotary_embedding_with_rotary_dim test_rotary_embedding_no_position_ids "
                    "test_rotary_embedding_no_position_ids_interleaved")
    + _cases("data", "test_rotary_embedding")  # cos, sin and position ids as initializers
    # NMS (INMSLayer): corner and centre boxes, IoU and score thresholds, the per-class limit, batches
    # (runtime/evaluator/nms.py; more in tests/test_fused_nms_cache_moe.py)
    + _cases("all", "test_nonmaxsuppression_center_point_box_format test_nonmaxsuppression_flipped_coordinates "
                    "test_nonmaxsuppression_identical_boxes test_nonmaxsuppression_iou_threshold_boundary "
                    "test_nonmaxsuppression_limit_output_size test_nonmaxsuppression_single_box "
                    "test_nonmaxsuppression_suppress_by_IOU test_nonmaxsuppression_suppress_by_IOU_and_scores "
                    "test_nonmaxsuppression_two_batches")
)

# name -> (variant, how it fails, why)
UNSUPPORTED_NODE_CASES = {
    # NVIDIA's parser rejects the model (nothing to evaluate)
    "test_averagepool_2d_dilations": ("data", "parser", "TensorRT pooling has no dilation"),
    "test_maxpool_2d_dilations": ("data", "parser", "TensorRT pooling has no dilation"),
    "test_maxpool_with_argmax_2d_precomputed_pads": ("data", "parser", "MaxPool's indices output"),
    "test_layer_normalization_4d_axis1": ("data", "parser", "LayerNormalization with mean/inv-std-dev outputs"),
    "test_batchnorm_example_training_mode": ("data", "parser", "training-mode BatchNormalization"),
    "test_add_uint8": ("all", "parser", "TensorRT element-wise arithmetic has no UINT8"),
    "test_add_int16": ("all", "parser", "TensorRT has no INT16"),
    "test_matmul_1d_3d": ("all", "parser", "the parser builds an invalid MatMul for a 1-D x 3-D product"),
    "test_lppool_2d_default": ("data", "parser", "LpPool with p other than 1 or 2"),
    # the evaluator raises UnsupportedLayerError (layer type or parameter not implemented)
    "test_gridsample": ("data", "evaluator", "GRID_SAMPLE layers"),
    "test_hardmax_example": ("data", "evaluator", "ONE_HOT layers"),
    "test_reversesequence_time": ("data", "evaluator", "REVERSE_SEQUENCE layers"),
    "test_lstm_defaults": ("data", "evaluator", "loops (TRIP_LIMIT/RECURRENCE/ITERATOR/LOOP_OUTPUT)"),
    "test_if": ("data", "evaluator", "conditionals (CONDITION layers)"),
    "test_quantizelinear": ("all", "evaluator", "QUANTIZE layers"),
    "test_cast_FLOAT_to_FLOAT8E4M3FN": ("data", "evaluator", "FP8 tensors"),
    "test_cast_FLOAT_to_INT4": ("data", "evaluator", "INT4 tensors"),
    "test_cast_INT4_to_FLOAT": ("data", "evaluator", "INT4 network inputs"),
    "test_einsum_batch_matmul_bfloat16": ("data", "evaluator", "BF16 constants: the bindings return their weights "
                                                               "as a 1-element array"),
    "test_clip_default_int8_min": ("data", "evaluator", "CLIP activation on INT8"),
    # the network evaluates (shapes agree with TensorRT's) but NVIDIA's parser built something
    # other than the ONNX operator: the evaluator exposes these parser divergences
    "test_triu": ("data", "diverges", "the parser reads Trilu's missing `upper` as 0 (ONNX default 1): it builds tril"),
    "test_triu_pos": ("data", "diverges", "the parser reads Trilu's missing `upper` as 0 (ONNX default 1)"),
    "test_averagepool_2d_ceil_last_window_starts_on_pad": (
        "data", "diverges", "EXPLICIT_ROUND_UP keeps a last window that starts in the padding; ONNX drops it"),
    "test_maxpool_2d_ceil_output_size_reduce_by_one": (
        "data", "diverges", "EXPLICIT_ROUND_UP keeps a last window that starts in the padding; ONNX drops it"),
    "test_spacetodepth_crd_mode_example": ("data", "diverges", "the parser ignores SpaceToDepth's `mode` (CRD)"),
    "test_nonmaxsuppression_two_classes": ("data", "diverges", "TensorRT's NMS orders a batch item's rows by score "
                                                               "across classes; ONNX by class, then score"),
}


def _node_id(case):
    return f"{case[0][5:]}[{case[1]}]"


def test_case_lists_are_consistent():
    cases = node_cases()
    names = [name for name, _ in SUPPORTED_NODE_CASES]
    assert len(set(SUPPORTED_NODE_CASES)) == len(SUPPORTED_NODE_CASES), "a supported case is listed twice"
    missing = [n for n in set(names) | set(UNSUPPORTED_NODE_CASES) if n not in cases]
    assert not missing, f"not ONNX node test cases: {missing}"
    assert not set(names) & set(UNSUPPORTED_NODE_CASES), "a case is listed as both supported and unsupported"


@pytest.mark.parametrize("case", SUPPORTED_NODE_CASES, ids=_node_id)
def test_onnx_node_case(case):
    name, variant = case
    parsed, feeds, names, outputs = parsed_node_case(name, variant)
    got = parsed.evaluate(feeds)
    assert set(got) == set(names)
    for out_name, expected in zip(names, outputs):
        assert_matches(got[out_name], expected, f"{name}[{variant}] output {out_name}")


@pytest.mark.parametrize("name", sorted(UNSUPPORTED_NODE_CASES), ids=lambda n: n[5:])
def test_onnx_node_case_unsupported(name):
    variant, how, reason = UNSUPPORTED_NODE_CASES[name]
    if how == "parser":
        with pytest.raises(ParseFailed):
            parsed_node_case(name, variant)
        return
    parsed, feeds, names, outputs = parsed_node_case(name, variant)
    if how == "evaluator":
        with pytest.raises(UnsupportedLayerError) as info:
            parsed.evaluate(feeds)
        assert "layer " in str(info.value) or "network input " in str(info.value)
        return
    assert how == "diverges"
    got = parsed.evaluate(feeds)  # consistent with the network TensorRT declares...
    with pytest.raises(AssertionError):  # ...but not with the ONNX operator: `reason`
        for out_name, expected in zip(names, outputs):
            assert_matches(got[out_name], expected, out_name)


def test_layers_are_evaluated_in_dependency_order_not_list_order():
    """NVIDIA's parser appends a Pad's fill-value constant after the SLICE that reads it, so the
    layer list is not topological; the evaluator sorts it."""
    parsed, feeds, names, outputs = parsed_node_case("test_constant_pad", "data")
    network = parsed.network
    position = {network.get_layer(i).get_output(0).name: i for i in range(network.num_layers)}
    later = [(i, j) for i in range(network.num_layers) for j in range(network.get_layer(i).num_inputs)
             if network.get_layer(i).get_input(j) is not None
             and position.get(network.get_layer(i).get_input(j).name, -1) > i]
    assert later, "the parser's layer list became topological; keep the sort anyway"
    assert_matches(parsed.evaluate(feeds)[names[0]], outputs[0], "constant_pad")


# ---- ONNX's stored PyTorch-exported models -------------------------------------------------------
SUPPORTED_TORCH_MODELS = """
pytorch-converted/test_AvgPool1d pytorch-converted/test_AvgPool2d pytorch-converted/test_AvgPool2d_stride
pytorch-converted/test_AvgPool3d_stride pytorch-converted/test_BatchNorm1d_3d_input_eval
pytorch-converted/test_BatchNorm2d_eval pytorch-converted/test_BatchNorm3d_momentum_eval
pytorch-converted/test_ConstantPad2d pytorch-converted/test_Conv1d_dilated pytorch-converted/test_Conv1d_groups
pytorch-converted/test_Conv1d_pad2size1 pytorch-converted/test_Conv1d_stride pytorch-converted/test_Conv2d
pytorch-converted/test_Conv2d_depthwise pytorch-converted/test_Conv2d_depthwise_padded
pytorch-converted/test_Conv2d_depthwise_strided pytorch-converted/test_Conv2d_depthwise_with_multiplier
pytorch-converted/test_Conv2d_dilated pytorch-converted/test_Conv2d_groups pytorch-converted/test_Conv2d_groups_thnn
pytorch-converted/test_Conv2d_no_bias pytorch-converted/test_Conv2d_padding pytorch-converted/test_Conv2d_strided
pytorch-converted/test_Conv3d_dilated_strided pytorch-converted/test_Conv3d_groups
pytorch-converted/test_Conv3d_stride_padding pytorch-converted/test_ConvTranspose2d
pytorch-converted/test_ConvTranspose2d_no_bias pytorch-converted/test_ELU pytorch-converted/test_Embedding
pytorch-converted/test_LeakyReLU_with_negval pytorch-converted/test_Linear_no_bias pytorch-converted/test_LogSoftmax
pytorch-converted/test_MaxPool1d_stride pytorch-converted/test_MaxPool2d pytorch-converted/test_MaxPool3d_stride_padding
pytorch-converted/test_PixelShuffle pytorch-converted/test_ReflectionPad2d pytorch-converted/test_ReplicationPad2d
pytorch-converted/test_SELU pytorch-converted/test_Softmin pytorch-converted/test_Softplus
pytorch-converted/test_ZeroPad2d pytorch-converted/test_softmax_functional_dim3
pytorch-operator/test_operator_chunk pytorch-operator/test_operator_clip pytorch-operator/test_operator_concat2
pytorch-operator/test_operator_conv pytorch-operator/test_operator_convtranspose pytorch-operator/test_operator_flatten
pytorch-operator/test_operator_index pytorch-operator/test_operator_maxpool pytorch-operator/test_operator_pad
pytorch-operator/test_operator_permute2 pytorch-operator/test_operator_reduced_mean_keepdim
pytorch-operator/test_operator_reduced_sum pytorch-operator/test_operator_repeat
pytorch-operator/test_operator_repeat_dim_overflow pytorch-operator/test_operator_selu
pytorch-operator/test_operator_sqrt pytorch-operator/test_operator_symbolic_override
pytorch-operator/test_operator_view simple/test_expand_shape_model4 simple/test_shrink simple/test_sign_model
""".split()

UNSUPPORTED_TORCH_MODELS = {
    "pytorch-converted/test_Linear": "the parser rejects broadcasting in opset < 7 models",
    "pytorch-converted/test_PReLU_2d": "the parser rejects broadcasting in opset < 7 models",
    "pytorch-converted/test_MaxPool2d_stride_padding_dilation": "TensorRT pooling has no dilation",
}


@functools.lru_cache(maxsize=None)
def parsed_stored_model(rel):
    folder = os.path.join(ONNX_DATA, rel)
    model = onnx.load(os.path.join(folder, "model.onnx"))
    data = os.path.join(folder, "test_data_set_0")
    inputs = [_array(onnx.load_tensor(f)) for f in sorted(glob.glob(os.path.join(data, "input_*.pb")))]
    outputs = [_array(onnx.load_tensor(f)) for f in sorted(glob.glob(os.path.join(data, "output_*.pb")))]
    initializers = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    return Parsed(model), dict(zip(names, inputs)), [o.name for o in model.graph.output], outputs


@pytest.mark.parametrize("rel", SUPPORTED_TORCH_MODELS, ids=lambda r: r.split("/test_")[-1])
def test_onnx_stored_model(rel):
    parsed, feeds, names, outputs = parsed_stored_model(rel)
    got = parsed.evaluate(feeds)
    for out_name, expected in zip(names, outputs):
        assert_matches(got[out_name], expected, f"{rel} output {out_name}")


@pytest.mark.parametrize("rel", sorted(UNSUPPORTED_TORCH_MODELS), ids=lambda r: r.split("/test_")[-1])
def test_onnx_stored_model_unsupported(rel):
    with pytest.raises(ParseFailed):  # reason: UNSUPPORTED_TORCH_MODELS[rel]
        parsed_stored_model(rel)


def _light_model(name):
    """A `light` model from the ONNX package with the input ONNX's own runner feeds it."""
    folder = os.path.join(ONNX_DATA, "light")
    model = onnx.load(os.path.join(folder, f"light_{name}.onnx"))
    expected = _array(onnx.load_tensor(os.path.join(folder, f"light_{name}_output_0.pb")))
    initializers = {t.name for t in model.graph.initializer}
    (info,) = [i for i in model.graph.input if i.name not in initializers]
    shape = tuple(d.dim_value for d in info.type.tensor_type.shape.dim)
    count = int(np.prod(shape))
    feeds = {info.name: (np.arange(count).reshape(shape) / count).astype(np.float32)}
    return Parsed(model), feeds, model.graph.output[0].name, expected


def test_light_densenet121_matches():
    parsed, feeds, out_name, expected = _light_model("densenet121")
    got = parsed.evaluate(feeds)[out_name]
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)


def test_light_resnet50_matches():
    """A 224x224 ResNet-50 (53 convolutions); how fast it evaluates is bench/evaluator_speed.py's."""
    parsed, feeds, out_name, expected = _light_model("resnet50")
    assert parsed.layer_types["CONVOLUTION"] == 53
    got = parsed.evaluate(feeds)[out_name]
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)


# ---- models made here, expected outputs from onnxruntime ---------------------------------------
def _rand(rng, *shape, scale=1.0, dtype=np.float32):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _conv_bn_relu_pool_gemm():
    rng = np.random.default_rng(0)
    w = {
        "w1": _rand(rng, 8, 3, 3, 3, scale=0.3), "b1": _rand(rng, 8),
        "gamma": rng.uniform(0.5, 1.5, 8).astype(np.float32), "beta": _rand(rng, 8),
        "mean": _rand(rng, 8, scale=0.1), "var": rng.uniform(0.5, 2, 8).astype(np.float32),
        "w2": _rand(rng, 16, 4, 3, 3, scale=0.2),
        "fc": _rand(rng, 10, 16, scale=0.3), "fcb": _rand(rng, 10),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 0, 2, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"], epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], group=2, dilations=[2, 1], strides=[1, 2], pads=[2, 1, 2, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("AveragePool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1],
                         ceil_mode=0, count_include_pad=1),
        helper.make_node("GlobalAveragePool", ["p2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 17, 15])]
    feeds = {"x": _rand(rng, 2, 3, 17, 15)}
    return nodes, inputs, w, feeds, 17


def _fp16_chain():
    rng = np.random.default_rng(1)
    w = {"w": _rand(rng, 8, 4, 3, 3, scale=0.3, dtype=np.float16), "b": _rand(rng, 8, dtype=np.float16),
         "k": _rand(rng, 8 * 4 * 4, 6, scale=0.1, dtype=np.float16), "shift": _rand(rng, 1, 8, 1, 1, dtype=np.float16)}
    nodes = [
        helper.make_node("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16),
        helper.make_node("Conv", ["xh", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "shift"], ["a"]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "k"], ["m"]),
        helper.make_node("Cast", ["m"], ["y"], to=TensorProto.FLOAT),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 8, 8])]
    return nodes, inputs, w, {"x": _rand(rng, 2, 4, 8, 8)}, 17


def _transformer_block():
    rng = np.random.default_rng(2)
    d = 16
    w = {"gamma": rng.uniform(0.5, 1.5, d).astype(np.float32), "beta": _rand(rng, d),
         "wq": _rand(rng, d, d, scale=0.25), "wk": _rand(rng, d, d, scale=0.25), "w1": _rand(rng, d, 32, scale=0.25),
         "shape": np.array([0, 0, 2, -1], dtype=np.int64), "scale": np.array(0.35, dtype=np.float32),
         "axis1": np.array([1], dtype=np.int64)}
    nodes = [
        helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["ln"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["ln", "wq"], ["q"]),
        helper.make_node("MatMul", ["ln", "wk"], ["k"]),
        helper.make_node("Reshape", ["q", "shape"], ["qh"]),
        helper.make_node("Reshape", ["k", "shape"], ["kh"]),
        helper.make_node("Transpose", ["qh"], ["qt"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["kh"], ["kt"], perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["qt", "kt"], ["s"]),
        helper.make_node("Mul", ["s", "scale"], ["ss"]),
        helper.make_node("Softmax", ["ss"], ["attn"], axis=-1),
        helper.make_node("ReduceMean", ["attn", "axis1"], ["rm"], keepdims=0),
        helper.make_node("MatMul", ["ln", "w1"], ["h"]),
        helper.make_node("Gelu", ["h"], ["gl"]),
        helper.make_node("Tanh", ["gl"], ["y2"]),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, d])]
    outputs = ["rm", "y2"]
    return nodes, inputs, w, {"x": _rand(rng, 2, 5, d)}, 20, outputs


def _pooling_and_lrn():
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("LRN", ["x"], ["l"], size=5, alpha=0.5, beta=0.75, bias=2.0),
        helper.make_node("AveragePool", ["l"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                         count_include_pad=0, ceil_mode=1),
        helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
        helper.make_node("AveragePool", ["x"], ["c"], kernel_shape=[2, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                         count_include_pad=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 7, 9, 8])]
    return nodes, inputs, {}, {"x": _rand(rng, 1, 7, 9, 8)}, 17, ["a", "m", "c"]


def _casts():
    """CAST float -> int truncates, -> bool is x != 0 (signed zeros false), int64 narrows."""
    rng = np.random.default_rng(5)
    x = _rand(rng, 3, 8, scale=3.0)
    x[0, :4] = [0.0, -0.0, -2.5, 2.5]
    nodes = [helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT32),
             helper.make_node("Cast", ["x"], ["xl"], to=TensorProto.INT64),
             helper.make_node("Cast", ["x"], ["xb"], to=TensorProto.BOOL),
             helper.make_node("Cast", ["i"], ["if"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["i"], ["ii"], to=TensorProto.INT32),
             helper.make_node("Cast", ["xb"], ["bh"], to=TensorProto.FLOAT16)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 8]),
              helper.make_tensor_value_info("i", TensorProto.INT64, [3, 8])]
    feeds = {"x": x, "i": rng.integers(-1000, 1000, (3, 8)).astype(np.int64)}
    return nodes, inputs, {}, feeds, 17, ["xi", "xl", "xb", "if", "ii", "bh"]


def _quantize_dequantize():
    """QuantizeLinear/DequantizeLinear (int8, zero point 0) per tensor and per channel, ties that
    round half to even, values that saturate, and an INT8 convolution on dequantized weights."""
    rng = np.random.default_rng(6)
    x = _rand(rng, 2, 4, 5, 6)
    x[0, 0, 0, :6] = [0.025, 0.075, -0.025, 100.0, -100.0, 0.125]  # /0.05: 0.5, 1.5, -0.5, saturate, 2.5
    weights = {"s": np.array(0.05, np.float32), "z": np.array(0, np.int8),
               "sc": np.array([0.02, 0.05, 0.1, 0.2], np.float32), "zc": np.zeros(4, np.int8),
               "w": rng.integers(-127, 128, (3, 4, 3, 3)).astype(np.int8),
               "ws": np.array([0.01, 0.02, 0.03], np.float32), "wz": np.zeros(3, np.int8)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
             helper.make_node("QuantizeLinear", ["x", "sc", "zc"], ["qc"], axis=1),
             helper.make_node("DequantizeLinear", ["qc", "sc", "zc"], ["yc"], axis=1),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], axis=0),
             helper.make_node("Conv", ["y", "wf"], ["conv"], pads=[1, 1, 1, 1])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 5, 6])]
    return nodes, inputs, weights, {"x": x}, 17, ["y", "yc", "conv"]


MADE_MODELS = {
    "conv_bn_relu_pool_gemm": _conv_bn_relu_pool_gemm,
    "fp16_conv_add_pool_matmul": _fp16_chain,
    "layernorm_attention_gelu": _transformer_block,
    "lrn_and_pooling_modes": _pooling_and_lrn,
    "casts": _casts,
    "quantize_dequantize": _quantize_dequantize,
}


@functools.lru_cache(maxsize=None)
def made_model(name):
    spec = MADE_MODELS[name]()
    nodes, inputs, weights, feeds, opset = spec[:5]
    out_names = spec[5] if len(spec) > 5 else ["y"]
    outputs = [helper.make_empty_tensor_value_info(n) for n in out_names]
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.value_info}
    for output in model.graph.output:  # NVIDIA's parser needs typed outputs
        output.CopyFrom(inferred[output.name])
    return model, feeds, out_names


def _onnxruntime(model, feeds):
    import onnxruntime as ort
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


@functools.lru_cache(maxsize=None)
def parsed_made_model(name):
    model, feeds, out_names = made_model(name)
    return Parsed(model), feeds, out_names


@pytest.mark.parametrize("name", sorted(MADE_MODELS))
def test_made_model_matches_onnxruntime(name):
    model, feeds, out_names = made_model(name)
    expected = _onnxruntime(model, feeds)
    parsed, _, _ = parsed_made_model(name)
    got = parsed.evaluate(feeds)
    half = name.startswith("fp16")
    for out_name in out_names:
        if half:  # FP16 intermediates: compare relative to the output's magnitude
            scale = np.max(np.abs(expected[out_name]))
            np.testing.assert_allclose(got[out_name], expected[out_name], rtol=0, atol=5e-3 * scale)
        else:
            assert_matches(got[out_name], expected[out_name], f"{name} output {out_name}")


def _layer(parsed, kind, cls_name):
    trt = parsed.trt
    for i in range(parsed.network.num_layers):
        layer = parsed.network.get_layer(i)
        if layer.type.name == kind:
            layer.__class__ = getattr(trt, cls_name)
            return layer
    raise AssertionError(f"no {kind} layer")


@pytest.mark.parametrize("mutation", ["swap_conv_padding", "softmax_axis", "reduce_axes"])
def test_valid_but_wrong_networks_are_caught(mutation):
    """A network that builds but differs from the model (the converter bugs we hunt) no longer matches."""
    name = "conv_bn_relu_pool_gemm" if mutation == "swap_conv_padding" else "layernorm_attention_gelu"
    model, feeds, out_names = made_model(name)
    expected = _onnxruntime(model, feeds)
    parsed = Parsed(model)  # a fresh network: this test changes it
    for out_name in out_names:  # unchanged, it matches
        assert_matches(parsed.evaluate(feeds)[out_name], expected[out_name], out_name)
    if mutation == "swap_conv_padding":
        conv = _layer(parsed, "CONVOLUTION", "IConvolutionLayer")
        pre, post = tuple(conv.pre_padding), tuple(conv.post_padding)
        assert pre != post
        conv.pre_padding, conv.post_padding = post, pre
    elif mutation == "softmax_axis":
        softmax = _layer(parsed, "SOFTMAX", "ISoftMaxLayer")
        assert softmax.axes == 1 << 3
        softmax.axes = 1 << 2  # same shape, wrong axis
    else:
        reduce = _layer(parsed, "REDUCE", "IReduceLayer")
        assert reduce.axes == 1 << 1
        reduce.axes = 1 << 2
    got = parsed.evaluate(feeds)
    with pytest.raises(AssertionError):
        for out_name in out_names:
            assert_matches(got[out_name], expected[out_name], out_name)


def test_fp16_model_really_runs_in_half_precision():
    """The FP16 model's intermediate tensors are float16 and its result differs from an FP32 run."""
    parsed, feeds, _ = parsed_made_model("fp16_conv_add_pool_matmul")
    network = parsed.network
    half = [network.get_layer(i).get_output(0) for i in range(network.num_layers)
            if network.get_layer(i).get_output(0).dtype == parsed.trt.float16]
    assert len(half) >= 5
    probe = [t for t in half if t.name == "p"][0]  # the pooled activations
    network.mark_output(probe)
    try:
        got = parsed.evaluate(feeds)
    finally:
        network.unmark_output(probe)
    assert got["p"].dtype == np.float16
    model, _, _ = made_model("fp16_conv_add_pool_matmul")
    fp32 = onnx.ModelProto()
    fp32.CopyFrom(model)
    for init in fp32.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32), init.name))
    for node in fp32.graph.node:
        if node.op_type == "Cast":
            node.attribute[0].i = TensorProto.FLOAT
    exact = _onnxruntime(fp32, feeds)["y"]
    diff = np.max(np.abs(got["y"] - exact)) / np.max(np.abs(exact))
    assert 1e-5 < diff < 5e-3, f"relative difference from FP32 {diff}"


# ---- networks built directly with the TensorRT API -----------------------------------------------
def _network():
    trt = BACKEND.trt
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    return trt, builder, builder.create_network(0)


def test_unsupported_layer_type_raises_with_layer_name():
    trt, builder, network = _network()
    x = network.add_input("x", trt.float32, (2, 3))
    layer = network.add_non_zero(x)
    layer.name = "where_are_the_nonzeros"
    network.mark_output(layer.get_output(0))
    with pytest.raises(UnsupportedLayerError) as info:
        evaluate_network(network, trt, {"x": np.ones((2, 3), np.float32)})
    assert "where_are_the_nonzeros" in str(info.value) and "NON_ZERO" in str(info.value)
    assert isinstance(info.value, TensorRTError)


def test_unsupported_parameter_raises_with_layer_name():
    trt, builder, network = _network()
    x = network.add_input("x", trt.float32, (1, 2, 4, 4))
    noise = network.add_fill((1, 2, 4, 4), trt.FillOperation.RANDOM_UNIFORM)
    noise.name = "uniform_noise"
    network.mark_output(network.add_elementwise(x, noise.get_output(0), trt.ElementWiseOperation.SUM).get_output(0))
    with pytest.raises(UnsupportedLayerError, match="uniform_noise.*FILL.*RANDOM_UNIFORM"):
        evaluate_network(network, trt, {"x": np.ones((1, 2, 4, 4), np.float32)})


def test_bad_inputs_raise_evaluation_errors():
    trt, builder, network = _network()
    x = network.add_input("x", trt.float32, (2, 3))
    network.mark_output(network.add_activation(x, trt.ActivationType.RELU).get_output(0))
    with pytest.raises(EvaluationError, match="'x' was not given"):
        evaluate_network(network, trt, {})
    with pytest.raises(EvaluationError, match="shape"):
        evaluate_network(network, trt, {"x": np.ones((3, 2), np.float32)})
    with pytest.raises(EvaluationError, match="not network inputs"):
        evaluate_network(network, trt, {"x": np.ones((2, 3), np.float32), "typo": np.ones(1)})


def test_fp16_elementwise_rounds_to_half():
    trt, builder, network = _network()
    x = network.add_input("x", trt.float32, (4,))
    xh = network.add_cast(x, trt.float16).get_output(0)
    small = np.full((4,), 1e-4, dtype=np.float16)
    total = network.add_elementwise(xh, network.add_constant((4,), trt.Weights(small)).get_output(0),
                                    trt.ElementWiseOperation.SUM).get_output(0)
    total.name = "total"
    network.mark_output(total)
    values = np.array([1.0, 2.0, 1e-3, 3.14159], dtype=np.float32)
    got = evaluate_network(network, trt, {"x": values})["total"]
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, values.astype(np.float16) + small)  # 1 + 1e-4 == 1 in half
    assert got[0] == 1.0


def test_cast_float_to_int_truncates_as_documented():
    """The example of TensorRT's Cast operator documentation: float -> int32 rounds toward zero."""
    trt, builder, network = _network()
    x = network.add_input("input1", trt.float32, (1, 1, 3, 3))
    cast = network.add_cast(x, trt.int32)
    network.mark_output(cast.get_output(0))
    values = np.array([[[[1.2, 2.3, 3.4], [4.5, 5.6, 6.7], [7.8, 8.9, 9.1]]]], dtype=np.float32)
    got = evaluate_network(network, trt, {"input1": values})[cast.get_output(0).name]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]])


def test_shuffle_transposes_and_placeholders():
    """first_transpose, then reshape (0 copies, -1 infers), then second_transpose."""
    trt, builder, network = _network()
    x = network.add_input("x", trt.float32, (2, 3, 4, 5))
    shuffle = network.add_shuffle(x)
    shuffle.first_transpose = trt.Permutation([0, 2, 3, 1])  # (2, 4, 5, 3)
    shuffle.reshape_dims = (0, -1, 3)  # (2, 20, 3)
    shuffle.second_transpose = trt.Permutation([2, 0, 1])  # (3, 2, 20)
    network.mark_output(shuffle.get_output(0))
    values = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    got = evaluate_network(network, trt, {"x": values})[shuffle.get_output(0).name]
    np.testing.assert_array_equal(got, values.transpose(0, 2, 3, 1).reshape(2, 20, 3).transpose(2, 0, 1))


def test_scale_modes_with_power():
    trt, builder, network = _network()
    x = network.add_input("x", trt.float32, (2, 3, 4))
    shift, scale, power = np.float32([0.5]), np.float32([2.0]), np.float32([2.0])
    uniform = network.add_scale_nd(x, trt.ScaleMode.UNIFORM, trt.Weights(shift), trt.Weights(scale),
                                   trt.Weights(power), 0)
    per_element = np.arange(12, dtype=np.float32).reshape(3, 4)
    elementwise = network.add_scale_nd(x, trt.ScaleMode.ELEMENTWISE, trt.Weights(per_element), trt.Weights(),
                                       trt.Weights(), 1)
    channel_shift = np.float32([1, 2, 3])
    channel = network.add_scale_nd(x, trt.ScaleMode.CHANNEL, trt.Weights(channel_shift), trt.Weights(),
                                   trt.Weights(), 1)
    for layer in (uniform, elementwise, channel):
        network.mark_output(layer.get_output(0))
    values = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    got = evaluate_network(network, trt, {"x": values})
    np.testing.assert_allclose(got[uniform.get_output(0).name], (values * 2 + 0.5) ** 2, rtol=1e-6)
    np.testing.assert_allclose(got[elementwise.get_output(0).name], values + per_element, rtol=1e-6)
    np.testing.assert_allclose(got[channel.get_output(0).name], values + channel_shift[:, None], rtol=1e-6)


def _padding_network():
    """An IPaddingLayer (the ONNX parser never emits one) with growing and trimming pads."""
    trt, builder, network = _network()
    x = network.add_input("x", trt.float32, (2, 3, 5, 6))
    pad = network.add_padding_nd(x, (1, -1), (-2, 2))
    pad.get_output(0).name = "padded"
    network.mark_output(pad.get_output(0))
    return trt, (builder, network)


def test_padding_layer_matches_onnxruntime_pad():
    trt, (builder, network) = _padding_network()
    values = np.random.default_rng(4).standard_normal((2, 3, 5, 6)).astype(np.float32)
    got = evaluate_network(network, trt, {"x": values})["padded"]
    pads = np.array([0, 0, 1, -1, 0, 0, -2, 2], dtype=np.int64)  # ONNX: all begins, then all ends
    graph = helper.make_graph([helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant")], "pad",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(pads, "pads")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert_matches(got, _onnxruntime(model, {"x": values})["y"], "padding")


# ---- coverage ---------------------------------------------------------------------------------
def converter_layer_types() -> set:
    """The layer types our converters emit: every sample and extra sample, in FP32 and FP16."""
    import tvm_tensorrt
    from op_samples import EXTRA_SAMPLES, SAMPLES, extra_sample_module, sample_module
    from tvm_tensorrt.lowering.dispatch import offloaded_functions
    from tvm_tensorrt.runtime.plan_builder import build_network
    from tvm_tensorrt.lowering.serialize import subgraph_of

    cases = [(sample_module(name), {}) for name in SAMPLES]
    cases += [extra_sample_module(name)[1:] for name in EXTRA_SAMPLES]
    found = set()
    for mod, options in cases:
        partitioned, config = tvm_tensorrt.partition_for_tensorrt(mod, **options)
        for func in offloaded_functions(partitioned).values():
            subgraph = subgraph_of(func, "tensorrt_0", config)
            for precision in ("fp32", "fp16"):
                _, built, _ = build_network(subgraph, BACKEND, precision)
                network = built.network
                found |= {_layer_type_name(network.get_layer(i)) for i in range(network.num_layers)}
    return found


def _layer_type_name(layer) -> str:
    return str(BACKEND.trt.ILayer.__dict__["type"].__get__(layer)).rsplit(".", 1)[-1]


def test_layer_type_coverage():
    counts = collections.Counter()  # layer type -> number of models whose network has it
    models = 0
    for name, variant in SUPPORTED_NODE_CASES:
        counts.update(set(parsed_node_case(name, variant)[0].layer_types))
        models += 1
    for rel in SUPPORTED_TORCH_MODELS:
        counts.update(set(parsed_stored_model(rel)[0].layer_types))
        models += 1
    for name in MADE_MODELS:
        counts.update(set(parsed_made_model(name)[0].layer_types))
        models += 1
    counts["PADDING"] += 1  # test_padding_layer_matches_onnxruntime_pad (built with the API)
    distinct = len({name for name, _ in SUPPORTED_NODE_CASES}) + len(SUPPORTED_TORCH_MODELS) + len(MADE_MODELS)
    print(f"\nevaluator checked on {models} parser-built networks from {distinct} ONNX models "
          f"(+2 light models, +1 API-built PADDING network) covering {len(counts)} layer types:")
    for layer_type, n in sorted(counts.items()):
        print(f"  {layer_type:16s} in {n} networks")
    emitted = converter_layer_types()
    print(f"our converters emit {len(emitted)} layer types: {sorted(emitted)}")
    assert emitted <= set(counts), f"emitted by converters but not checked against NVIDIA's parser: " \
        f"{emitted - set(counts)}"
    untested = set(supported_layer_types()) - set(counts)
    assert not untested, f"supported but never checked against an independent reference: {untested}"
