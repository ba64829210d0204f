"""Every op key is written out where it is registered: each rule and converter the package
registers is a `register_rule("key", ...)` / `register_converter("key")` call with the key as a
string literal (no loops or f-strings building keys), so searching for '"nn.conv2d"' finds both."""

import ast
from pathlib import Path

import pytest

from tvm_tensorrt.converters.base import CONVERTERS
from tvm_tensorrt.partition.registry import RULES

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"register_rule": ROOT / "partition" / "rules", "register_converter": ROOT / "converters"}
REGISTRIES = {"register_rule": RULES, "register_converter": CONVERTERS}


def registrations(function: str) -> tuple[dict, list]:
    """({key: "file:line"} of literal registrations, ["file:line"] of calls whose key is not a literal)."""
    literal, computed = {}, []
    for path in sorted(SOURCES[function].glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == function):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            key = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "op_name"), None)
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                literal.setdefault(key.value, where)
            else:
                computed.append(where)
    return literal, computed


@pytest.mark.parametrize("function", sorted(SOURCES))
def test_every_registered_key_is_a_literal_where_it_is_registered(function):
    literal, computed = registrations(function)
    assert not computed, f"{function} with a computed key at {computed}: write each key out"
    registered = set(REGISTRIES[function].names())
    assert registered, function
    missing = sorted(registered - set(literal))
    assert not missing, f"registered but not written out in a {function}(\"...\") call: {missing}"


def test_a_key_finds_its_rule_and_its_converter():
    rules, _ = registrations("register_rule")
    converters, _ = registrations("register_converter")
    for key in ("nn.conv2d", "exp", "equal", "add", "reshape", "nn.gelu"):
        assert key in rules and key in converters, key
        for where in (rules[key], converters[key]):
            path, line = where.rsplit(":", 1)
            assert f'"{key}"' in (ROOT / path).read_text().splitlines()[int(line) - 1], where
