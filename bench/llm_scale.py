"""LLM-sized compiles: a LLaMA-shaped decoder with random weights, compiled by `tvm-tensorrt
compile` (with and without prebuilt engines) beside NVIDIA's ONNX parser building a plan from
the same file. Wall time, peak RSS and output size of each, every one in its own child process.

    flock /tmp/tvmtrt-cpu.lock .venv/bin/python bench/llm_scale.py --size 0.22b [--size 0.62b]
        [--runs ours,prebuilt,parser] [--compile-flag=--external-weights] [--check] [--keep DIR]

The model is TinyLlama-1.1B's shape (hidden 2048, GQA 32/4 heads of 64, intermediate 5632,
vocab 32000, RMSNorm, rotary embeddings, SiLU MLP, fixed (1, 128) input ids) at 2, 11 or 22
layers: 0.22B, 0.62B, 1.1B parameters, 0.88 / 2.46 / 4.40 GB of fp32 weights. It is written
with onnx.helper, its weights streamed to ONNX external data a tensor at a time (no torch, no
download, never all in memory). Why a bench and not a test: the point is memory and time at
sizes a test cannot afford; tests use the same mechanisms on tiny models.

Every compile is followed by a fresh-process `load` and `inspect`, each measured the same way;
--check also runs the library in a fresh process through the CPU copy and compares its logits
with onnxruntime's on the same file.

Measured on the 2-core, 24 GiB CI machine (2026-12-07; docs/runtime.md has the table), weights
beside the library (automatic above 1 GiB, --external-weights below):
0.22B: compile 4.9 s / 1.33 GB peak, with prebuilt engines 6.4 s / 3.07 GB, the parser 2.9 s /
3.05 GB (before, embedded: 16.2 s / 4.81 GB, 28.1 s / 9.20 GB); logits within 2e-5 of
onnxruntime's. 0.62B: 9.9 s / 2.92 GB, prebuilt 18.2 s / 7.88 GB, parser 6.8 s / 7.88 GB
(before: 38.3 s / 12.73 GB). 1.1B: 13.6 s / 4.87 GB, prebuilt 39.8 s / 13.76 GB, parser 14.1 s /
13.79 GB; load 1.5 s, inspect 1.2 s / 0.35 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"0.22b": 2, "0.62b": 11, "1.1b": 22}  # layers at TinyLlama's width
SHAPE = dict(hidden=2048, heads=32, kv_heads=4, intermediate=5632, vocab=32000, seq=128)


class _ExternalWriter:
    """Initializers whose bytes go to one external data file as they are made (4 KiB aligned,
    so a reader may map them)."""

    def __init__(self, data_path: str):
        self.location = os.path.basename(data_path)
        self.file = open(data_path, "wb")
        self.initializers: list = []
        self.nbytes = 0

    def add(self, name: str, array: np.ndarray) -> str:
        array = np.ascontiguousarray(array, dtype=np.float32)
        offset = self.file.tell()
        pad = (-offset) % 4096
        self.file.write(b"\0" * pad)
        offset += pad
        self.file.write(memoryview(array).cast("B"))
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(array.shape))
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self.location), ("offset", str(offset)), ("length", str(array.nbytes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        self.initializers.append(tensor)
        self.nbytes += array.nbytes
        return name

    def random(self, name: str, shape, rng, scale: float = 0.02) -> str:
        return self.add(name, rng.standard_normal(shape, dtype=np.float32) * np.float32(scale))

    def close(self):
        self.file.close()


def write_llama(path: str, layers: int, seed: int = 0, hidden=2048, heads=32, kv_heads=4, intermediate=5632,
                vocab=32000, seq=128) -> int:
    """Write the decoder to `path` (+ `path`.data); returns the weights' bytes."""
    rng = np.random.default_rng(seed)
    head = hidden // heads
    weights = _ExternalWriter(path + ".data")
    small: list = []  # shape and axis constants, kept inside the model
    nodes: list = []
    counter = [0]

    def const(values, dtype=np.int64) -> str:
        name = f"c{len(small)}"
        small.append(helper.make_tensor(name, TensorProto.INT64 if dtype == np.int64 else TensorProto.FLOAT,
                                        [len(values)] if isinstance(values, list) else [],
                                        values if isinstance(values, list) else [values]))
        return name

    def op(kind, inputs, **attrs) -> str:
        counter[0] += 1
        out = f"{kind.lower()}_{counter[0]}"
        nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    axis_last, eps, one = const([-1]), const(1e-5, np.float32), const(1.0, np.float32)

    def rms_norm(x, name):
        w = weights.add(name, np.ones(hidden, np.float32))
        mean = op("ReduceMean", [op("Mul", [x, x]), axis_last], keepdims=1)
        return op("Mul", [op("Mul", [x, op("Div", [one, op("Sqrt", [op("Add", [mean, eps])])])]), w])

    # rotary tables (LLaMA's rotate_half form) and the causal mask, shared by every layer
    inv = 1.0 / (10000.0 ** (np.arange(0, head, 2, dtype=np.float64) / head))
    angles = np.outer(np.arange(seq), inv)
    angles = np.concatenate([angles, angles], axis=-1)
    cos = weights.add("rope_cos", np.cos(angles).reshape(1, 1, seq, head))
    sin = weights.add("rope_sin", np.sin(angles).reshape(1, 1, seq, head))
    mask = weights.add("causal_mask", np.triu(np.full((seq, seq), np.finfo(np.float32).min, np.float32), 1)
                       .reshape(1, 1, seq, seq))
    half_a, half_b, half_end, axis3 = const([0]), const([head // 2]), const([head]), const([3])
    scale = const(1.0 / np.sqrt(head), np.float32)

    def heads_of(x, count):
        return op("Transpose", [op("Reshape", [x, const([1, seq, count, head])])], perm=[0, 2, 1, 3])

    def rotary(x):
        first = op("Slice", [x, half_a, half_b, axis3])
        second = op("Slice", [x, half_b, half_end, axis3])
        rotated = op("Concat", [op("Neg", [second]), first], axis=-1)
        return op("Add", [op("Mul", [x, cos]), op("Mul", [rotated, sin])])

    def repeat_kv(x):
        group = heads // kv_heads
        expanded = op("Expand", [op("Unsqueeze", [x, const([2])]), const([1, kv_heads, group, seq, head])])
        return op("Reshape", [expanded, const([1, heads, seq, head])])

    x = op("Gather", [weights.random("embed_tokens", (vocab, hidden), rng), "input_ids"], axis=0)
    for i in range(layers):
        h = rms_norm(x, f"l{i}.input_norm")
        q = rotary(heads_of(op("MatMul", [h, weights.random(f"l{i}.q", (hidden, hidden), rng)]), heads))
        k = rotary(heads_of(op("MatMul", [h, weights.random(f"l{i}.k", (hidden, kv_heads * head), rng)]), kv_heads))
        v = heads_of(op("MatMul", [h, weights.random(f"l{i}.v", (hidden, kv_heads * head), rng)]), kv_heads)
        scores = op("Add", [op("Mul", [op("MatMul", [q, op("Transpose", [repeat_kv(k)], perm=[0, 1, 3, 2])]),
                                       scale]), mask])
        attn = op("MatMul", [op("Softmax", [scores], axis=-1), repeat_kv(v)])
        attn = op("Reshape", [op("Transpose", [attn], perm=[0, 2, 1, 3]), const([1, seq, hidden])])
        x = op("Add", [x, op("MatMul", [attn, weights.random(f"l{i}.o", (hidden, hidden), rng)])])
        h = rms_norm(x, f"l{i}.post_norm")
        gate = op("MatMul", [h, weights.random(f"l{i}.gate", (hidden, intermediate), rng)])
        up = op("MatMul", [h, weights.random(f"l{i}.up", (hidden, intermediate), rng)])
        act = op("Mul", [op("Mul", [gate, op("Sigmoid", [gate])]), up])
        x = op("Add", [x, op("MatMul", [act, weights.random(f"l{i}.down", (intermediate, hidden), rng)])])
    logits = op("MatMul", [rms_norm(x, "final_norm"), weights.random("lm_head", (hidden, vocab), rng)])
    nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits"))
    weights.close()
    graph = helper.make_graph(nodes, "llama", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, seq, vocab])],
                              small + weights.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="llm_scale")
    model.ir_version = 9
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return weights.nbytes


