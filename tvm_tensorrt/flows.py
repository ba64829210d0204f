"""TVM's own compile flows with TensorRT: the steps as `tvm.transform` passes, and a
`relax_pipeline` for `tvm.compile`.

Three ways to compile a model (docs/flows.md says which to use when):

* `tvm_tensorrt.build(mod, target, config)`: one call; the library also carries TVM's copy of
  every subgraph, so it runs where no engine can (no GPU).
* `tvm.compile(mod, target, relax_pipeline=tvm_tensorrt.pipeline())`: the same lowering, inside
  TVM's `tvm.compile`, so scripts that compile with TVM keep doing so.
* `relax.transform.RunCodegen()` then `tvm.compile(mod, target)`: TVM's BYOC flow, through
  `relax.ext.tensorrt` (lowering/codegen.py); no TVM copy of the subgraphs.

`tvm.compile` on a partitioned module without any of these compiles the subgraphs with TVM and
nothing reaches TensorRT: TVM 0.27 offers no hook to say so at compile time.
"""

from __future__ import annotations

import tvm
from tvm import relax

from .backend import find_backend
from .errors import BackendUnavailableError
from .library_file import CheckedExecutable, check_embeddable, embedded_bytes
from .lowering.external import EXTERNAL_AUTO_BYTES, externalize
from .lowering.dispatch import config_of, lower_offloaded
from tvm_tensorrt.partition.api import partition_for_tensorrt
from tvm_tensorrt.runtime.engine_set import prebuild
from tvm_tensorrt.runtime.options import library_options
from .targets import make_target


def PartitionForTensorRT(params=None, **options) -> tvm.transform.Pass:  # noqa: N802 (TVM's pass naming)
    """`partition_for_tensorrt` as a module pass (options as there)."""

    @tvm.transform.module_pass(opt_level=0, name="PartitionForTensorRT")
    def partition(mod, ctx):
        return partition_for_tensorrt(mod, params, **options)[0]

    return partition


def LowerToTensorRT(config=None, prebuild_engines: bool = False, prebuild_max_batch: int = 1,  # noqa: N802
                    cpu_fallback: bool = True, **engine_options) -> tvm.transform.Pass:
    """Each offloaded function becomes its serialised subgraph, dispatched to the runtime (and,
    with cpu_fallback, TVM's copy of it), as `build` does. config: the partition config (default:
    the one the functions carry). engine_options: as `build`'s, recorded in every subgraph."""

    library_options({}, **engine_options)  # checked now: a bad option fails before anything compiles
    if prebuild_engines and find_backend() is None:
        raise BackendUnavailableError("prebuild_engines=True needs TensorRT (or TensorRT-RTX) on this machine")
    plans_for = (lambda subgraph: prebuild(subgraph, prebuild_max_batch)) if prebuild_engines else None

    @tvm.transform.module_pass(opt_level=0, name="LowerToTensorRT")
    def lower(mod, ctx):
        chosen = library_options(config if config is not None else config_of(mod), **engine_options)
        return lower_offloaded(mod, chosen, plans_for, cpu_fallback)

    return lower


def build(mod: tvm.IRModule, target="llvm", config: dict | None = None, prebuild_engines: bool = False,
          prebuild_max_batch: int = 1, cpu_fallback: bool = True, external_weights: bool | None = None,
          precision: str | None = None, max_workspace_size: int | None = None,
          builder_optimization_level: int | None = None, max_aux_streams: int | None = None,
          multi_engine: bool | None = None):
    """Compile `mod` (from partition_for_tensorrt) with TVM; returns a relax VM executable whose
    `export_library` writes through a checked temporary file (library_file.py), so a library is
    never left corrupt. A model whose constants TVM cannot embed (EMBED_LIMIT, under 4 GiB) is
    refused with LibraryTooLargeError before any engine is built.

    target: a kind string ("llvm", "cuda", the classic "cuda -arch=sm_87"), TVM's JSON dict, or a
    tvm.target.Target (tvm_tensorrt.targets.make_target adds arch and a cross-compile host).

    precision ("fp32", "fp16", "bf16"), max_workspace_size (bytes; default: the config's),
    builder_optimization_level (0-5), max_aux_streams, multi_engine: engine options, recorded in
    the library as its defaults (load's arguments override them; None: the TVM_TENSORRT_*
    variable where the library runs). docs/runtime.md has the table.
    prebuild_engines: build every engine now (on a CPU if need be, with these options, the
    TVM_TENSORRT_* variables for the rest) and embed the plans, so the first inference loads
    instead of building.
    Subgraphs with a dynamic batch get one engine for batches 1..prebuild_max_batch.
    cpu_fallback: also compile each subgraph with TVM, so the library runs where no engine can
    (no GPU); it shares the weights with the TensorRT side, so it costs code, not weights. False
    is for GPU-only deployment: a subgraph with no usable engine raises TensorRTError instead of
    running slowly.
    external_weights: write the weights (and prebuilt plans) to `<library>.weights` beside the
    library instead of inside it (weights_file.py): True, False, or None (the default): when they
    pass EXTERNAL_AUTO_BYTES (1 GiB). Such a library has no 4 GiB limit, and neither the compile
    nor the load copies its weights.
    """
    if external_weights is False:
        check_embeddable(mod)  # too large for one library: say so before engines and linking take minutes
    lower = LowerToTensorRT(config, prebuild_engines, prebuild_max_batch, cpu_fallback, precision=precision,
                            max_workspace_size=max_workspace_size,
                            builder_optimization_level=builder_optimization_level,
                            max_aux_streams=max_aux_streams, multi_engine=multi_engine)
    lowered = lower(mod)
    if external_weights is None:
        external_weights = embedded_bytes(lowered) > EXTERNAL_AUTO_BYTES
    weights = None
    if external_weights:
        lowered, weights = externalize(lowered)
    else:
        check_embeddable(lowered)  # prebuilt plans are constants too
    executable = tvm.compile(lowered, target=make_target(target))
    if not isinstance(executable, relax.VMExecutable):
        return executable
    checked = CheckedExecutable(executable.mod)
    checked.external_weights = weights  # export_library writes them beside the library
    return checked


def pipeline(config=None, **lower_options) -> tvm.transform.Pass:
    """A `relax_pipeline` for `tvm.compile`: LowerToTensorRT, then TVM's default pipeline for the
    target `tvm.compile` is building for (chosen as `tvm.compile` chooses it)."""

    @tvm.transform.module_pass(opt_level=0, name="TensorRTPipeline")
    def run(mod, ctx):
        mod = LowerToTensorRT(config, **lower_options)(mod)
        check_embeddable(mod)
        target = tvm.target.Target.current(allow_none=True)
        default = relax.get_default_pipeline(target) if target is not None and "gpu" in target.keys else \
            relax.get_pipeline("default")
        return default(mod)

    return run
