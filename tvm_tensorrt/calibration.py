"""INT8 calibration without a GPU: run the model with TVM on the CPU over calibration batches,
choose a scale for each activation that a convolution or matmul reads, and return the module
with quantize/dequantize pairs inserted, ready to partition (TensorRT 10 and TensorRT-RTX have
no implicit INT8 calibration: INT8 is written as Q/DQ, as in a QDQ model from a quantizer).

Scales are symmetric (TensorRT's INT8 has zero point 0). Activations: per tensor, by "minmax"
(the largest magnitude seen) or "entropy" (TensorRT's entropy calibration: the threshold whose
clipped, 128-level histogram is closest in KL divergence to the observed one). Weights: per
output channel, by their largest magnitude. The scales are written to a calibration cache and
reused while the model, the data and the method are the same.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from typing import Iterable, Optional

import numpy as np
import tvm
import tvm_ffi
from tvm import relax

from .errors import ConfigError, TensorRTError
from .file_writes import write_atomically
from tvm_tensorrt.partition.checks import is_constant
from tvm_tensorrt.partition.fold import fold_module

logger = logging.getLogger("tvm_tensorrt")

METHODS = ("minmax", "entropy")
CACHE_FORMAT = 1
BINS = 2048  # histogram bins of |x|, as TensorRT's entropy calibrator uses
LEVELS = 128  # int8's positive levels
# op -> (index of the activation input, index of the weight input or None, weight's output-channel axis)
QUANTIZABLE = {"relax.nn.conv2d": (0, 1, 0), "relax.matmul": (0, 1, -1)}
runs = 0  # calibration passes through TVM in this process (tests read it: a cache hit runs none)


def calibrate(mod: tvm.IRModule, params=None, data=None, method: str = "entropy", cache: Optional[str] = None,
              keep: Iterable[str] = ()) -> tvm.IRModule:
    """`mod` with quantize/dequantize around the inputs of every convolution and matmul.

    data: calibration batches, each a list of the model's inputs (or one array for a one-input
    model): a list, any iterable, or a folder of `.npy` files (one batch each, one-input models).
    keep: op names ("nn.conv2d") or binding names of calls to leave in float."""
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: use one of {', '.join(METHODS)}")
    if params:
        mod = relax.transform.BindParams("main", params)(mod)
    # weights computed in the graph (a Gemm's transposed matrix) become constants, to be quantized
    mod = fold_module(mod, keep_transposed=False)
    batches, files = _batches(data)
    _check_batches(mod["main"], batches, files)
    targets = _targets(mod["main"], set(keep))
    if not targets:
        logger.warning("Nothing to calibrate: the model has no convolution or matmul outside `keep`")
        return mod
    key = _cache_key(mod, batches, method)
    scales = _read_cache(cache, key, len(targets))
    if scales is None:
        scales = _activation_scales(mod, set(keep), batches, method)
        _write_cache(cache, key, method, scales)
    return _insert_qdq(mod, targets, scales)


def _batches(data) -> tuple:
    """(batches, each a list of arrays; the .npy files they came from, for a folder, else None)."""
    if data is None:
        raise ConfigError("calibrate needs data: calibration batches (arrays, an iterable, or a folder of .npy)")
    files = None
    if isinstance(data, (str, os.PathLike)):
        files = sorted(glob.glob(os.path.join(os.fspath(data), "*.npy")))
        if not files:
            raise ConfigError(f"calibration folder {os.fspath(data)!r} has no .npy files")
        data = [np.load(f) for f in files]
    batches = [[np.asarray(x) for x in (b if isinstance(b, (list, tuple)) else [b])] for b in data]
    if not batches:
        raise ConfigError("calibration data is empty")
    return batches, files


def _check_batches(func: relax.Function, batches: list, files) -> None:
    """Each batch's count and dtypes against main's inputs, the batch named (its file, for a
    folder): TVM's own check fails inside the VM and names neither."""
    params = list(func.params)
    for index, batch in enumerate(batches):
        where = files[index] if files else f"calibration batch {index}"
        if len(batch) != len(params):
            raise ConfigError(f"{where} gives {len(batch)} input(s); the model takes {len(params)} "
                              f"({', '.join(p.name for p in params)})"
                              + ("; a folder of .npy serves one-input models only: pass a list of batches, each a "
                                 "list of the inputs, from Python" if files else ""))
        for array, param in zip(batch, params):
            wanted = str(param.ty.dtype)
            if str(array.dtype) != wanted:
                raise ConfigError(f"{where} is {array.dtype}; input {param.name} takes {wanted} "
                                  f"(save it as np.asarray(x, \"{wanted}\"))")


