"""The annotation-rule registry: one rule per Relax operator, keyed like the converter registry.

A rule answers "may TensorRT run this call?" with None (yes) or a reason string (no), so every
decision the partitioner makes can be explained to the user. Version gates are data on the rule,
not branches inside it, and so are the descriptions docs/operators.md is generated from (the
original Relay names a rule stands for, its batch-mode and attribute limits) and the
multiply-accumulate counter that `remove_no_mac_subgraphs` and `explain()` use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Optional

from tvm_tensorrt.common import format_version, parse_version
from tvm_tensorrt.errors import ConfigError, RegistryError
from tvm_tensorrt.registry import RELAX_PREFIX, Registry  # noqa: F401  (graph.py reads the prefix from here)
from .checks import ANY_DTYPES, FLOAT_DTYPES, QUANTIZED_DTYPES

logger = logging.getLogger("tvm_tensorrt")

RuleCheck = Callable[[object, dict], Optional[str]]
MacCounter = Callable[[object], int]



@dataclass(frozen=True)
class Rule:
    op_name: str  # Relax operator name without the "relax." prefix, e.g. "nn.conv2d"
    check: RuleCheck
    min_version: Optional[tuple]
    # Descriptive data (docs/operators.md); an override keeps these unless it gives new ones.
    original: tuple = ()  # names in the original Relay TensorRT table this rule stands for
    batch_limits: str = ""  # what use_implicit_batch=True keeps in TVM
    limits: str = ""  # attribute limits
    macs: Optional[MacCounter] = None  # call -> multiply-accumulates; set only for ops that do MAC work
    dtypes: tuple = FLOAT_DTYPES  # the dtypes every tensor the call reads or writes may have
    dynamic: bool = False  # its converter computes shapes at run time (symbolic dims beyond the batch)
    attributes: Optional[Callable] = None  # call -> the attrs as JSON data, when the attrs node's fields are not
    argument_names: tuple = ()  # names of the call's arguments, where the operator's schema does not give them all

    @property
    def does_mac_work(self) -> bool:
        return self.macs is not None


RULES = Registry("rule")


def _normalise_version(version) -> Optional[tuple]:
    if version is None:
        return None
    try:
        return parse_version(version, "min_version")
    except ConfigError as err:
        raise RegistryError(str(err)) from None


def register_rule(op_name: str, min_version=None, override: bool = False, *, original=None,
                  batch_limits: Optional[str] = None, limits: Optional[str] = None,
                  macs: Optional[MacCounter] = None, dtypes: Optional[tuple] = None,
                  dynamic: Optional[bool] = None, attributes: Optional[Callable] = None,
                  argument_names: Optional[tuple] = None):
    """Decorator registering `check(call, config) -> None | reason` for `op_name`.

    `min_version=(M, m, p)`: targets older than that TensorRT release keep the op in TVM.
    `original`, `batch_limits`, `limits`: the op's row(s) in docs/operators.md.
    `macs(call) -> int`: the call's multiply-accumulates; ops with a counter are the "MAC work"
    that `remove_no_mac_subgraphs` looks for, and explain() totals the counts.
    `dtypes`: the tensor dtypes the op's TensorRT layer takes (default: float32/float16/bfloat16);
    a rule with mixed dtypes (a comparison's bool output) lists them all and checks the rest itself.
    `dynamic=True`: the converter builds shapes at run time, so the op may have symbolic dims
    anywhere (the rule must still refuse what it cannot do on them, e.g. slicing a symbolic axis).
    `attributes(call) -> dict`: the attributes the converter reads, as JSON data, for ops whose
    attrs hold objects the subgraph format cannot carry (layout_transform's IndexMap).
    `argument_names`: every argument's name, for operators whose schema names fewer arguments
    than their calls have (strided_slice's axes/begin/end/strides); the converter reads them so.
    With override=True the descriptive data of the replaced rule is kept unless given again
    (the gate is not: it is part of the check).
    """
    RULES.check_name(op_name)
    gate = _normalise_version(min_version)
    unknown = [d for d in (dtypes or ()) if d not in ANY_DTYPES + QUANTIZED_DTYPES]
    if unknown:
        raise RegistryError(f"dtypes {unknown} for {op_name!r}: TensorRT subgraphs carry "
                            f"{ANY_DTYPES + QUANTIZED_DTYPES}")
    if isinstance(original, str):
        original = (original,)

    def decorate(check: RuleCheck) -> RuleCheck:
        previous = RULES.get(op_name) if override else None
        rule = Rule(op_name, check, gate) if previous is None else replace(previous, check=check, min_version=gate)
        given = {"original": tuple(original) if original is not None else None, "batch_limits": batch_limits,
                 "limits": limits, "macs": macs, "dtypes": tuple(dtypes) if dtypes is not None else None,
                 "dynamic": dynamic, "attributes": attributes,
                 "argument_names": tuple(argument_names) if argument_names is not None else None}
        RULES.add(op_name, replace(rule, **{k: v for k, v in given.items() if v is not None}), override)
        return check

    return decorate


def unregister_rule(op_name: str) -> None:
    """Remove a rule (tests and plugins that register temporarily need this)."""
    RULES.remove(op_name)


def get_rule(op_name: str) -> Optional[Rule]:
    return RULES.get(op_name)


def registered_rule_names() -> list[str]:
    return RULES.names()


def gate_reason(rule: Rule, config: dict) -> Optional[str]:
    target = tuple(config["tensorrt_version"])
    if rule.min_version is not None and target < rule.min_version:
        return (
            f"needs TensorRT >= {format_version(rule.min_version)}, "
            f"but the target is TensorRT {format_version(target)}"
        )
    return None


def run_rule(rule: Rule, call, config: dict) -> Optional[str]:
    """Apply the version gate, then the rule. A rule never stops a partition: one that raises
    (a case its author did not foresee, e.g. a symbolic dim where it expected a number) keeps
    its call in TVM, with the rule and the exception as the reason; the traceback is logged."""
    reason = gate_reason(rule, config)
    if reason:
        return reason
    try:
        reason = rule.check(call, config)
    except Exception as err:  # noqa: BLE001 (any rule's bug, ours or a plugin's)
        logger.warning("the rule for %r raised %s: %s; the call stays in TVM", rule.op_name, type(err).__name__, err,
                       exc_info=logger.isEnabledFor(logging.DEBUG))
        return f"the rule for {rule.op_name!r} raised {type(err).__name__}: {err} (a bug in the rule; please report it)"
    if reason is not None and not isinstance(reason, str):
        return f"the rule for {rule.op_name!r} must return None or a reason string, got {reason!r}"
    return reason


def count_macs(rule: Optional[Rule], call) -> int:
    """The call's multiply-accumulates (0 for ops without a counter or with unknown shapes)."""
    if rule is None or rule.macs is None:
        return 0
    try:
        return int(rule.macs(call) or 0)
    except Exception as err:  # noqa: BLE001 (counts are for reports: never worth failing a partition)
        logger.warning("the MAC counter for %r raised %s: %s; counted as 0", rule.op_name, type(err).__name__, err)
        return 0
