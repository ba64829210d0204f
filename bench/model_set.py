"""How well the model set partitions: the architectures (tests/models/*.onnx) and today's
exports with named symbolic axes (tests/models/exports/*.onnx), each file as it is.

For each model: whether it imports, ONNX nodes, Relax operator calls after import, our TensorRT
subgraphs and the operator calls they take, whether NVIDIA's ONNX parser (TensorRT-RTX's
OnnxParser) takes the whole file, the layers of our TensorRT networks (fused patterns on: how many
normalization, attention and rotary layers) beside the parser's, and the subgraph count of TVM's own TensorRT partitioner on the
same module; then the totals (models whole in one engine: ours, NVIDIA's parser) and, per model,
the five most common reasons operator calls stayed in TVM.

    python bench/model_set.py                       # batch mode as the target has it (the default)
    python bench/model_set.py --implicit-batch      # the original's batch limits (default: follow the target)
    python bench/model_set.py --json out.json       # also write every row and reason as JSON

The models come from tests/models/make_model_set.py and tests/models/make_exports.py (see
tests/models/README.md).
"""

import argparse
import json
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import onnx
from tvm import relax

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests" / "models"
EXPORTS = MODELS / "exports"


def relax_op_calls(mod) -> int:
    """Calls of Relax operators (not of functions) in every Relax function of the module."""
    import tvm

    count = 0

    def visit(expr):
        nonlocal count
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
            count += 1

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func, visit)
    return count


def tvm_own_subgraphs(mod, params) -> int:
    from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt

    if params:
        mod = relax.transform.BindParams("main", params)(mod)
    partitioned = partition_for_tensorrt(mod)
    return sum(1 for func in partitioned.functions.values()
               if func.attrs is not None and func.attrs.get("Codegen") == "tensorrt")


FUSED_LAYERS = ("NORMALIZATION", "ATTENTION_INPUT", "ROTARY_EMBEDDING")


def network_layers(mod, params, implicit_batch) -> tuple:
    """(layers of every TensorRT network the runtime builds, {fused layer type: count}): the
    network builder's fused patterns (converters/patterns.py) on, as by default."""
    import tvm_tensorrt
    from tvm_tensorrt.lowering.serialize import subgraph_of
    from tvm_tensorrt.runtime.plan_builder import build_network

    pmod, config = tvm_tensorrt.partition_for_tensorrt(mod, params, use_implicit_batch=implicit_batch)
    kinds = Counter()
    for gvar, func in pmod.functions.items():
        if func.attrs is not None and func.attrs.get("Codegen") == "tensorrt":
            _, built, _ = build_network(subgraph_of(func, gvar.name_hint, config))
            network = built.network
            kinds.update(network.get_layer(i).type.name for i in range(network.num_layers))
    return sum(kinds.values()), {k: kinds[k] for k in FUSED_LAYERS}


def parser_layers(path: Path):
    """Layers NVIDIA's ONNX parser builds from the file (None when it does not parse it whole)."""
    from tvm_tensorrt.backend import load_backend

    trt = load_backend().trt
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    return network.num_layers if parser.parse_from_file(str(path)) else None


