"""The serialised subgraph: round trip, content addressing, and damage detection."""

import numpy as np
import pytest

import tvm_tensorrt
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.lowering.serialize import serialize_function, serialize_sharing_weights
from tvm_tensorrt.errors import SubgraphFormatError
from tvm_tensorrt.formats.subgraph import decode, decode_header, read_digest
from op_samples import sample_module


def conv_blob(config_overrides=None):
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.conv2d"))
    config.update(config_overrides or {})
    [func] = offloaded_functions(mod).values()
    return func, serialize_function(func, "tensorrt_0", config)


def test_round_trip_keeps_nodes_weights_and_config():
    func, blob = conv_blob()
    subgraph = decode(blob)
    assert subgraph.symbol == "tensorrt_0"
    assert subgraph.header["format"] == "tvm_tensorrt.subgraph" and subgraph.header["format_version"] == 5
    [node] = subgraph.nodes
    assert node["op"] == "nn.conv2d" and node["attrs"]["padding"] == [1, 0, 2, 1] and node["attrs"]["groups"] == 2
    assert node["inputs"] == [["input", 0], ["weight", 0]]
    weight = func.body.blocks[0].bindings[0].value.args[1].value.numpy()
    np.testing.assert_array_equal(subgraph.weights[0], weight)
    assert subgraph.inputs[0]["shape"] == [1, 4, 9, 10]
    assert subgraph.config["max_workspace_size"] == 1 << 30


def test_digest_is_content_addressed():
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.conv2d"))
    [func] = offloaded_functions(mod).values()
    blob = serialize_function(func, "tensorrt_0", config)
    assert len(read_digest(blob)) == 64
    assert read_digest(serialize_function(func, "tensorrt_0", dict(config))) == read_digest(blob)
    assert read_digest(serialize_function(func, "tensorrt_0", {**config, "max_workspace_size": 1 << 20})) \
        != read_digest(blob)
    other_weights, _ = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.conv2d"))  # new random weights
    [other] = offloaded_functions(other_weights).values()
    assert read_digest(serialize_function(other, "tensorrt_0", config)) != read_digest(blob)


def test_damaged_blob_is_a_typed_error():
    _, blob = conv_blob()
    damaged = bytearray(blob)
    damaged[-1] ^= 0xFF
    with pytest.raises(tvm_tensorrt.SubgraphFormatError, match="damaged"):
        decode(bytes(damaged))
    with pytest.raises(tvm_tensorrt.SubgraphFormatError, match="bad magic"):
        decode(b"x" * 100)
    with pytest.raises(tvm_tensorrt.SubgraphFormatError, match="shorter"):
        decode(b"TVM")


def test_a_blob_without_its_weights_decodes_only_with_matching_arrays():
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module("nn.conv2d"))
    [func] = offloaded_functions(mod).values()
    blob, constants, subgraph = serialize_sharing_weights(func, "tensorrt_0", config)
    inline_blob = serialize_function(func, "tensorrt_0", config)
    inline = decode(inline_blob)
    arrays = [c.value.numpy() for c in constants]
    assert arrays[0].tobytes() in inline_blob and arrays[0].tobytes() not in blob
    assert decode_header(blob)["weights_external"] and len(decode_header(blob)["weights"]) == len(arrays) == 1
    assert subgraph.network_digest == inline.network_digest  # the engine cache sees one network
    again = decode(blob, weights=arrays)
    for mine, theirs in zip(again.weights, inline.weights):
        np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(tvm_tensorrt.SubgraphFormatError, match="keeps its 1 weights outside the blob, and 0"):
        decode(blob)
    with pytest.raises(tvm_tensorrt.SubgraphFormatError, match="weight 0 of subgraph tensorrt_0 is float32"):
        decode(blob, weights=[arrays[0][:1]])
    assert decode(again.to_bytes()).network_digest == inline.network_digest  # inlined again: same network


def single_node(op_name):
    mod, config = tvm_tensorrt.partition_for_tensorrt(sample_module(op_name))
    [func] = offloaded_functions(mod).values()
    return func, config, [n for n in decode(serialize_function(func, "tensorrt_0", config)).nodes if n["op"] == op_name]


def test_attributes_are_data_named_by_each_op():
    """layout_transform's IndexMap travels as its permutation, strided_slice's unnamed arguments
    under their names: nothing is printed text or a positional argN."""
    _, _, [node] = single_node("layout_transform")
    assert node["attrs"] == {"permutation": [0, 2, 3, 1]}
    _, _, [node] = single_node("strided_slice")
    assert {"axes", "begin", "end", "strides"} <= set(node["attrs"]) and not any(k.startswith("arg") for k in node["attrs"])


def test_an_attribute_the_format_cannot_carry_is_an_error_naming_it(registries):
    import dataclasses

    from tvm_tensorrt.partition.registry import RULES, get_rule

    func, config, _ = single_node("layout_transform")
    RULES.add("layout_transform", dataclasses.replace(get_rule("layout_transform"), attributes=None), override=True)
    with pytest.raises(tvm_tensorrt.ConversionError, match="op layout_transform: attribute index_map is a IndexMap"):
        serialize_function(func, "tensorrt_0", config)


@pytest.mark.parametrize("version", [3, 4])
def test_an_older_blob_still_decodes_and_verifies(monkeypatch, version):
    """Versions 4 and 5 only hash the weights another way (SHA-256 in two halves, then XXH3-128);
    libraries written by versions 3 and 4 keep loading, their digests checked the way they were made."""
    from tvm_tensorrt.formats import subgraph as subgraph_format

    func, blob = conv_blob()
    config = decode(blob).config
    monkeypatch.setattr(subgraph_format, "FORMAT_VERSION", version)
    old = serialize_function(func, "tensorrt_0", config)
    monkeypatch.undo()
    decoded = decode(old)
    assert decoded.header["format_version"] == version
    assert decoded.network_digest != decode(blob).network_digest  # made the other way
    damaged = bytearray(old)
    damaged[-1] ^= 1
    with pytest.raises(SubgraphFormatError, match="do not match their digest"):
        decode(bytes(damaged))


def test_the_network_digest_does_not_depend_on_how_it_is_hashed(monkeypatch):
    """Threads hash the halves of large weights; small ones are hashed in line: same digest."""
    from tvm_tensorrt.formats import subgraph as subgraph_format

    weights = [np.arange(n, dtype="float32") for n in (5, 3000, 7, 1000)]
    header = {"inputs": [], "outputs": [], "nodes": [], "weights": []}
    in_line = subgraph_format.network_digest(header, weights)
    monkeypatch.setattr(subgraph_format, "_THREADED_HASH_BYTES", 0)
    assert subgraph_format.network_digest(header, weights) == in_line
    weights[2][3] += 1
    assert subgraph_format.network_digest(header, weights) != in_line
