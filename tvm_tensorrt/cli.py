"""`tvm-tensorrt compile | run | explain | verify | inspect`: the main jobs from a shell.

compile writes OUT.so plus OUT.so.json (inputs, config, partition summary), so `run` can make
inputs of the right shapes without the model; the .so alone is still all the runtime needs.
OUT.so is written to a temporary file, read back and only then renamed (library_file.py): "Wrote"
means the library is whole, and a failed write leaves an older OUT.so as it was.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np

from .common import DEFAULT_WORKSPACE_SIZE, parse_version
from .errors import ConfigError, InputError, TensorRTError
from .models import DEFAULT_MODEL
from .runtime.options import PRECISIONS

logger = logging.getLogger("tvm_tensorrt")


# Option parsers: a malformed value is a usage error (argparse prints the usage, exit code 2).
def _shape_item(text):
    """--shape NAME=D0,D1,... (repeatable)."""
    name, equals, dims = text.partition("=")
    try:
        values = [int(d) for d in dims.split(",")]
    except ValueError:
        values = []
    if not name.strip() or not equals or not values or any(d < 0 for d in values):
        raise argparse.ArgumentTypeError(f"takes NAME=D0,D1,... with whole sizes, e.g. input=1,3,224,224; got {text!r}")
    return name.strip(), values


def _dim_item(text):
    """--dim NAME=MIN:OPT:MAX (repeatable): a shape variable's optimization-profile range."""
    name, equals, spec = text.partition("=")
    try:
        lo, opt, hi = (int(v) for v in spec.split(":"))
    except ValueError:
        lo = opt = hi = 0
    if not name.strip() or not equals or not 1 <= lo <= opt <= hi:
        raise argparse.ArgumentTypeError(f"takes NAME=MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX, e.g. seq=16:128:512; "
                                         f"got {text!r}")
    return name.strip(), (lo, opt, hi)


def _target_arg(text):
    """--target: a kind, the classic string form, or TVM's JSON dict ({"kind": "cuda", ...})."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid JSON: {err}") from None
    return text


def _writable_output(path: str) -> None:
    """Say which path cannot be written before minutes of compiling, not after in a linker error."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise TensorRTError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise TensorRTError(f"cannot write {path}: folder {folder} is not writable")
    if os.path.isdir(path):
        raise TensorRTError(f"cannot write {path}: it is a folder; give a file name such as {path}/model.so")


def _version(text):
    try:
        return parse_version(text, "--tensorrt-version")
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _partition_options(args) -> dict:
    return {"use_implicit_batch": args.implicit_batch, "remove_no_mac_subgraphs": args.remove_no_mac_subgraphs,
            "max_workspace_size": args.max_workspace_size, "min_subgraph_size": args.min_subgraph_size,
            "ops_to_exclude": args.exclude or (), "version": args.tensorrt_version,
            "dim_ranges": dict(args.dim) if args.dim else None, "int8_symmetric": args.int8_symmetric}


def _model_inputs(mod) -> list:
    main = mod["main"]
    return [{"name": p.name, "shape": [int(d) if hasattr(d, "value") else str(d) for d in p.ty.shape.values],
             "dtype": str(p.ty.dtype)} for p in main.params]


def compile_model(model_path, output, target="llvm", shapes=None, options=None, out=sys.stdout,
                  prebuild_engines=False, cpu_fallback=True, arch=None, host=None, int8=None,
                  external_weights=None) -> dict:
    """int8: {"data", "cache", "method"} to calibrate (tvm_tensorrt.calibrate) before partitioning.
    external_weights: build()'s (True, False, None: automatic above 1 GiB of weights)."""
    from . import build
    from .frontend import import_onnx
    from .library_file import export_library
    from .partition.api import partition_with_decisions
    from .targets import cross_compiler, make_target
    from .partition.report import PartitionReport

    _writable_output(output)
    start = time.perf_counter()
    mod, node_of = import_onnx(model_path, shape_dict=shapes)
    params = {}
    if int8:
        from .calibration import calibrate

        mod, params = calibrate(mod, params, **int8), {}
    partitioned, config, decisions = partition_with_decisions(mod, params, **(options or {}))
    report = PartitionReport(decisions, config, node_names=node_of)  # TVM-kept ops named as in the model
    print(report.to_table(), file=out)
    executable = build(partitioned, target=make_target(target, arch, host), config=config,
                       prebuild_engines=prebuild_engines, cpu_fallback=cpu_fallback, external_weights=external_weights)
    export_library(executable, output, fcompile=cross_compiler(host))  # checked before it replaces `output`
    meta = {"model": os.path.abspath(model_path), "inputs": _model_inputs(mod),
            "target": str(make_target(target, arch, host)),
            "summary": report.summary(), "subgraphs": report.subgraphs, "config": config}
    with open(output + ".json", "w") as f:
        json.dump(meta, f, indent=2)
    print(f"Wrote {output} in {time.perf_counter() - start:.1f} s", file=out)
    return meta