def _targets(func: relax.Function, keep: set) -> list:
    """[(activation var, call, binding name)] of the convolutions and matmuls to quantize."""
    found = []
    for block in func.body.blocks:
        for binding in block.bindings:
            call = binding.value
            name = getattr(getattr(call, "op", None), "name", None)
            if name not in QUANTIZABLE or name.removeprefix("relax.") in keep or binding.var.name in keep:
                continue
            if str(call.ty.dtype) != "float32":
                continue
            data_index, weight_index, _ = QUANTIZABLE[name]
            weight = call.args[weight_index]
            if not is_constant(weight) or not isinstance(call.args[data_index], relax.Var):
                continue  # computed weights (attention's Q x K) stay in float
            found.append((call.args[data_index], call, binding.var.name))
    return found


def _activation_scales(mod, keep: set, batches: list, method: str) -> list:
    """One scale per calibrated call's activation, from TVM running the model on every batch (two
    passes for entropy: the range first, then histograms over it)."""
    flat = relax.transform.ToNonDataflow()(mod)  # dataflow vars cannot leave their block
    main = flat["main"]
    activations = [t[0] for t in _targets(main, keep)]
    order = list(dict.fromkeys(activations))
    body = relax.SeqExpr(main.body.blocks, relax.Tuple(order))
    probe = tvm.IRModule({"main": relax.Function(main.params, body, relax.TupleType([v.ty for v in order]),
                                                 main.is_pure, main.attrs)})
    vm = relax.VirtualMachine(tvm.compile(relax.transform.Normalize()(probe), target="llvm"), tvm.cpu())

    def observed():
        global runs
        for batch in batches:
            runs += 1
            values = vm["main"](*[tvm.runtime.tensor(np.asarray(x, order="C")) for x in batch])
            yield [np.abs(v.numpy().astype(np.float32)) for v in values]

    peaks = np.zeros(len(order))
    for values in observed():
        peaks = np.maximum(peaks, [float(v.max()) if v.size else 0.0 for v in values])
    if method == "entropy":
        histograms = np.zeros((len(order), BINS))
        for values in observed():
            for i, v in enumerate(values):
                if peaks[i] > 0:
                    histograms[i] += np.histogram(v, bins=BINS, range=(0.0, peaks[i]))[0]
        thresholds = [_entropy_threshold(h, p) if p > 0 else 0.0 for h, p in zip(histograms, peaks)]
    else:
        thresholds = list(peaks)
    by_var = {var: max(t, 1e-8) / 127.0 for var, t in zip(order, thresholds)}
    return [float(by_var[a]) for a in activations]


def _entropy_threshold(histogram: np.ndarray, peak: float) -> float:
    """TensorRT's entropy calibration: for each candidate range [0, i bins), the reference is the
    observed distribution clipped into it (outliers added to its last bin); the candidate is the
    same bins without the outliers, quantized to 128 levels and expanded back over the bins that
    held values. Keep the range whose candidate diverges least (KL) from its reference."""
    width = peak / len(histogram)
    best, best_i = np.inf, len(histogram)
    for i in range(LEVELS, len(histogram) + 1, 8):
        clipped = histogram[:i].astype(np.float64)
        reference = clipped.copy()
        reference[-1] += histogram[i:].sum()
        candidate = np.zeros(i)
        for chunk in np.array_split(np.arange(i), LEVELS):
            used = clipped[chunk] > 0
            if used.any():
                candidate[chunk[used]] = clipped[chunk].sum() / used.sum()
        p = reference / max(reference.sum(), 1e-30)
        q = candidate / max(candidate.sum(), 1e-30)
        mask = p > 0
        divergence = float(np.sum(p[mask] * np.log(p[mask] / np.maximum(q[mask], 1e-12))))
        if divergence < best:
            best, best_i = divergence, i
    return (best_i + 0.5) * width


def _cache_key(mod, batches: list, method: str) -> str:
    digest = hashlib.sha256(f"{tvm_ffi.structural_hash(mod)}:{method}:{CACHE_FORMAT}".encode())
    for batch in batches:
        for x in batch:
            digest.update(str((x.shape, str(x.dtype))).encode())
            digest.update(np.ascontiguousarray(x).tobytes())
    return digest.hexdigest()


