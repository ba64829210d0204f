"""The packed functions an exported library calls, registered when tvm_tensorrt is imported.

For each offloaded call, `main` first calls `tvm_tensorrt.prepare(blob, plans, *inputs, *weights)`: it
makes sure an engine for these input shapes exists (from memory, prebuilt plans, the cache, or
the builder, logging the contract's messages), then answers whether it can execute on the
inputs' device. If yes, `tvm_tensorrt.execute` runs it; if not (no CUDA device, as on every
machine we test on), `main` runs TVM's compiled copy of the subgraph.

Libraries from TVM's own flow (RunCodegen, lowering/codegen.py) call `tvm_tensorrt.run_embedded`
instead, with the blob's address and size, the inputs and the outputs. They carry no TVM copy
of the subgraph, so where no engine can run (no CUDA device) the network the engine was built
from is evaluated on the CPU by the evaluator (runtime/evaluator): correct, slow, and said once in the log.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import threading
from typing import Optional

import numpy as np
import tvm

from tvm_tensorrt.backend import find_backend
from tvm_tensorrt.collector_safe_lock import CollectorSafeLock
from tvm_tensorrt.errors import TensorRTError
from tvm_tensorrt.formats.abi import EXECUTE, NO_ENGINE, PREPARE, PREPARE_GPU_ONLY, RUN_EMBEDDED
from tvm_tensorrt.formats.plans import decode_plans
from tvm_tensorrt.formats.subgraph import decode, decode_header, read_digest
from . import gpu
from .engine_set import EngineSet
from .options import EngineOptions, Request

logger = logging.getLogger("tvm_tensorrt")



class SubgraphRuntime:
    """One per distinct subgraph in the process: its engines and, on GPUs, their contexts."""

    def __init__(self, subgraph, prebuilt: dict, embedded: bool = False):
        self.subgraph = subgraph
        self.embedded = embedded  # a RunCodegen library's: its address says nothing of its lifetime, so kept
        self.engines = EngineSet(subgraph, prebuilt)
        self.cuda_engines: dict = {}  # (device index, key) -> gpu.CudaEngine, or None: does not fit
        self.rebuilt: set = set()  # (device index, key) rebuilt here once already
        self.lock = threading.Lock()
        self.warned = False
        self.cpu_networks: dict = {}  # precision -> (builder, network build, logger) for the CPU evaluator
        # A RunCodegen library's calls come with no binding: the options of the LoadedModel calling
        # (caller_request), else those in force at its first call
        self.embedded_options = Request.capture().options_for(subgraph.config) if embedded else None
        self.requested_options: dict = {}  # Request -> EngineOptions, for RunCodegen libraries' callers

    @property
    def symbol(self) -> str:
        return self.subgraph.symbol

    @property
    def passed_weights(self) -> int:
        """How many weight tensors each call passes after the inputs (a weights_external blob's)."""
        return len(self.subgraph.weights) if self.subgraph.header.get("weights_external") else 0

    def values_of(self, inputs):
        return self.engines.values_of([t.shape for t in inputs])

    def engine_for(self, inputs, options: EngineOptions, fallback: Optional[str] = "through TVM on the CPU"):
        """The CUDA engine that runs a call with these inputs and options, or None (the caller
        falls back). Builds or loads the plan first, so conversion is checked even where no
        engine can run. fallback: where the call then runs, said once; None: a library without a
        fallback, whose caller raises (the log must not promise a run that will not happen)."""
        backend = find_backend()
        if backend is None:
            self._warn_once(fallback, "No TensorRT backend is installed: subgraph %s runs %s", self.symbol, fallback)
            return None
        spec, key, plan = self.engines.plan_for(self.values_of(inputs), backend, options)
        if not inputs or not all(gpu.is_cuda(t) for t in inputs):
            self._warn_once(fallback, "No CUDA device holds the inputs of %s: it runs %s (its TensorRT engine was "
                            "built and checked)", self.symbol, fallback)
            return None
        device = inputs[0].device.index
        engine = self.cuda_engine(device, key, plan, backend)
        if engine is not None:
            return engine
        with self.lock:
            first_failure = (device, key) not in self.rebuilt
            self.rebuilt.add((device, key))
        if first_failure:  # made for another GPU or TensorRT: rebuild here, once
            logger.warning("Rebuilding the TensorRT engine of %s for CUDA device %d", self.symbol, device)
            with gpu.cuda_device(device):
                plan = self.engines.rebuild(spec, key, backend, options)
            with self.lock:
                self.cuda_engines.pop((device, key), None)
            return self.cuda_engine(device, key, plan, backend)
        self._warn_once(fallback, "The TensorRT engine of %s cannot run on CUDA device %d: it runs through TVM",
                        self.symbol, device)
        return None

    def cuda_engine(self, device_index, key, plan, backend):
        """The deserialized engine, or None when the plan does not fit this device (remembered).
        Engines the EngineSet no longer keeps (a larger batch replaced them) are released."""
        live = self.engines.current_keys()
        with self.lock:
            for stale in [k for k in self.cuda_engines if k[1] not in live]:
                del self.cuda_engines[stale]
            if (device_index, key) not in self.cuda_engines:
                self.cuda_engines[(device_index, key)] = gpu.load_engine(backend.trt, plan, device_index, self.symbol)
            return self.cuda_engines[(device_index, key)]

    def execute(self, engine, args) -> None:
        n_in = len(self.subgraph.inputs)
        inputs, outputs = args[:n_in], args[n_in + self.passed_weights:]
        if engine is None:
            raise gpu.GpuExecutionError(f"no TensorRT engine of {self.symbol} runs on this device")
        engine.run(self.input_names, inputs, self.output_names, outputs)

    @functools.cached_property
    def input_names(self) -> list:
        return [d["name"] for d in self.subgraph.inputs]

    @functools.cached_property
    def output_names(self) -> list:
        return [d["name"] for d in self.subgraph.outputs]

    def run(self, args, request: Optional[Request] = None) -> None:
        """One call of a RunCodegen library: the engine where it can run, else the CPU evaluator.
        request: what the LoadedModel making the call asked for (None: a plain TVM caller)."""
        inputs, outputs = args[:len(self.subgraph.inputs)], args[len(self.subgraph.inputs):]
        if request is None:
            options = self.embedded_options
        else:
            options = self.requested_options.get(request)
            if options is None:
                options = self.requested_options[request] = request.options_for(self.subgraph.config)
        assert options is not None, "run() serves the runtimes of RunCodegen libraries (embedded_runtime)"
        engine = self.engine_for(inputs, options, fallback="on the CPU evaluator (slow: for checking, not for deployment)")
        if engine is not None:
            self.execute(engine, args)
            return
        for tensor, value in zip(outputs, self.evaluate_on_cpu(inputs, options.precision)):
            tensor.copyfrom(np.asarray(value, order="C"))

    def evaluate_on_cpu(self, inputs, precision: str) -> list:
        from .evaluator import evaluate_network  # only this fallback needs it
        from .plan_builder import build_network

        backend = find_backend()
        if backend is None:
            raise TensorRTError(f"subgraph {self.symbol} of a RunCodegen library needs TensorRT (or TensorRT-RTX) to "
                                "run: the library carries no TVM copy of it (build with tvm_tensorrt.build for one)")
        with self.lock:
            if precision not in self.cpu_networks:
                self.cpu_networks[precision] = build_network(self.subgraph, backend, precision)
            built = self.cpu_networks[precision][1]
        feeds = {d["name"]: _host_bytes(t) for d, t in zip(self.subgraph.inputs, inputs)}
        results = evaluate_network(built.network, backend.trt, feeds, weights=built.weights)  # BF16 weights too
        return [results[d["name"]] for d in self.subgraph.outputs]

    def _warn_once(self, fallback, message, *args):
        if fallback is not None and not self.warned:
            logger.warning(message, *args)
            self.warned = True


_RUNTIMES: dict[str, SubgraphRuntime] = {}


def _release_closed(blobs) -> None:
    """A closed library's blob constants (the lock held): their bindings, and engines no other uses."""
    for blob in blobs:
        _REQUESTS.pop(blob.__chandle__(), None)
    _release([blob.__chandle__() for blob in blobs if blob.__chandle__() in _BOUND])


_RUNTIMES_LOCK = CollectorSafeLock(_release_closed)  # guards _RUNTIMES, _BOUND and _REQUESTS
_runtimes_locked = _RUNTIMES_LOCK.held


def _host_bytes(tensor) -> np.ndarray:
    if tensor.device.dlpack_device_type() == 1:  # kDLCPU: zero-copy view
        return np.from_dlpack(tensor)
    return tensor.numpy()


class _Binding:
    """A library's blob constant, bound to its subgraph's runtime and to the engine options its
    library was loaded with (resolved once, here), with what each kind of call was told:
    (device, shapes) -> the CUDA engine that runs it, or None (TVM's copy runs).

    The binding holds the one extra reference to the blob constant, and the runtime keeps no view
    of it (it decodes a copy: a dispatch blob has no weights, so it is small). The constant's
    object handle therefore identifies its library for as long as the binding lives, and the
    reference count falling back to ours says the library is gone (`release_unloaded`)."""

    __slots__ = ("blob", "runtime", "options", "n_inputs", "decided", "generation")

    def __init__(self, blob, runtime: SubgraphRuntime, options: EngineOptions):
        self.blob, self.runtime, self.options = blob, runtime, options
        self.n_inputs = len(runtime.subgraph.inputs)
        self.decided: dict = {}
        self.generation = runtime.engines.generation

    def call_key(self, inputs) -> tuple:
        device = inputs[0].device if inputs else None
        where = (device.dlpack_device_type(), device.index) if device is not None else None
        if not self.runtime.engines.dynamic:
            return where,
        return where, tuple(tuple(t.shape) for t in inputs)

    def engine_for(self, inputs, fallback: Optional[str] = "through TVM on the CPU"):
        """The CUDA engine for this call, or None: one dict lookup once the kind of call is known.
        fallback: SubgraphRuntime.engine_for's."""
        key = self.call_key(inputs)
        if self.generation != self.runtime.engines.generation:  # a wider engine replaced the old ones
            self.decided.clear()
            self.generation = self.runtime.engines.generation
        try:
            return self.decided[key]
        except KeyError:
            pass
        engine = self.runtime.engine_for(inputs, self.options, fallback)
        if len(self.decided) >= _MAX_DECISIONS:  # many distinct dynamic shapes: forget, never grow
            self.decided.clear()
        self.decided[key] = engine
        self.generation = self.runtime.engines.generation
        return engine


_MAX_DECISIONS = 256
_BOUND: dict[int, _Binding] = {}  # object handle of a blob constant -> its binding
# object handle of a blob constant -> the options its LoadedModel asked for (load's arguments and
# the environment then); a blob with none (a library loaded with plain TVM) reads the environment
# when it is bound, at its first call
_REQUESTS: dict[int, Request] = {}


def request_options(blobs, request: Request) -> None:
    """Engines for these blob constants (one VM's) use `request`; any binding made before goes."""
    with _runtimes_locked():
        for blob in blobs:
            handle = blob.__chandle__()
            _REQUESTS[handle] = request
            bound = _BOUND.get(handle)
            if bound is not None:  # a VM of another thread shares the constant: keep its runtime and engines
                config = bound.runtime.subgraph.config
                _BOUND[handle] = _Binding(blob, bound.runtime, request.options_for(config))


def _strong_references(obj) -> int:
    """How many strong references a TVM FFI object has: the low 32 bits of the reference count
    that leads every object (tvm/ffi/c_api.h, TVMFFIObject.combined_ref_count)."""
    return ctypes.c_uint64.from_address(obj.__chandle__()).value & 0xFFFFFFFF


def release_unloaded() -> int:
    """Drop the engines and weights of every library whose blob constants are gone (only our
    binding still references the blob: a VM that held device copies of the constants was freed);
    returns how many subgraph bindings were released. Runs when a library is first called."""
    with _runtimes_locked():
        return _release([handle for handle, bound in list(_BOUND.items())
                         if _strong_references(bound.blob) == 1])


def release_blobs(blobs, wait: bool = True) -> None:
    """Drop the bindings of these blob constants, and the engines no other binding uses: a
    library being closed (LoadedModel.close). TVM 0.27 itself keeps a loaded library, and so its
    constants, until the process ends, so this is how its engines and our weight views go.
    `wait=False`: the garbage collector closing a model (collector_safe_lock.py)."""
    _RUNTIMES_LOCK.put(list(blobs), wait)


def _release(handles) -> int:
    if not handles:
        return 0
    for handle in handles:
        _BOUND.pop(handle, None)  # a library closed twice (close(), then the collector) lists it twice
        _REQUESTS.pop(handle, None)  # the handle may name another object later
    live = {id(bound.runtime) for bound in _BOUND.values()}
    for digest in [d for d, r in _RUNTIMES.items() if id(r) not in live and not r.embedded]:
        del _RUNTIMES[digest]
    return len(handles)


def binding_for(blob, plans, args) -> _Binding:
    """The binding of this blob constant; `args` are the call's arguments after the plans (inputs,
    the weights of a weights_external blob, outputs). After a library's first call, one lookup."""
    bound = _BOUND.get(blob.__chandle__())
    if bound is not None:
        return bound
    release_unloaded()
    data = _host_bytes(blob).copy()  # small (no weights): the runtime must not keep the blob alive
    digest = read_digest(data)
    prebuilt = decode_plans(_host_bytes(plans))
    with _runtimes_locked():
        request = _REQUESTS.get(blob.__chandle__())
    request = request if request is not None else Request.capture()  # plain TVM's load: the edge is now
    with _runtimes_locked():
        runtime = _RUNTIMES.get(digest)
        if runtime is None:
            runtime = _RUNTIMES[digest] = SubgraphRuntime(_decode_with_weights(data, args), prebuilt)
        else:  # the same subgraph in another library: its prebuilt plans count too
            runtime.engines.add_prebuilt(prebuilt)
        options = request.options_for(runtime.subgraph.config)  # the digest covers the config: it is this blob's
        bound = _BOUND[blob.__chandle__()] = _Binding(blob, runtime, options)
        return bound


def runtime_for(blob, plans, args) -> SubgraphRuntime:
    return binding_for(blob, plans, args).runtime


def _decode_with_weights(data, args):
    header = decode_header(data)
    if not header.get("weights_external"):
        return decode(data)
    n_in = len(header["inputs"])
    return decode(data, weights=[_host_bytes(t) for t in args[n_in:n_in + len(header["weights"])]])


def embedded_runtime(address: int, size: int) -> SubgraphRuntime:
    """The runtime of a blob a RunCodegen library holds in its read-only data. Its digest is read
    on every call (48 bytes), so an address another library reuses after an unload can never
    reach a stale runtime; the first call copies the blob, which must outlive the library."""
    view = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(address))
    digest = read_digest(view)
    with _runtimes_locked():
        runtime = _RUNTIMES.get(digest)
        if runtime is None:
            runtime = _RUNTIMES[digest] = SubgraphRuntime(decode(view.copy()), {}, embedded=True)
        return runtime


