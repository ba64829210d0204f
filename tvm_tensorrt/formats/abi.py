"""The packed functions an exported library calls, by name: the contract between the code a
library was compiled with (lowering/) and the runtime that serves it (runtime/executor.py)."""

PREPARE = "tvm_tensorrt.prepare"  # (blob, plans, *inputs, *weights) -> bool: can TensorRT run this call here?
# prepare's twin in a library built with cpu_fallback=False: no TVM copy to fall back on, so where no
# engine runs it says nothing of a fallback (NO_ENGINE raises next, saying why)
PREPARE_GPU_ONLY = "tvm_tensorrt.prepare_gpu_only"
EXECUTE = "tvm_tensorrt.execute"  # (blob, plans, *inputs, *weights, *outputs): run the engine
NO_ENGINE = "tvm_tensorrt.no_engine"  # the else-branch of a GPU-only library: raise, saying why
RUN_EMBEDDED = "tvm_tensorrt.run_embedded"  # (address, size, *inputs, *outputs): a RunCodegen library's call
# A library's own function (not a packed function): (count, blob, plans, *weights) per subgraph.
SUBGRAPHS_LISTING = "tvm_tensorrt_subgraphs"