PARSER = """
import sys, time
from tvm_tensorrt.backend import load_backend
trt = load_backend().trt
logger = trt.Logger(trt.Logger.ERROR)
builder = trt.Builder(logger)
network = builder.create_network(0)
parser = trt.OnnxParser(network, logger)
if not parser.parse_from_file(sys.argv[1]):
    sys.exit("; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
config = builder.create_builder_config()
config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
plan = builder.build_serialized_network(network, config)
if plan is None:
    sys.exit("the parser's network did not build")
with open(sys.argv[2], "wb") as f:
    f.write(memoryview(plan))
print(f"layers {network.num_layers}")
"""

LOAD = """
import sys, tvm_tensorrt
tvm_tensorrt.load(sys.argv[1])
"""

CHECK = """
import json, sys, time
import numpy as np
import tvm_tensorrt
ids = np.random.default_rng(1).integers(0, int(sys.argv[3]), (1, 128), dtype=np.int64)
start = time.perf_counter()
model = tvm_tensorrt.load(sys.argv[1])
loaded = time.perf_counter() - start
logits = model.run(ids)[0]
ran = time.perf_counter() - start - loaded
np.save(sys.argv[2], logits)
print(json.dumps({"load_s": loaded, "run_s": ran}))
"""

ORT = """
import sys
import numpy as np
import onnxruntime as ort
ids = np.random.default_rng(1).integers(0, int(sys.argv[3]), (1, 128), dtype=np.int64)
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
np.save(sys.argv[2], session.run(None, {"input_ids": ids})[0])
"""


