"""verify(): do the TensorRT networks our converters build compute what TVM computes?

For every offloaded subgraph, the network is built with the real TensorRT builder API, evaluated
on the CPU by the reference evaluator (itself checked against NVIDIA's ONNX parser), and compared
with TVM's own CPU execution of the same Relax function on the same inputs. The inputs are the
real values flowing into each subgraph when the whole model runs on the given model inputs, so
a subgraph is checked on the activations it will see, not on noise.

Conditioning. Two correct implementations of one network differ by rounding, and some networks
amplify rounding until it decides the output (a softmax over logits of 1e10 that differ only in
their last bits: the ONNX "light" models, whose weights are all one value, are like that). When
a subgraph does not match, verify re-evaluates it under Monte Carlo arithmetic (every layer's
result moved by up to one rounding unit, `ArithmeticVariant`) to measure how far rounding alone
moves each output value. Values that rounding moves by more than the tolerance are not
meaningful in that precision: they are counted and reported as ill-conditioned instead of being
compared, so the verdict does not depend on the summation order of the machine that runs it.
A subgraph whose every output value is excused was not checked at all: it is inconclusive, and
inconclusive is not a pass (Polygraphy counts "all outputs skipped" as a failure too).
"""

from __future__ import annotations

import collections
import json
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import tvm
from tvm import relax

from tvm_tensorrt.partition.api import partition_with_decisions
from tvm_tensorrt.backend import load_backend
from tvm_tensorrt.lowering.dispatch import offloaded_functions
from tvm_tensorrt.runtime.plan_builder import build_network
from tvm_tensorrt.runtime.model import flatten_outputs
from tvm_tensorrt.errors import TensorRTError
from tvm_tensorrt.runtime.options import engine_options
from tvm_tensorrt.lowering.serialize import subgraph_of
from tvm_tensorrt.runtime.evaluator import ArithmeticVariant, evaluate_network

# FP16 keeps ~3 significant digits per op; errors grow with depth, so its defaults are looser.
# int8: networks with quantize layers (QDQ models). TVM runs them in float on dequantized values,
# TensorRT in int8; a value near a rounding boundary lands one quantization step apart.
DEFAULT_TOLERANCES = {"fp32": (1e-3, 1e-4), "fp16": (3e-2, 3e-2), "bf16": (1e-1, 1e-1), "int8": (5e-2, 5e-2)}
# Monte Carlo arithmetic: evaluations under one-ulp noise, and the margin over the spread they
# show (a few samples underestimate the true spread of rounding).
NOISE_SAMPLES = 3
NOISE_MARGIN = 4.0


PYTHON_INPUTS_HINT = ("real data, or values of another scale or seed, passed as `inputs=` (a list in parameter order "
                      "or a dict by name) or `seed=`")


@dataclass
class SubgraphCheck:
    symbol: str
    ops: int
    max_abs_error: float
    max_rel_error: float  # max |trt - tvm| / max(|tvm|, atol): the worst element, relative to its size
    passed: bool
    # output values rounding alone moves past the tolerance (not compared), of all output values
    ill_conditioned_values: int = 0
    output_values: int = 0
    rounding_spread: float = 0.0  # the largest change one-ulp noise per layer made to an output value
    inconclusive: bool = False  # every output value was excused: nothing was compared, so not passed

    @property
    def ill_conditioned(self) -> bool:
        return self.ill_conditioned_values > 0


@dataclass
class VerifyReport:
    precision: str
    rtol: float
    atol: float
    subgraphs: list = field(default_factory=list)
    # what to give verify for inputs that exercise an inconclusive subgraph, in the words of the
    # interface that called it (the CLI puts its --input flag here)
    inputs_hint: str = PYTHON_INPUTS_HINT

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.subgraphs)

    @property
    def inconclusive(self) -> list:
        """The symbols of the subgraphs nothing was compared for."""
        return [s.symbol for s in self.subgraphs if s.inconclusive]

    def _verdict(self) -> str:
        if self.passed:
            return "PASS"
        return "INCONCLUSIVE" if all(s.passed or s.inconclusive for s in self.subgraphs) else "FAIL"

    def to_table(self) -> str:
        lines = [f"{self._verdict()}: {len(self.subgraphs)} TensorRT subgraph(s) checked on the CPU "
                 f"in {self.precision} (rtol={self.rtol:g}, atol={self.atol:g})"]
        for s in self.subgraphs:
            state = "ok" if s.passed else "INCONCLUSIVE" if s.inconclusive else "MISMATCH"
            lines.append(f"  {s.symbol}: {s.ops} ops, max abs error {s.max_abs_error:.3g}, "
                         f"max rel error {s.max_rel_error:.3g}  {state}")
            if s.ill_conditioned:
                lines.append(f"    ill-conditioned: rounding decides {s.ill_conditioned_values} of {s.output_values} "
                             f"output values in {self.precision} (one-ulp noise per layer moves them by up to "
                             f"{s.rounding_spread:.3g}); those are not compared")
            if s.inconclusive:
                lines.append(f"    inconclusive: no output value was left to compare, so {s.symbol} is not checked; "
                             f"verify it on inputs that separate its outputs: {self.inputs_hint}")
        return "\n".join(lines)

    def to_json(self, **kwargs) -> str:
        return json.dumps({"passed": self.passed, "precision": self.precision, "rtol": self.rtol,
                           "atol": self.atol, "inconclusive": self.inconclusive,
                           **({"inputs_hint": self.inputs_hint} if self.inconclusive else {}),
                           "subgraphs": [asdict(s) for s in self.subgraphs]}, **kwargs)

    def __str__(self) -> str:
        return self.to_table()


