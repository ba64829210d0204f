"""The annotation-rule registry: one rule per Relax operator, keyed like the converter registry.

A rule answers "may TensorRT run this call?" with None (yes) or a reason string (no), so every
decision the partitioner makes can be explained to the user. Version gates are data on the rule,
not branches inside it, so the operator table can be generated from the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import RegistryError, TensorRTError

RuleCheck = Callable[[object, dict], Optional[str]]

RELAX_PREFIX = "relax."


@dataclass(frozen=True)
class Rule:
    op_name: str  # Relax operator name without the "relax." prefix, e.g. "nn.conv2d"
    check: RuleCheck
    min_version: Optional[tuple]


_RULES: dict[str, Rule] = {}


def _normalise_version(version) -> Optional[tuple]:
    if version is None:
        return None
    parts = tuple(int(v) for v in version)
    if len(parts) != 3:
        raise RegistryError(f"min_version must be (major, minor, patch), got {version!r}")
    return parts


def register_rule(op_name: str, min_version=None, override: bool = False):
    """Decorator registering `check(call, config) -> None | reason` for `op_name`."""
    if op_name.startswith(RELAX_PREFIX):
        raise RegistryError(f"register rules by the name without 'relax.': use {op_name[len(RELAX_PREFIX):]!r}")
    gate = _normalise_version(min_version)

    def decorate(check: RuleCheck) -> RuleCheck:
        if op_name in _RULES and not override:
            raise RegistryError(f"a rule for {op_name!r} is already registered; pass override=True to replace it")
        _RULES[op_name] = Rule(op_name, check, gate)
        return check

    return decorate


def unregister_rule(op_name: str) -> None:
    """Remove a rule (tests and plugins that register temporarily need this)."""
    _RULES.pop(op_name, None)


def get_rule(op_name: str) -> Optional[Rule]:
    return _RULES.get(op_name)


def registered_rule_names() -> list[str]:
    return sorted(_RULES)


def format_version(version) -> str:
    return ".".join(str(v) for v in version)


def run_rule(rule: Rule, call, config: dict) -> Optional[str]:
    """Apply the version gate, then the rule; a rule that crashes is a plugin bug worth naming."""
    target = tuple(config["tensorrt_version"])
    if rule.min_version is not None and target < rule.min_version:
        return (
            f"needs TensorRT >= {format_version(rule.min_version)}, "
            f"but the target is TensorRT {format_version(target)}"
        )
    try:
        reason = rule.check(call, config)
    except TensorRTError:
        raise
    except Exception as err:  # a user's plugin rule; keep its traceback
        raise TensorRTError(f"the rule for {rule.op_name!r} raised {type(err).__name__}: {err}") from err
    if reason is not None and not isinstance(reason, str):
        raise TensorRTError(f"the rule for {rule.op_name!r} must return None or a reason string, got {reason!r}")
    return reason
