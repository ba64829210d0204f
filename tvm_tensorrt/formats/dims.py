"""Symbolic dimensions of a serialised subgraph, as plain data the runtime can evaluate.

A dimension is an int, the name of a shape variable ("batch", "seq"), or an expression
[op, a, b] over those (op in OPS): TVM writes a reshape of (batch, seq, 768) to 2-D as
(batch * seq, 768). Each variable is bound by a subgraph input that has it as a plain
dimension, so a call's input shapes give every variable's value, and with it every shape the
engine will see: the optimization profile's shapes and the checks of a call's inputs.
"""

from __future__ import annotations

import operator

from ..errors import ConversionError

OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "floordiv": operator.floordiv,
       "floormod": operator.mod, "max": max, "min": min}


def variables(dim) -> set:
    if isinstance(dim, str):
        return {dim}
    if isinstance(dim, list):
        return variables(dim[1]) | variables(dim[2])
    return set()


def evaluate(dim, values: dict) -> int:
    if isinstance(dim, int):
        return dim
    if isinstance(dim, str):
        return int(values[dim])
    return int(OPS[dim[0]](evaluate(dim[1], values), evaluate(dim[2], values)))


def text(dim) -> str:
    """A dim as people write it: 768, seq, batch * seq."""
    if not isinstance(dim, list):
        return str(dim)
    symbol = {"add": "+", "sub": "-", "mul": "*", "floordiv": "//", "floormod": "%"}.get(dim[0])
    if symbol is None:
        return f"{dim[0]}({text(dim[1])}, {text(dim[2])})"
    return f"({text(dim[1])} {symbol} {text(dim[2])})"


def dims_of(desc: dict) -> list:
    """A tensor description's dims (its static shape when it has no symbolic ones)."""
    return desc.get("dims") or desc["shape"]


def bind(inputs: list, shapes: list, symbol: str = "") -> dict:
    """{variable: value} from a call's input shapes; every input must fit its dims."""
    values: dict = {}
    for desc, shape in zip(inputs, shapes):
        for dim, size in zip(dims_of(desc), shape):
            if isinstance(dim, str) and values.setdefault(dim, int(size)) != int(size):
                raise ConversionError(f"input {desc['name']} has {dim} = {size}, another input has "
                                      f"{dim} = {values[dim]}", symbol=symbol)
    for desc, shape in zip(inputs, shapes):
        expected = [evaluate(d, values) for d in dims_of(desc)]
        if len(expected) != len(shape) or any(e != int(s) for e, s in zip(expected, shape)):
            raise ConversionError(f"input {desc['name']} has shape {tuple(int(s) for s in shape)}, expected "
                                  f"({', '.join(text(d) for d in dims_of(desc))}) = {tuple(expected)}",
                                  symbol=symbol)
    return values