def random_input(rng, shape, dtype: str) -> np.ndarray:
    """Floats from a standard normal; integers and bools as 0/1 (token ids, masks and indices
    are valid at 0 and 1 in any model, where random ints could index out of range)."""
    if np.dtype(dtype).kind in "iub":
        return rng.integers(0, 2, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _model_inputs(mod, inputs, seed) -> list:
    params = mod["main"].params
    if inputs is None:
        rng = np.random.default_rng(seed)
        shapes = [[d.value if hasattr(d, "value") else None for d in p.ty.shape.values] for p in params]
        if any(None in s for s in shapes):
            raise TensorRTError("the model has symbolic input dimensions: pass `inputs` to verify "
                                f"(shapes {[str(p.ty.shape) for p in params]})")
        return [random_input(rng, s, str(p.ty.dtype)) for s, p in zip(shapes, params)]
    if isinstance(inputs, dict):
        missing = [p.name for p in params if p.name not in inputs]
        if missing:
            raise TensorRTError(f"verify inputs lack {missing}; the model's inputs are {[p.name for p in params]}")
        inputs = [inputs[p.name] for p in params]
    inputs = [np.asarray(x) for x in inputs]
    if len(inputs) != len(params):
        raise TensorRTError(f"verify got {len(inputs)} inputs, the model takes {len(params)}")
    return inputs


def _probe_module(partitioned) -> tuple[tvm.IRModule, list]:
    """The partitioned module with TVM compiling the offloaded functions too, and `main` returning
    every offloaded call's arguments and results (so one run gives both sides' inputs and TVM's
    outputs). Returns the module and [(symbol, n_args, n_results)] in order."""
    targets = offloaded_functions(partitioned)
    mod = relax.transform.ToNonDataflow()(partitioned)
    for gv in targets:
        mod[gv] = mod[gv].without_attr("Codegen")
    main = mod["main"]
    probes, layout = [], []
    for block in main.body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, relax.Call) and isinstance(value.op, relax.GlobalVar) and value.op in targets:
                symbol = str(targets[value.op].attrs["global_symbol"])
                args = list(value.args)
                probes.extend(args + [binding.var])
                layout.append((symbol, len(args)))
    result = relax.Tuple(probes)
    ret_ty = relax.TupleType([p.ty for p in probes])
    body = relax.SeqExpr(main.body.blocks, result)
    mod["main"] = relax.Function(main.params, body, ret_ty, main.is_pure, main.attrs)
    return relax.transform.Normalize()(mod), layout


def _run(executable, inputs) -> list:
    vm = relax.VirtualMachine(executable, tvm.cpu())
    return list(vm["main"](*[tvm.runtime.tensor(x) for x in inputs]))


def _compare(actual: list, expected: list, rtol: float, atol: float, unresolved: Optional[list] = None
             ) -> tuple[float, float, bool]:
    """Max abs and rel error and the verdict; `unresolved` (a bool mask per output) leaves out
    the values rounding decides."""
    if len(actual) != len(expected):
        return float("inf"), float("inf"), False
    max_abs = max_rel = 0.0
    passed = True
    for k, (a, e) in enumerate(zip(actual, expected)):
        if a.shape != e.shape:
            return float("inf"), float("inf"), False
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        same = (a64 == e64) | (np.isnan(a64) & np.isnan(e64))  # equal infinities and shared NaNs agree
        if unresolved is not None:
            same = same | unresolved[k]
        with np.errstate(invalid="ignore"):
            diff = np.where(same, 0.0, np.abs(a64 - e64))
        diff[np.isnan(diff)] = np.inf  # a NaN on one side only: FP16 overflow is never "0 error"
        if diff.size:
            max_abs = max(max_abs, float(diff.max()))
            max_rel = max(max_rel, float((diff / np.maximum(np.abs(e64), max(atol, 1e-30))).max()))
        passed = passed and bool(np.all(same | (diff <= atol + rtol * np.abs(e64))))
    return max_abs, max_rel, passed


def rounding_spread(network, trt, feeds: dict, names: list, reference: list, weights: Optional[dict] = None) -> list:
    """Per output value, the largest change Monte Carlo arithmetic (one-ulp noise on every layer)
    makes to it: how far rounding alone moves it. Non-finite values get 0: an overflow is never
    excused as rounding."""
    spread = [np.zeros(r.shape) for r in reference]
    for sample in range(NOISE_SAMPLES):
        noisy = evaluate_network(network, trt, feeds, ArithmeticVariant(seed=sample, ulp_noise=True), weights)
        for k, (name, ref) in enumerate(zip(names, reference)):
            r64, n64 = ref.astype(np.float64), noisy[name].astype(np.float64)
            with np.errstate(invalid="ignore"):
                change = np.where(np.isfinite(r64) & np.isfinite(n64), np.abs(n64 - r64), 0.0)
            spread[k] = np.maximum(spread[k], change)
    return spread


