"""`tvm-tensorrt compile | run | explain | verify | inspect`: the main jobs from a shell.

compile writes OUT.so plus OUT.so.json (inputs, config, partition summary), so `run` can make
inputs of the right shapes without the model; the .so alone is still all the runtime needs.
OUT.so is written to a temporary file, read back and only then renamed (library_file.py): "Wrote"
means the library is whole, and a failed write leaves an older OUT.so as it was.
The grammar is cli_parser.py, option values and their checks cli_args.py, Ctrl-C
cli_interrupt.py, hints in flag words cli_words.py, TVM's C++ warnings filtered cli_quiet.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sys
import tempfile
import time

import numpy as np

from .cli_args import UsageError, check_shapes_and_dims, default_output, never_the_model, shapes_hint, writable_output
from .cli_parser import build_parser
from .cli_quiet import TvmWarningsFiltered
from .cli_words import cli_words
from .errors import InputError, TensorRTError
from .file_writes import write_atomically
from .cli_interrupt import INTERRUPTED, Interrupts
from tvm_tensorrt.runtime.progress import builds_cancelled
from .models import DEFAULT_MODEL

logger = logging.getLogger("tvm_tensorrt")
QUIETED = ("compile", "run", "explain", "verify", "inspect")  # TVM's warnings filtered; not the servers
BROKEN_PIPE = 141  # 128 + SIGPIPE: what `ls | head` leaves, for a reader that stopped early


def _partition_options(args) -> dict:
    return {"use_implicit_batch": args.implicit_batch, "remove_no_mac_subgraphs": args.remove_no_mac_subgraphs,
            "remove_no_compute_subgraphs": not args.keep_no_compute_subgraphs,
            "max_workspace_size": args.max_workspace_size, "min_subgraph_size": args.min_subgraph_size,
            "ops_to_exclude": args.exclude or (), "version": args.tensorrt_version,
            "dim_ranges": dict(args.dim) if args.dim else None, "int8_symmetric": args.int8_symmetric,
            "no_fuse": args.no_fuse or ()}


def _model_inputs(mod) -> list:
    main = mod["main"]
    return [{"name": p.name, "shape": [int(d) if hasattr(d, "value") else str(d) for d in p.ty.shape.values],
             "dtype": str(p.ty.dtype)} for p in main.params]


def compile_model(model_path, output, target="llvm", shapes=None, options=None, out=sys.stdout,
                  prebuild_engines=False, cpu_fallback=True, arch=None, host=None, int8=None,
                  engine_options=None, external_weights=None) -> dict:
    """int8: {"data", "cache", "method"} to calibrate (tvm_tensorrt.calibrate) before partitioning.
    external_weights: build()'s (True, False, None: automatic above 1 GiB of weights).
    engine_options: build()'s (precision, builder_optimization_level), the library's defaults."""
    from . import build
    from .frontend import import_onnx
    from .library_file import export_library
    from tvm_tensorrt.partition.api import partition_with_decisions
    from .targets import cross_compiler, make_target
    from tvm_tensorrt.partition.report import PartitionReport

    never_the_model("-o", output, model_path, also=(".json", ".weights"))
    writable_output(output)
    start = time.perf_counter()
    mod, node_of = import_onnx(model_path, shape_dict=shapes)
    params = {}
    if int8:
        from .calibration import calibrate

        mod, params = calibrate(mod, params, **int8), {}
    partitioned, config, decisions = partition_with_decisions(mod, params, **(options or {}))
    report = PartitionReport(decisions, config, node_names=node_of)  # TVM-kept ops named as in the model
    print(cli_words(report.to_table()), file=out, flush=True)  # seen before the build, through a pipe too
    executable = build(partitioned, target=make_target(target, arch, host), config=config,
                       prebuild_engines=prebuild_engines, cpu_fallback=cpu_fallback, external_weights=external_weights,
                       **(engine_options or {}))
    export_library(executable, output, fcompile=cross_compiler(host))  # checked before it replaces `output`
    meta = {"model": os.path.abspath(model_path), "inputs": _model_inputs(mod),
            "target": str(make_target(target, arch, host)),
            "summary": report.summary(), "subgraphs": report.subgraphs, "config": config, "cpu_fallback": cpu_fallback}
    write_atomically(output + ".json", json.dumps(meta, indent=2).encode())
    print(f"Wrote {output} in {time.perf_counter() - start:.1f} s", file=out)
    return meta


def _cuda_present() -> bool:
    import tvm

    return bool(tvm.cuda(0).exist)


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


def run_library(path, input_files=(), out=sys.stdout, seed=0, engine_options=None, save=None) -> list:
    """save: a folder to write each output to, as output_<i>.npy."""
    from . import load
    from .library_file import check_library

    if not os.path.isfile(path):
        raise TensorRTError(f"compiled library {path!r} does not exist; create it with `tvm-tensorrt compile`")
    check_library(path)  # a damaged file: one line now, not a signal in TVM's loader
    if save is not None and not os.path.isdir(save):
        raise TensorRTError(f"--save {save}: no such folder; create it first")
    meta_path = path + ".json"
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else None
    if input_files:
        arrays = [np.load(f) for f in input_files]
    elif meta:
        rng = np.random.default_rng(seed)
        ranges = (meta.get("config") or {}).get("dim_ranges") or {}
        shapes = [[d if isinstance(d, int) else ranges.get(d, [1, 1, 1])[1] for d in i["shape"]]
                  for i in meta["inputs"]]
        arrays = [rng.standard_normal(s).astype(i["dtype"]) for s, i in zip(shapes, meta["inputs"])]
    else:
        raise TensorRTError(f"{meta_path} is missing: pass the inputs with --input x.npy")
    if meta and meta.get("cpu_fallback") is False and meta.get("subgraphs") and not _cuda_present():
        raise TensorRTError(f"{path} was compiled with --no-cpu-fallback: its TensorRT subgraphs run only on a CUDA "
                            "GPU, and this machine has none; compile it again without --no-cpu-fallback to run it here")
    if meta:
        print(meta["summary"], file=out)
    model = load(path, **(engine_options or {}))
    start = time.perf_counter()
    arrays_out = model.run(*arrays)
    elapsed = time.perf_counter() - start
    for i, a in enumerate(arrays_out):
        flat = a.ravel()
        stats = f" min {flat.min():.5g} max {flat.max():.5g} mean {flat.mean():.5g}" \
            if flat.size and np.issubdtype(a.dtype, np.number) else ""
        print(f"output {i}: shape {a.shape} {a.dtype} first values {np.array2string(flat[:5], precision=5)}{stats}",
              file=out)
        if save is not None:
            target = os.path.join(save, f"output_{i}.npy")
            buffer = io.BytesIO()
            np.save(buffer, a)
            write_atomically(target, buffer.getvalue())
            print(f"wrote {target}", file=out)
    print(f"First run (includes engine builds) took {elapsed:.2f} s", file=out)
    return arrays_out


def inspect_path(path: str, as_json: bool = False, out=sys.stdout) -> None:
    from .backend import find_backend
    from tvm_tensorrt.runtime.inspect import inspect_library, inspect_plan, to_table

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
    from tvm_tensorrt.runtime.options import requested_precision

    files = {"html": args.html, "svg": args.svg, "onnx": args.onnx}
    for kind, path in files.items():
        if path:
            never_the_model(f"--{kind}", path, args.model)
            writable_output(path)
    report = explain_onnx(args.model, dict(args.shape) if args.shape else None, **_partition_options(args))
    print(report.to_json(indent=2) if args.json else cli_words(report.to_table()), file=out)
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


def main(argv=None) -> int:
    """The CLI. Ctrl-C anywhere in it is one line and exit code 130, a running TensorRT build
    cancelled (cli_interrupt.py)."""
    code = INTERRUPTED
    with Interrupts() as interrupts:
        code = _main(argv)
        try:
            sys.stdout.flush()  # here, not at exit: a reader that has gone is BROKEN_PIPE, not a warning
        except BrokenPipeError:
            code = _reader_gone()
    if argv is None:  # the command line itself: a Ctrl-C from here to the exit leaves the code as it is
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if interrupts.requested:
        print("tvm-tensorrt: interrupted", file=sys.stderr)
        return INTERRUPTED
    return code


def _reader_gone() -> int:
    """stdout's reader stopped early: say nothing, nor at exit when Python flushes stdout."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return BROKEN_PIPE