def measure(path: Path, implicit_batch) -> dict:
    import tvm_tensorrt

    row = {"model": path.stem, "onnx_nodes": len(onnx.load(str(path), load_external_data=False).graph.node)}
    start = time.perf_counter()
    mod, params = tvm_tensorrt.from_onnx(str(path))
    row["relax_ops"] = relax_op_calls(mod)
    report = tvm_tensorrt.explain(mod, params, use_implicit_batch=implicit_batch)
    row["seconds"] = round(time.perf_counter() - start, 2)
    totals = report.totals
    row.update(subgraphs=len(report.subgraphs), ops_offloaded=totals["ops_offloaded"], ops_total=totals["ops_total"])
    kept = Counter(d.reason or "(no reason given)" for d in report.decisions if not d.offloaded)
    row["kept_reasons"] = kept.most_common()
    row["layers"], row["fused_layers"] = network_layers(mod, params, implicit_batch)
    try:
        row["tvm_subgraphs"] = tvm_own_subgraphs(mod, params)
    except Exception as err:  # TVM's partitioner failing is a result too
        row["tvm_subgraphs"] = None
        row["tvm_error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument("--explicit-batch", dest="implicit_batch", action="store_false", default=None)
    batch.add_argument("--implicit-batch", dest="implicit_batch", action="store_true", default=None)
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--models", type=Path, nargs="+", default=[MODELS, EXPORTS],
                        help="folders of .onnx files (default tests/models and tests/models/exports)")
    args = parser.parse_args(argv)
    from exports_triage import nvidia_parser  # bench/: the same check the triage makes

    paths = sorted(p for folder in args.models for p in folder.glob("*.onnx"))
    if not paths:
        print(f"no .onnx files in {', '.join(map(str, args.models))}", file=sys.stderr)
        return 1
    print(f"batch mode: {dict([(None, 'as the target'), (True, 'implicit'), (False, 'explicit')])[args.implicit_batch]}")
    header = (f"{'model':24s} {'import':>6} {'ONNX nodes':>10} {'Relax ops':>9} {'TRT subgraphs':>13} "
              f"{'offloaded / total':>17} {'%':>5} {'NVIDIA parser':>13} {'TVM own':>7} {'s':>6} "
              f"{'TRT layers':>10} {'parser layers':>13} {'norm/attn/rotary':>16}")
    print(header)
    print("-" * len(header))
    rows = []
    for path in paths:
        try:
            parsed = nvidia_parser(path)
        except Exception as err:  # noqa: BLE001 (the parser failing is a result too)
            parsed = f"{type(err).__name__}: {err}"
        try:
            row = measure(path, args.implicit_batch)
        except Exception as err:
            row = {"model": path.stem, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            print(f"{path.stem:24s} {'FAIL':>6} {type(err).__name__}: {first[:150]}  (NVIDIA parser: "
                  f"{'whole' if parsed == 'whole' else 'no'})", flush=True)
            rows.append({**row, "parser": parsed})
            continue
        row["parser"] = parsed
        row["parser_layers"] = parser_layers(path) if parsed == "whole" else None
        rows.append(row)
        share = 100.0 * row["ops_offloaded"] / row["ops_total"] if row["ops_total"] else 0.0
        tvm = "err" if row["tvm_subgraphs"] is None else str(row["tvm_subgraphs"])
        print(f"{row['model']:24s} {'ok':>6} {row['onnx_nodes']:10d} {row['relax_ops']:9d} {row['subgraphs']:13d} "
              f"{row['ops_offloaded']:>8d} / {row['ops_total']:<6d} {share:5.1f} "
              f"{'whole' if parsed == 'whole' else 'no':>13} {tvm:>7} {row['seconds']:6.1f} {row['layers']:10d} "
              f"{row['parser_layers'] if row['parser_layers'] is not None else '-':>13} "
              f"{'/'.join(str(row['fused_layers'][k]) for k in FUSED_LAYERS):>16}", flush=True)

    whole = sum(1 for r in rows if "error" not in r and r["subgraphs"] == 1 and r["ops_offloaded"] == r["ops_total"])
    print(f"\nwhole in one TensorRT engine, as exported: ours {whole} / {len(rows)}, NVIDIA's parser parses "
          f"{sum(1 for r in rows if r['parser'] == 'whole')} / {len(rows)} whole, TVM's own partitioner "
          f"{sum(1 for r in rows if r.get('tvm_subgraphs') == 1)} / {len(rows)} in one subgraph")
    for row in rows:
        if row["parser"] != "whole":
            print(f"NVIDIA's parser on {row['model']}: {row['parser'][:200]}")

    ok = [r for r in rows if "error" not in r]
    if ok:
        print("\nTop 5 reasons operator calls stayed in TVM (reason -> count):")
        for row in ok:
            if not row["kept_reasons"]:
                print(f"  {row['model']}: (everything offloaded)")
                continue
            print(f"  {row['model']}:")
            for reason, n in row["kept_reasons"][:5]:
                print(f"    {reason} -> {n}")
        overall = Counter()
        for row in ok:
            overall.update(dict(row["kept_reasons"]))
        if overall:
            print("  all models:")
            for reason, n in overall.most_common(5):
                print(f"    {reason} -> {n}")
    for row in rows:
        if row.get("tvm_error"):
            print(f"TVM's partitioner failed on {row['model']}: {row['tvm_error'][:300]}")

    if args.json:
        args.json.write_text(json.dumps({"implicit_batch": args.implicit_batch, "models": rows}, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
