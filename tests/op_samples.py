"""One representative call per built-in rule, shared by rule, converter and parity tests.

A rule registered without a sample here fails test_every_rule_has_a_sample, so a new operator
cannot land untested.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

RNG = np.random.default_rng(0)


def const(*shape, positive=False):
    value = RNG.uniform(0.5, 1.5, shape) if positive else RNG.standard_normal(shape)
    return relax.const(value.astype("float32"))


def single_op_module(make, *shapes, dtype="float32", field=None) -> tvm.IRModule:
    """main(x0, x1...) = make(x0, x1...) (optionally taking tuple field `field`)."""
    bb = relax.BlockBuilder()
    params = [relax.Var(f"x{i}", relax.TensorType(s, dtype)) for i, s in enumerate(shapes)]
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit(make(*params))
            if field is not None:
                out = bb.emit(relax.TupleGetItem(out, field))
            out = bb.emit_output(out)
        bb.emit_func_output(out)
    return bb.get()


# op name -> (make, input shapes, tuple field or None)
SAMPLES = {
    "nn.relu": (lambda x: relax.op.nn.relu(x), [(1, 4, 5, 5)], None),
    "sigmoid": (lambda x: relax.op.sigmoid(x), [(2, 7)], None),
    "clip": (lambda x: relax.op.clip(x, -0.5, 0.7), [(2, 3, 4)], None),
    "add": (lambda x, y: relax.op.add(x, y), [(2, 3, 4), (3, 1)], None),
    "subtract": (lambda x: relax.op.subtract(x, const(4)), [(2, 3, 4)], None),
    "multiply": (lambda x, y: relax.op.multiply(x, y), [(1, 3, 1, 5), (1, 3, 4, 1)], None),
    "divide": (lambda x: relax.op.divide(x, const(1, 3, 1, 1, positive=True)), [(1, 3, 4, 4)], None),
    "maximum": (lambda x, y: relax.op.maximum(x, y), [(2, 5), (2, 5)], None),
    "minimum": (lambda x: relax.op.minimum(x, const(5)), [(2, 5)], None),
    "nn.conv2d": (lambda x: relax.op.nn.conv2d(x, const(6, 2, 3, 3), strides=(2, 1), padding=(1, 0, 2, 1),
                                               dilation=(1, 2), groups=2), [(1, 4, 9, 10)], None),
    "nn.batch_norm": (lambda x: relax.op.nn.batch_norm(x, const(3, positive=True), const(3), const(3),
                                                       const(3, positive=True), axis=1, training=False),
                      [(2, 3, 4, 4)], 0),
    "nn.max_pool2d": (lambda x: relax.op.nn.max_pool2d(x, (3, 3), strides=(2, 2), padding=(1, 1, 1, 1)),
                      [(1, 2, 9, 9)], None),
    "nn.avg_pool2d": (lambda x: relax.op.nn.avg_pool2d(x, (2, 2), strides=(2, 2), padding=(1, 1, 1, 1),
                                                       count_include_pad=True), [(1, 2, 8, 8)], None),
    "nn.adaptive_avg_pool2d": (lambda x: relax.op.nn.adaptive_avg_pool2d(x, (2, 3)), [(1, 3, 8, 9)], None),
    "matmul": (lambda x: relax.op.matmul(x, const(5, 3)), [(2, 4, 5)], None),
    "reshape": (lambda x: relax.op.reshape(x, (2, -1)), [(2, 3, 4)], None),
    "flatten": (lambda x: relax.op.flatten(x), [(2, 3, 4)], None),
    "permute_dims": (lambda x: relax.op.permute_dims(x, [0, 2, 3, 1]), [(1, 2, 3, 4)], None),
    "concat": (lambda x, y: relax.op.concat([x, y], axis=-1), [(2, 3), (2, 5)], None),
    "nn.softmax": (lambda x: relax.op.nn.softmax(x, axis=1), [(2, 5, 3)], None),
    "mean": (lambda x: relax.op.mean(x, axis=[2, 3], keepdims=True), [(1, 3, 4, 5)], None),
}


def sample_module(op_name: str) -> tvm.IRModule:
    make, shapes, field = SAMPLES[op_name]
    return single_op_module(make, *shapes, field=field)


def random_inputs(mod: tvm.IRModule, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal([int(d) for d in p.ty.shape.values]).astype(str(p.ty.dtype))
            for p in mod["main"].params]


def run_tvm(mod_or_executable, inputs) -> list:
    """Run `main` on the CPU; returns a list of numpy outputs."""
    executable = mod_or_executable
    if isinstance(mod_or_executable, tvm.IRModule):
        executable = tvm.compile(mod_or_executable, target="llvm")
    vm = relax.VirtualMachine(executable, tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(a) for a in inputs])
    return [out.numpy()] if hasattr(out, "numpy") else [o.numpy() for o in out]


def offloaded_ops(mod: tvm.IRModule) -> dict:
    """{symbol: [relax op names]} for every function marked Codegen="tensorrt"."""
    found = {}
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function) and func.attrs and func.attrs.get("Codegen") == "tensorrt":
            ops = []
            relax.analysis.post_order_visit(
                func, lambda e: ops.append(e.op.name) if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op)
                else None)
            found[str(func.attrs["global_symbol"])] = ops
    return found


def main_ops(mod: tvm.IRModule) -> list:
    ops = []
    relax.analysis.post_order_visit(
        mod["main"], lambda e: ops.append(e.op.name) if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op)
        else None)
    return ops
