"""Built-in rules, one module per operator family; importing this registers them all.

Each rule is registered with the names of the original (Relay) TensorRT table it stands for
and its limits, so docs/operators.md is generated from the registry (tvm_tensorrt.partition.table).
"""

from . import (activation, cast, conv, dropout, elementwise, gather, linear, norm, pool, quantize, reduce,  # noqa: F401
               resize, scan, select, shape, sizes, unary)
