"""The command line's grammar: subcommands, flags and their help (cli.py runs them)."""

from __future__ import annotations

import argparse

from .cli_args import dim_item, shape_item, size_arg, target_arg, version_arg
from .common import DEFAULT_WORKSPACE_SIZE
from .models import DEFAULT_MODEL
from tvm_tensorrt.runtime.options import PRECISIONS


def _level(text):
    """--builder-optimization-level: TensorRT's 0 (fastest build) to 5 (most tactics tried)."""
    if not text.strip().isdigit() or not 0 <= int(text) <= 5:
        raise argparse.ArgumentTypeError(f"takes a whole number from 0 to 5; got {text!r}")
    return int(text)


def add_partition_flags(p):
    batch = p.add_mutually_exclusive_group()
    batch.add_argument("--explicit-batch", dest="implicit_batch", action="store_false", default=None,
                       help="ops may read, move or change axis 0 (the default for TensorRT >= 10)")
    batch.add_argument("--implicit-batch", dest="implicit_batch", action="store_true", default=None,
                       help="axis 0 is a batch one engine serves at any size; ops that read, move or change it "
                            "stay in TVM (the default below TensorRT 10)")
    p.add_argument("--remove-no-mac-subgraphs", action="store_true")
    p.add_argument("--keep-no-compute-subgraphs", action="store_true",
                   help="offload subgraphs that only move data (reshape, astype, ...); by default they stay in TVM")
    p.add_argument("--max-workspace-size", type=size_arg, default=DEFAULT_WORKSPACE_SIZE, metavar="SIZE",
                   help="builder workspace: bytes, or 1G, 512M, ...")
    p.add_argument("--min-subgraph-size", type=int, default=1, help="smaller subgraphs stay in TVM")
    p.add_argument("--exclude", action="append", metavar="OP", help="Relax op TVM keeps, e.g. nn.softmax")
    p.add_argument("--shape", action="append", type=shape_item, metavar="NAME=D0,D1", help="input shape override")
    p.add_argument("--dim", action="append", type=dim_item, metavar="NAME=MIN:OPT:MAX",
                   help="range of a symbolic dim for the engine's optimization profile, e.g. seq=16:128:512 "
                        "(default: 1 to the largest size seen)")
    p.add_argument("--int8-symmetric", action="store_true",
                   help="re-quantize asymmetric Q/DQ (onnxruntime's default) symmetrically: true INT8 layers, "
                        "other numbers (default: they run in float, with onnxruntime's numbers)")
    p.add_argument("--no-fuse", action="append", metavar="PATTERN",
                   help="leave a fused pattern as its pieces: attention, rotary_embedding, layer_norm, rms_norm, "
                        "group_norm, instance_norm, gelu, flattened_linear (default: each becomes TensorRT's own layer)")
    p.add_argument("--tensorrt-version", type=version_arg, metavar="M.m.p",
                   help="TensorRT release to partition for (default: the installed one)")


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tvm-tensorrt", description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="show the runtime's INFO log")
    parser.add_argument("--version", action=_Version, help="the versions of tvm-tensorrt, TVM and TensorRT, and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="ONNX -> partitioned, compiled library")
    c.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="ONNX file (default: the bundled CNN)")
    c.add_argument("-o", "--output", help="the library (default: the model's name, .so, in the current folder)")
    c.add_argument("--target", default="llvm", type=target_arg,
                   help='"llvm", "cuda" (for a GPU), "cuda -arch=sm_87", or a JSON dict of TVM target fields')
    c.add_argument("--arch", help="CUDA architecture of the target GPU, e.g. sm_87 (Jetson Orin), sm_86")
    c.add_argument("--host", help="cross-compile the library's host code: aarch64 (Jetson) or x86_64")
    c.add_argument("--prebuild-engines", action="store_true",
                   help="build every TensorRT engine now and embed it, so the first run loads instead of building")
    c.add_argument("--int8", action="store_true",
                   help="calibrate on --calib-data and run convolutions and matmuls in INT8 (quantize/dequantize)")
    c.add_argument("--calib-data", metavar="DIR", help="folder of .npy calibration batches (one input each)")
    c.add_argument("--calib-cache", metavar="FILE", help="calibration scales, written and reused when they match")
    c.add_argument("--calib-method", choices=["entropy", "minmax"], default="entropy")
    c.add_argument("--no-cpu-fallback", action="store_true",
                   help="GPU-only library: no TVM copy of the offloaded subgraphs to run where no engine can")
    c.add_argument("--precision", choices=PRECISIONS, help="what the engines compute in, the library's default "
                   "(else TVM_TENSORRT_PRECISION, else fp32)")
    c.add_argument("--builder-optimization-level", type=_level, metavar="N",
                   help="TensorRT builder optimization level 0-5, the library's default (else the builder's)")
    weights = c.add_mutually_exclusive_group()
    weights.add_argument("--external-weights", dest="external_weights", action="store_const", const=True,
                         help="write the weights to OUTPUT.weights beside the library (default: when they pass 1 GiB); "
                              "the two files move together")
    weights.add_argument("--embed-weights", dest="external_weights", action="store_const", const=False,
                         help="keep the weights inside the library (up to about 3.75 GiB)")
    add_partition_flags(c)
    r = sub.add_parser("run", help="load a compiled library and run it once")
    r.add_argument("library", nargs="?", help="compiled .so (default: compile the bundled CNN first)")
    r.add_argument("--input", action="append", help=".npy file per model input")
    r.add_argument("--precision", choices=PRECISIONS, help="overrides the library's precision (default: the "
                   "one it was compiled with, else TVM_TENSORRT_PRECISION, else fp32)")
    r.add_argument("--cache-dir", metavar="DIR", help="engine cache folder (default: TVM_TENSORRT_CACHE_DIR)")
    r.add_argument("--save", "--output-dir", dest="save", metavar="DIR",
                   help="write each output to DIR/output_<i>.npy")
    v = sub.add_parser("verify", help="check every TensorRT subgraph against TVM on the CPU")
    v.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    v.add_argument("--rtol", type=float, help="default: 1e-3 (FP32), 3e-2 (FP16)")
    v.add_argument("--atol", type=float, help="default: 1e-4 (FP32), 3e-2 (FP16)")
    v.add_argument("--json", action="store_true")
    v.add_argument("--input", action="append", metavar="FILE.npy",
                   help=".npy file per model input, in order (default: random normal values)")
    v.add_argument("--precision", choices=PRECISIONS,
                   help="what the networks compute in (default: TVM_TENSORRT_PRECISION, else fp32)")
    add_partition_flags(v)
    i = sub.add_parser("inspect", help="the TensorRT subgraphs of a library (layers, engines), or an engine file")
    i.add_argument("path", help="a compiled .so, or a .plan from the engine cache")
    i.add_argument("--json", action="store_true")
    e = sub.add_parser("explain", help="which ops go to TensorRT, and why the rest do not")
    e.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    e.add_argument("--json", action="store_true")
    e.add_argument("--html", metavar="FILE",
                   help="write the interactive report: the graph, its subgraphs and every op's reason (offline HTML)")
    e.add_argument("--svg", metavar="FILE",
                   help="write the collapsed picture (a box per subgraph and per TVM op) as SVG")
    e.add_argument("--onnx", metavar="FILE",
                   help="write the model with each node's decision in its metadata, for Netron")
    add_partition_flags(e)
    from .triton.cli import add_commands as add_triton_commands

    add_triton_commands(sub)  # serve, export-triton
    for command in sub.choices.values():  # -v before or after the subcommand, as users type it
        if "-v" not in command._option_string_actions:
            command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                                 help="show the runtime's INFO log")
    return parser


class _Version(argparse.Action):
    """--version: ours, TVM's and the TensorRT found (looked up only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help"))

    def __call__(self, parser, namespace, values, option_string=None):
        import tvm

        from .backend import find_backend
        from .common import __version__ as ours  # the version engine caches are keyed with

        backend = find_backend()
        print(f"tvm-tensorrt {ours}, TVM {tvm.__version__}, {backend.describe() if backend else 'no TensorRT found'}")
        parser.exit()  # to stdout, as argparse's own version action