def _ill_conditioned(spread: list, expected: list, precision: str) -> list:
    """Masks of the values not to compare: all of an output whose rounding spread (with a margin)
    exceeds the precision's default tolerance at the output's own scale. Judged per output, not
    per value: a few noisy samples show that rounding decides an output (say, which logit a
    softmax picks), not every value it can move. Judged against the default tolerance, not the
    caller's: a tighter tolerance asks for closer numbers, not for more values to be excused."""
    rtol, atol = DEFAULT_TOLERANCES[precision]
    masks = []
    for s, e in zip(spread, expected):
        e64 = np.abs(e.astype(np.float64))
        finite = np.isfinite(e64)
        scale = float(e64[finite].max()) if finite.any() else 0.0
        decided_by_rounding = s.shape == e.shape and s.size and NOISE_MARGIN * float(s.max()) > atol + rtol * scale
        masks.append(finite if decided_by_rounding else np.zeros(e.shape, dtype=bool))
    return masks


def verify(mod, params=None, inputs=None, rtol: Optional[float] = None, atol: Optional[float] = None,
           precision: Optional[str] = None, seed: int = 0, arithmetic: Optional[ArithmeticVariant] = None,
           **partition_options) -> VerifyReport:
    """Partition `mod`, then check every TensorRT subgraph numerically on the CPU.

    inputs: the model's inputs (list in parameter order, or dict by name); random normal values
    (from `seed`) when None. precision: what the networks compute in, "fp32", "fp16" or "bf16";
    None follows TVM_TENSORRT_PRECISION / TVM_TENSORRT_USE_FP16, as engine building does. A model
    with quantize layers (QDQ) is judged at int8 tolerance. rtol/atol default to
    DEFAULT_TOLERANCES for the precision judged in. `arithmetic`: evaluate the networks with
    another summation order (tests use it to show the verdict does not depend on one).
    A subgraph whose every output value rounding decides is inconclusive, which fails the report.
    """
    # the argument, else TVM_TENSORRT_PRECISION / _USE_FP16 (read here, once), as build() resolves it
    engine_precision = engine_options({}, precision=precision).precision
    partitioned, config, decisions = partition_with_decisions(mod, params, **partition_options)
    # per subgraph, the operator calls compile and explain count (not folded weights); a decision
    # names a subgraph only when its call is offloaded
    op_counts = collections.Counter(d.subgraph for d in decisions if d.subgraph)
    functions = {str(f.attrs["global_symbol"]): f for f in offloaded_functions(partitioned).values()}
    quantized = any(isinstance(b.value, relax.Call) and getattr(b.value.op, "name", None) == "relax.quantize"
                    for f in functions.values() for block in f.body.blocks for b in block.bindings)
    precision = "int8" if quantized else engine_precision
    default_rtol, default_atol = DEFAULT_TOLERANCES[precision]
    report = VerifyReport(precision, default_rtol if rtol is None else rtol, default_atol if atol is None else atol)
    if not functions:
        return report
    probe, layout = _probe_module(partitioned)
    values = _run(tvm.compile(probe, target="llvm"), _model_inputs(partitioned, inputs, seed))
    backend = load_backend()
    cursor = 0
    for symbol, n_args in layout:
        args = [v.numpy() for v in values[cursor:cursor + n_args]]
        expected = [t.numpy() for t in flatten_outputs(values[cursor + n_args])]
        cursor += n_args + 1
        subgraph = subgraph_of(functions[symbol], symbol, config)
        _, built, _ = build_network(subgraph, backend, engine_precision)
        feeds = {d["name"]: a for d, a in zip(subgraph.inputs, args)}
        names = [d["name"] for d in subgraph.outputs]
        outputs = evaluate_network(built.network, backend.trt, feeds, arithmetic, built.weights)
        actual = [outputs[name] for name in names]
        check = SubgraphCheck(symbol, op_counts.get(symbol, len(subgraph.nodes)),
                              *_compare(actual, expected, report.rtol, report.atol),
                              output_values=sum(int(e.size) for e in expected))
        if not check.passed:  # a mismatch: is it the converter, or rounding the network amplifies?
            spread = rounding_spread(built.network, backend.trt, feeds, names, actual, built.weights)
            unresolved = _ill_conditioned(spread, expected, precision)
            check.max_abs_error, check.max_rel_error, check.passed = _compare(
                actual, expected, report.rtol, report.atol, unresolved)
            check.ill_conditioned_values = sum(int(m.sum()) for m in unresolved)
            check.rounding_spread = max((float(s.max()) for s in spread if s.size), default=0.0)
            check.inconclusive = 0 < check.output_values == check.ill_conditioned_values
            check.passed = check.passed and not check.inconclusive
        report.subgraphs.append(check)
    return report