def _verify_inputs(files, mod) -> list:
    """verify --input: one .npy file per model input, in the model's order."""
    names = [p.name for p in mod["main"].params]
    if len(files) != len(names):
        raise InputError(f"verify takes one --input FILE.npy per model input ({', '.join(names)}); got {len(files)}")
    arrays = []
    for path in files:
        try:
            arrays.append(np.load(path))
        except (OSError, ValueError) as err:
            raise InputError(f"--input {path}: not a readable .npy file ({err})") from None
    return arrays


def run_library(path, input_files=(), out=sys.stdout, seed=0) -> list:
    from . import load

    if not os.path.isfile(path):
        raise TensorRTError(f"compiled library {path!r} does not exist; create it with `tvm-tensorrt compile`")
    meta_path = path + ".json"
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else None
    if input_files:
        arrays = [np.load(f) for f in input_files]
    elif meta:
        rng = np.random.default_rng(seed)
        ranges = (meta.get("config") or {}).get("dim_ranges") or {}
        shapes = [[d if isinstance(d, int) else ranges.get(d, [1, 1, 1])[1] for d in i["shape"]] for i in meta["inputs"]]
        arrays = [rng.standard_normal(s).astype(i["dtype"]) for s, i in zip(shapes, meta["inputs"])]
    else:
        raise TensorRTError(f"{meta_path} is missing: pass the inputs with --input x.npy")
    if meta:
        print(meta["summary"], file=out)
    model = load(path)
    start = time.perf_counter()
    arrays_out = model.run(*arrays)
    elapsed = time.perf_counter() - start
    for i, a in enumerate(arrays_out):
        flat = a.ravel()
        print(f"output {i}: shape {a.shape} {a.dtype} first values {np.array2string(flat[:5], precision=5)}", file=out)
    print(f"First run (includes engine builds) took {elapsed:.2f} s", file=out)
    return arrays_out


def inspect_path(path: str, as_json: bool = False, out=sys.stdout) -> None:
    from .backend import find_backend
    from .runtime.inspect import inspect_library, inspect_plan, to_table

    if not os.path.isfile(path):
        raise TensorRTError(f"{path!r} does not exist")
    if path.endswith(".plan"):
        print(json.dumps(inspect_plan(path), indent=2), file=out)
        return
    report = inspect_library(path, find_backend())
    print(json.dumps(report, indent=2) if as_json else to_table(report), file=out)


def explain_model(args, out=None) -> None:
    """explain: the table (or JSON), and the report files asked for."""
    out = out or sys.stdout
    from .onnx_explain import annotate_onnx, explain_onnx, save_annotated
    from .runtime.options import requested_precision

    files = {"html": args.html, "svg": args.svg, "onnx": args.onnx}
    for path in filter(None, files.values()):
        _writable_output(path)
    if args.onnx and os.path.exists(args.onnx) and os.path.samefile(args.onnx, args.model):
        raise TensorRTError(f"--onnx {args.onnx} is the model itself; give another file name, "
                            "so that the model stays as it is")
    report = explain_onnx(args.model, dict(args.shape) if args.shape else None, **_partition_options(args))
    print(report.to_json(indent=2) if args.json else report.to_table(), file=out)
    title = os.path.basename(args.model)
    if args.html:
        report.to_html(args.html, title=title, precision=requested_precision())
    if args.svg:
        report.to_svg(args.svg, title=title)
    if args.onnx:
        save_annotated(annotate_onnx(args.model, report), args.onnx)
    for kind, path in files.items():
        if path and not args.json:
            print(f"wrote {kind}: {path}", file=out)