def _read_cache(path: Optional[str], key: str, count: int) -> Optional[list]:
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            entry = json.load(f)
    except (OSError, ValueError) as err:
        logger.warning("Ignoring calibration cache %s (%s); calibrating again", path, err)
        return None
    if entry.get("key") != key or len(entry.get("scales", ())) != count:
        logger.info("Calibration cache %s is for another model, data or method; calibrating again", path)
        return None
    logger.info("Read calibration scales from %s", path)
    return [float(s) for s in entry["scales"]]


def _write_cache(path: Optional[str], key: str, method: str, scales: list) -> None:
    if not path:
        return
    entry = {"format": CACHE_FORMAT, "key": key, "method": method, "scales": scales}
    write_atomically(path, json.dumps(entry, indent=1).encode())
    logger.info("Wrote calibration scales to %s", path)


def _weight_qdq(weight: np.ndarray, axis: int):
    """(int8 weights, per-channel scales) along `axis`, symmetric."""
    axis = axis % weight.ndim
    moved = np.moveaxis(weight.astype(np.float32), axis, 0)
    peaks = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scales = np.maximum(peaks, 1e-8) / 127.0
    quantized = np.clip(np.rint(moved / scales.reshape((-1,) + (1,) * (moved.ndim - 1))), -127, 127)
    return np.moveaxis(quantized.astype(np.int8), 0, axis), scales.astype(np.float32)


def _insert_qdq(mod, targets: list, scales: list) -> tvm.IRModule:
    scale_of = {call: scale for (_, call, _), scale in zip(targets, scales)}  # TVM objects hash by identity

    @relax.expr_functor.mutator
    class Inserter(relax.PyExprMutator):
        def visit_call_(self, original):
            call = super().visit_call_(original)
            if original not in scale_of:
                return call
            scale = scale_of[original]
            data_index, weight_index, axis = QUANTIZABLE[original.op.name]
            args = list(call.args)
            s, zero = relax.const(np.float32(scale), "float32"), relax.const(np.int8(0), "int8")
            quantized = self.builder_.emit(relax.op.quantize(args[data_index], s, zero, axis=-1, out_dtype="int8"))
            args[data_index] = self.builder_.emit(relax.op.dequantize(quantized, s, zero, axis=-1))
            weight = original.args[weight_index].value.numpy()
            int8_weight, channel_scales = _weight_qdq(weight, axis)
            args[weight_index] = self.builder_.emit(relax.op.dequantize(
                relax.const(int8_weight, "int8"), relax.const(channel_scales, "float32"),
                relax.const(np.zeros(channel_scales.shape, np.int8), "int8"), axis=axis % weight.ndim))
            return relax.Call(call.op, args, call.attrs, call.ty_args)

    inserter = Inserter(mod)
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function):
            inserter.builder_.update_func(gv, inserter.visit_expr(func))
    result = inserter.builder_.get()
    if not relax.analysis.check_well_formed(result):
        raise TensorRTError("inserting quantize/dequantize made an ill-formed module; please report this model")
    return result


def int8_accuracy(float_mod: tvm.IRModule, int8_mod: tvm.IRModule, inputs: Iterable) -> dict:
    """How far the INT8 model is from the float one on `inputs` (batches, as for calibrate; keep
    some back from calibration): max abs error, the lowest and mean cosine similarity of the first
    output, and, for a classifier's (batch, classes) output, how often the top-1 class agrees."""
    runs = [relax.VirtualMachine(tvm.compile(m, target="llvm"), tvm.cpu()) for m in (float_mod, int8_mod)]
    errors, cosines, agree, total = [], [], 0, 0
    for batch in _batches(inputs)[0]:
        args = [tvm.runtime.tensor(np.asarray(x, order="C")) for x in batch]
        reference, quantized = ((lambda out: (out if hasattr(out, "numpy") else out[0]).numpy().astype(np.float64))(
            vm["main"](*args)) for vm in runs)
        errors.append(float(np.abs(reference - quantized).max()))
        a, b = reference.ravel(), quantized.ravel()
        cosines.append(float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30)))
        if reference.ndim == 2:
            agree += int((reference.argmax(axis=1) == quantized.argmax(axis=1)).sum())
            total += reference.shape[0]
    return {"max_abs_error": max(errors), "min_cosine": min(cosines), "mean_cosine": float(np.mean(cosines)),
            "top1_agreement": agree / total if total else None, "batches": len(cosines)}