def measured(argv: list, timeout: float = 3600) -> dict:
    """Run `argv` as a child; its wall seconds, its own peak RSS (wait4) and its output."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": time.perf_counter() - start, "peak_rss": usage.ru_maxrss * 1024,
            "rc": child.returncode, "output": output}


def _size(path: str) -> int:
    """A library's bytes with the weights file beside it, if any."""
    return sum(os.path.getsize(p) for p in (path, path + ".weights") if os.path.exists(p))


def run_one(kind: str, model: str, workdir: str, flags: list) -> dict:
    python = sys.executable
    if kind == "parser":
        out = os.path.join(workdir, "parser.plan")
        result = measured([python, "-c", PARSER, model, out])
    else:
        out = os.path.join(workdir, f"{kind}.so")
        cli = [python, "-m", "tvm_tensorrt.cli", "compile", model, "-o", out, *flags]
        result = measured(cli + (["--prebuild-engines"] if kind == "prebuilt" else []))
    result["bytes"] = _size(out) if result["rc"] == 0 and os.path.exists(out) else None
    result["path"] = out
    return result


def check(library: str, model: str, workdir: str) -> dict:
    ours_out, ort_out = os.path.join(workdir, "ours.npy"), os.path.join(workdir, "ort.npy")
    loaded = measured([sys.executable, "-c", CHECK, library, ours_out, str(SHAPE["vocab"])])
    if loaded["rc"] != 0:
        return {"load": loaded}
    reference = measured([sys.executable, "-c", ORT, model, ort_out, str(SHAPE["vocab"])])
    if reference["rc"] != 0:
        return {"load": loaded, "onnxruntime": reference}
    ours, theirs = np.load(ours_out), np.load(ort_out)
    return {"load": loaded, "onnxruntime": reference, "max_abs_diff": float(np.abs(ours - theirs).max()),
            "close": bool(np.allclose(ours, theirs, rtol=1e-3, atol=1e-3))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", choices=sorted(SIZES), help="default: 0.22b")
    parser.add_argument("--runs", default="ours,prebuilt,parser", help="comma-separated: ours, prebuilt, parser")
    parser.add_argument("--compile-flag", action="append", default=[], help="passed to tvm-tensorrt compile")
    parser.add_argument("--check", action="store_true", help="load in a fresh process and compare with onnxruntime")
    parser.add_argument("--keep", help="folder to write into and keep (default: a temporary one)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(dir=args.keep) as scratch:
        for size in args.size or ["0.22b"]:
            workdir = os.path.join(scratch, size)
            os.makedirs(workdir, exist_ok=True)
            model = os.path.join(workdir, "llama.onnx")
            start = time.perf_counter()
            weight_bytes = write_llama(model, SIZES[size], **SHAPE)
            print(f"{size}: {SIZES[size]} layers, {weight_bytes / 1e9:.2f} GB of fp32 weights, written in "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
            for kind in args.runs.split(","):
                r = run_one(kind, model, workdir, args.compile_flag)
                row = {"size": size, "run": kind, "seconds": r["seconds"], "peak_rss": r["peak_rss"],
                       "bytes": r["bytes"], "rc": r["rc"], "weight_bytes": weight_bytes}
                results.append(row)
                size_text = f"{r['bytes'] / 1e9:.3f} GB" if r["bytes"] is not None else "-"
                print(f"  {kind:9s} {r['seconds']:7.1f} s  peak RSS {r['peak_rss'] / 1e9:6.2f} GB "
                      f"({r['peak_rss'] / weight_bytes:.2f}x weights)  output {size_text}  rc {r['rc']}", flush=True)
                if r["rc"] != 0:
                    last = r["output"].strip().splitlines()[-1][:300] if r["output"].strip() else ""
                    print(f"    {last}", flush=True)
                if kind != "parser" and r["rc"] == 0:  # loading in a fresh process, and inspect listing the layers
                    for step, argv in (("load", [sys.executable, "-c", LOAD, r["path"]]),
                                       ("inspect", [sys.executable, "-m", "tvm_tensorrt.cli", "inspect", r["path"]])):
                        m = measured(argv)
                        row[step] = {"seconds": m["seconds"], "peak_rss": m["peak_rss"], "rc": m["rc"]}
                        print(f"    {step} {m['seconds']:.1f} s, peak RSS {m['peak_rss'] / 1e9:.2f} GB, rc {m['rc']}",
                              flush=True)
                if args.check and kind != "parser" and r["rc"] == 0:
                    c = check(r["path"], model, workdir)
                    row["check"] = {k: (v if not isinstance(v, dict) else
                                        {"seconds": v["seconds"], "peak_rss": v["peak_rss"], "rc": v["rc"]})
                                    for k, v in c.items()}
                    load = c["load"]
                    print(f"    fresh-process load+run {load['seconds']:.1f} s, peak RSS "
                          f"{load['peak_rss'] / 1e9:.2f} GB, rc {load['rc']}; max |ours - onnxruntime| "
                          f"{c.get('max_abs_diff')}, close {c.get('close')}", flush=True)
                    if load["rc"] != 0:
                        print("    " + load["output"].strip()[-300:], flush=True)
                for p in (r["path"], r["path"] + ".weights"):
                    if os.path.exists(p):
                        os.remove(p)  # the disk holds one output at a time
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