def _add_partition_flags(p):
    batch = p.add_mutually_exclusive_group()
    batch.add_argument("--explicit-batch", dest="implicit_batch", action="store_false", default=None,
                       help="ops may read, move or change axis 0 (the default for TensorRT >= 10)")
    batch.add_argument("--implicit-batch", dest="implicit_batch", action="store_true", default=None,
                       help="axis 0 is a batch one engine serves at any size; ops that read, move or change it "
                            "stay in TVM (the default below TensorRT 10)")
    p.add_argument("--remove-no-mac-subgraphs", action="store_true")
    p.add_argument("--max-workspace-size", type=int, default=DEFAULT_WORKSPACE_SIZE, help="builder workspace in bytes")
    p.add_argument("--min-subgraph-size", type=int, default=1, help="smaller subgraphs stay in TVM")
    p.add_argument("--exclude", action="append", metavar="OP", help="Relax op TVM keeps, e.g. nn.softmax")
    p.add_argument("--shape", action="append", type=_shape_item, metavar="NAME=D0,D1", help="input shape override")
    p.add_argument("--dim", action="append", type=_dim_item, metavar="NAME=MIN:OPT:MAX",
                   help="range of a symbolic dim for the engine's optimization profile, e.g. seq=16:128:512 "
                        "(default: 1 to the largest size seen)")
    p.add_argument("--int8-symmetric", action="store_true",
                   help="re-quantize asymmetric Q/DQ (onnxruntime's default) symmetrically: true INT8 layers, "
                        "other numbers (default: they run in float, with onnxruntime's numbers)")
    p.add_argument("--tensorrt-version", type=_version, metavar="M.m.p",
                   help="TensorRT release to partition for (default: the installed one)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tvm-tensorrt", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="show the runtime's INFO log")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="ONNX -> partitioned, compiled library")
    c.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="ONNX file (default: the bundled CNN)")
    c.add_argument("-o", "--output", default="model.so")
    c.add_argument("--target", default="llvm", type=_target_arg,
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
    weights = c.add_mutually_exclusive_group()
    weights.add_argument("--external-weights", dest="external_weights", action="store_const", const=True,
                         help="write the weights to OUTPUT.weights beside the library (default: when they pass 1 GiB); "
                              "the two files move together")
    weights.add_argument("--embed-weights", dest="external_weights", action="store_const", const=False,
                         help="keep the weights inside the library (up to about 3.75 GiB)")
    _add_partition_flags(c)
    r = sub.add_parser("run", help="load a compiled library and run it once")
    r.add_argument("library", nargs="?", help="compiled .so (default: compile the bundled CNN first)")
    r.add_argument("--input", action="append", help=".npy file per model input")
    v = sub.add_parser("verify", help="check every TensorRT subgraph against TVM on the CPU")
    v.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    v.add_argument("--rtol", type=float, help="default: 1e-3 (FP32), 3e-2 (FP16)")
    v.add_argument("--atol", type=float, help="default: 1e-4 (FP32), 3e-2 (FP16)")
    v.add_argument("--json", action="store_true")
    v.add_argument("--input", action="append", metavar="FILE.npy",
                   help=".npy file per model input, in order (default: random normal values)")
    v.add_argument("--precision", choices=PRECISIONS,
                   help="what the networks compute in (default: TVM_TENSORRT_PRECISION, else fp32)")
    _add_partition_flags(v)
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
    _add_partition_flags(e)
    from .triton.cli import COMMANDS as TRITON_COMMANDS, add_commands as add_triton_commands

    add_triton_commands(sub)  # serve, export-triton
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    from .runtime.progress import TerminalBar, report_builds

    previous = report_builds(TerminalBar())  # engine builds take seconds to minutes: show them
    try:
        if args.command in TRITON_COMMANDS:
            from .triton.cli import run as run_triton_command

            return run_triton_command(args)
        if args.command == "compile":
            if args.int8 and not args.calib_data:
                parser.error("--int8 needs --calib-data DIR (a folder of .npy calibration batches)")
            int8 = {"data": args.calib_data, "cache": args.calib_cache, "method": args.calib_method} \
                if args.int8 else None
            compile_model(args.model, args.output, args.target, dict(args.shape) if args.shape else None,
                          _partition_options(args), prebuild_engines=args.prebuild_engines,
                          cpu_fallback=not args.no_cpu_fallback, arch=args.arch, host=args.host, int8=int8,
                          external_weights=args.external_weights)
        elif args.command == "run":
            if args.library:
                run_library(args.library, args.input or ())
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "default_cnn.so")
                    compile_model(DEFAULT_MODEL, path)
                    run_library(path)
        elif args.command == "inspect":
            inspect_path(args.path, args.json)
        elif args.command == "explain":
            explain_model(args)
        elif args.command == "verify":
            from . import from_onnx, verify

            mod, params = from_onnx(args.model, shape_dict=dict(args.shape) if args.shape else None)
            inputs = _verify_inputs(args.input, mod) if args.input else None
            report = verify(mod, params, inputs=inputs, rtol=args.rtol, atol=args.atol, precision=args.precision,
                            **_partition_options(args))
            report.inputs_hint = "real data, or values of another scale, as --input FILE.npy (one per model input)"
            print(report.to_json(indent=2) if args.json else report.to_table())
            return 0 if report.passed else 1
    except TensorRTError as err:  # ours: the message says what and how to fix it
        if args.verbose:
            raise
        print(f"tvm-tensorrt: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 (anyone else's: one line, the traceback with -v)
        if args.verbose:
            raise
        print(f"tvm-tensorrt: error: {type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
              " (run with -v for the traceback)", file=sys.stderr)
        return 1
    finally:  # main() called from Python: later builds in this process are not ours to show
        report_builds(previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