def _main(argv=None) -> int:
    parser = build_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    from .triton.cli import COMMANDS as TRITON_COMMANDS

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    from tvm_tensorrt.runtime.progress import TerminalBar, report_builds

    previous = report_builds(TerminalBar())  # engine builds take seconds to minutes: show them
    quiet = TvmWarningsFiltered(enabled=not args.verbose and args.command in QUIETED)  # after the bar saw a tty
    quiet.__enter__()
    changed = []  # fixed dims a --shape changes: said if the import then fails
    try:
        if getattr(args, "shape", None) or getattr(args, "dim", None):
            changed = check_shapes_and_dims(args.model, dict(args.shape or ()), dict(args.dim or ()))
        if args.command in TRITON_COMMANDS:
            from .triton.cli import run as run_triton_command

            return run_triton_command(args)
        if args.command == "compile":
            if args.int8 and not args.calib_data:
                parser.error("--int8 needs --calib-data DIR (a folder of .npy calibration batches)")
            int8 = {"data": args.calib_data, "cache": args.calib_cache, "method": args.calib_method} \
                if args.int8 else None
            compile_model(args.model, args.output or default_output(args.model), args.target,
                          dict(args.shape) if args.shape else None, _partition_options(args),
                          prebuild_engines=args.prebuild_engines,
                          cpu_fallback=not args.no_cpu_fallback, arch=args.arch, host=args.host, int8=int8,
                          engine_options={"precision": args.precision,
                                          "builder_optimization_level": args.builder_optimization_level},
                          external_weights=args.external_weights)
        elif args.command == "run":
            if args.cache_dir and os.path.exists(args.cache_dir) and not os.path.isdir(args.cache_dir):
                parser.error(f"argument --cache-dir: {args.cache_dir} is a file; give a folder")
            engine_options = {"precision": args.precision, "cache_dir": args.cache_dir}
            if args.library:
                run_library(args.library, args.input or (), engine_options=engine_options, save=args.save)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "default_cnn.so")
                    compile_model(DEFAULT_MODEL, path)
                    run_library(path, engine_options=engine_options, save=args.save)
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
            print(report.to_json(indent=2) if args.json else cli_words(report.to_table()))
            return 0 if report.passed else 1
    except BrokenPipeError:  # `inspect | head`: the reader has gone; nothing left to say
        return _reader_gone()
    except UsageError as err:  # a command line that cannot mean what it says: argparse's exit code
        print(f"tvm-tensorrt {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TensorRTError as err:  # ours: the message says what and how to fix it
        if builds_cancelled():  # a build Ctrl-C stopped, or an interrupt TVM passed on as an error
            return INTERRUPTED
        if args.verbose:
            raise
        hint = f"; {shapes_hint(changed)}" if changed else ""
        print(f"tvm-tensorrt: error: {cli_words(str(err))}{hint}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 (anyone else's: one line, the traceback with -v)
        if builds_cancelled():
            return INTERRUPTED
        if args.verbose:
            raise
        last = str(err).strip().splitlines()[-1] if str(err).strip() else ""
        print(f"tvm-tensorrt: error: {type(err).__name__}: {cli_words(last)} (run with -v for the traceback)",
              file=sys.stderr)
        return 1
    finally:  # main() called from Python: later builds in this process are not ours to show
        report_builds(previous)
        quiet.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
