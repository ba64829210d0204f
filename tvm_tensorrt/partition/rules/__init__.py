"""Built-in rules, one module per operator family; importing this registers them all."""

from . import activation, elementwise, linear, nn, reduce, shape  # noqa: F401