_CALLER = threading.local()  # .request: the Request of the LoadedModel running a RunCodegen library here


@contextlib.contextmanager
def caller_request(request: Request):
    """Calls of RunCodegen libraries on this thread, inside, come from a model loaded with `request`
    (their blobs are not constants a LoadedModel can bind: they sit in the library's data)."""
    previous = getattr(_CALLER, "request", None)
    _CALLER.request = request
    try:
        yield
    finally:
        _CALLER.request = previous


def _run_embedded(address, size, *args):
    embedded_runtime(int(address), int(size)).run(args, getattr(_CALLER, "request", None))


_ANSWERS: dict = {}  # True / False -> the one tensor `prepare` answers with (never one per call)


def _answer(ready: bool):
    if ready not in _ANSWERS:
        _ANSWERS[ready] = tvm.runtime.tensor(np.array(ready))
    return _ANSWERS[ready]


def _prepare(blob, plans, *args):
    bound = binding_for(blob, plans, args)
    return _answer(bound.engine_for(args[:bound.n_inputs]) is not None)


def _prepare_gpu_only(blob, plans, *args):
    """prepare in a library built with cpu_fallback=False: no fallback to announce."""
    bound = binding_for(blob, plans, args)
    return _answer(bound.engine_for(args[:bound.n_inputs], fallback=None) is not None)


def _execute(blob, plans, *args):
    bound = binding_for(blob, plans, args)
    bound.runtime.execute(bound.engine_for(args[:bound.n_inputs]), args)


def _no_engine(blob, plans, *args):
    """The else-branch of a library built with cpu_fallback=False."""
    symbol = runtime_for(blob, plans, args).symbol
    raise TensorRTError(f"subgraph {symbol} has no TensorRT engine that runs on this device, and the library was "
                        "built with cpu_fallback=False; run it on a supported NVIDIA GPU, or rebuild with "
                        "cpu_fallback=True to run such subgraphs through TVM")


def forget_runtimes() -> None:
    """Drop every engine this process holds (tests use it to act like a fresh process). Loaded
    models keep the options they asked for (_REQUESTS): their next call binds with them again."""
    with _runtimes_locked():
        _RUNTIMES.clear()
        _BOUND.clear()


tvm.register_global_func(PREPARE, _prepare, override=True)
tvm.register_global_func(PREPARE_GPU_ONLY, _prepare_gpu_only, override=True)
tvm.register_global_func(EXECUTE, _execute, override=True)
tvm.register_global_func(NO_ENGINE, _no_engine, override=True)
tvm.register_global_func(RUN_EMBEDDED, _run_embedded, override=True)
