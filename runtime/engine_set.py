"""Which engine serves a call, and where its plan comes from: memory, the prebuilt plans in the
library, the on-disk cache, or the builder (in that order).

Static subgraphs have one engine. A subgraph with symbolic dimensions (a dynamic batch, a
sequence length) has shape variables, and an engine's optimization profile gives each a range
(min, opt, max). With multi_engine=False (default) one engine serves every call: each
variable's range is the one the partition config gives it (`dim_ranges`, CLI `--dim
seq=16:128:512`), or else 1..the largest value seen; a call outside the range rebuilds the engine
with the range stretched to cover it. True keeps one engine per combination of values seen.

Plans are kept per (EngineOptions, EngineSpec): the options come with each lookup (a library's
binding resolved them once, executor.py), so two libraries that share a subgraph but were loaded
with different precisions each get their own engine.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import logging
import threading
from dataclasses import dataclass
from typing import Optional

from tvm_tensorrt.common import __version__
import tvm_tensorrt.converters as converters_package
from tvm_tensorrt.converters import get_converter
from tvm_tensorrt.errors import ConversionError
from tvm_tensorrt.formats import dims
from tvm_tensorrt.backend import Backend, find_backend
from .cache import engine_key, open_cache
from .plan_builder import build_plan
from .options import EngineOptions

logger = logging.getLogger("tvm_tensorrt")

# Engines are built for the builder's default target; a plan that does not fit the GPU it meets
# is rebuilt there (see gpu.py). Kept in the key so a later per-GPU target changes keys.
ENGINE_TARGET = "builder-default"


@dataclass(frozen=True)
class EngineSpec:
    """The shapes an engine accepts: None for static subgraphs, else each shape variable's range,
    as ((name, min, opt, max), ...) sorted by name."""

    ranges: Optional[tuple] = None

    def covers(self, values: Optional[dict]) -> bool:
        return self.ranges is None or (values is not None and
                                       all(lo <= values[name] <= hi for name, lo, _, hi in self.ranges))

    def as_list(self) -> Optional[list]:
        return [list(r) for r in self.ranges] if self.ranges else None


def is_dynamic(subgraph) -> bool:
    return any(-1 in d["shape"] for d in subgraph.inputs)


def batch_variables(subgraph) -> set:
    """Shape variables some input has as its dim 0 (the batch, in the usual reading)."""
    return {d["dims"][0] for d in subgraph.inputs if d.get("dims") and isinstance(d["dims"][0], str)}


def _file_digest(path: str) -> str:
    """sha256 of a source file, read again whenever it changes on disk (size or mtime)."""
    stat = os.stat(path)
    return _file_digest_at(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _file_digest_at(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _module_digest(module_name: str) -> str:
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    return _file_digest(path) if path and os.path.exists(path) else f"no source: {module_name}"


def converter_identity(cls) -> str:
    """A converter class by name and by the source of every module its class hierarchy is defined
    in (whole files: classes made with type(...) and inherited convert methods are covered), so
    editing a converter, or a plugin's base class, never reuses engines built by the old code."""
    modules = sorted({c.__module__ for c in cls.__mro__ if c is not object})
    digest = hashlib.sha256("".join(f"{m}:{_module_digest(m)};" for m in modules).encode()).hexdigest()
    return f"{cls.__module__}.{cls.__qualname__}:{digest[:16]}"


def network_builder_identity() -> str:
    """The code every network is built with besides the converters themselves: the converters
    package (network builder, fusion, helpers, the built-in converters) and the dims format."""
    folder = os.path.dirname(converters_package.__file__)
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".py")) + [dims.__file__]
    return hashlib.sha256("".join(f"{os.path.basename(f)}:{_file_digest(f)};" for f in files).encode()).hexdigest()[:16]


def converters_in_use(subgraph) -> dict:
    found = {}
    for node in subgraph.nodes:
        converter = get_converter(node["op"])
        found[node["op"]] = converter_identity(type(converter)) if converter is not None else None
    return found


def key_fields(subgraph, spec: EngineSpec, options: EngineOptions, backend: Backend) -> dict:
    return {"network": subgraph.network_digest, "converters": converters_in_use(subgraph),
            "network_builder": network_builder_identity(),
            "tvm_tensorrt": __version__, "inputs": [d["shape"] for d in subgraph.inputs],
            "ranges": spec.as_list(), **options.builder_settings(), "backend": backend.describe(),
            "target": ENGINE_TARGET, **_no_fuse(subgraph)}


def _no_fuse(subgraph) -> dict:
    """Patterns turned off build another network from the same subgraph (converters/patterns.py)."""
    off = subgraph.config.get("no_fuse")
    return {"no_fuse": sorted(off)} if off else {}


def _io(descs) -> list:
    return [{"name": d["name"], "shape": d["shape"], "dtype": d["dtype"]} for d in descs]


def plan_meta(subgraph, spec: EngineSpec, options: EngineOptions, backend: Backend) -> dict:
    return {"symbol": subgraph.symbol, "inputs": _io(subgraph.inputs), "outputs": _io(subgraph.outputs),
            **options.builder_settings(),
            "backend": backend.name, "backend_version": backend.library_version,
            "tensorrt_api_version": list(backend.api_version), "target": ENGINE_TARGET,
            "ranges": spec.as_list(),
            "network_digest": subgraph.network_digest, "tvm_tensorrt_version": __version__}


class EngineSet:
    """The plans of one subgraph in this process (thread-safe)."""

    def __init__(self, subgraph, prebuilt: Optional[dict] = None):
        self.subgraph = subgraph
        self.prebuilt: dict = {}  # key -> (plan bytes, ranges) embedded at compile time
        self.plans: dict = {}  # (EngineOptions, EngineSpec) -> (key, plan)
        self.builds = 0  # engines built by this process (tests and benchmarks read it)
        self.generation = 0  # changes whenever a plan is added or replaced: callers' decisions expire
        self.dynamic = is_dynamic(subgraph)
        self.lock = threading.Lock()
        self.add_prebuilt(prebuilt or {})

    def add_prebuilt(self, plans: dict) -> None:
        """Plans from a library; keys are content-addressed, so plans of several libraries merge."""
        with self.lock:
            self.prebuilt.update(plans)

    def values_of(self, shapes) -> Optional[dict]:
        """The call's shape variables, {name: value} (None for static subgraphs); raises when an
        input's shape does not fit its dims."""
        if not self.dynamic:
            return None
        return dims.bind(self.subgraph.inputs, shapes, self.symbol)

    @property
    def symbol(self) -> str:
        return self.subgraph.symbol

    def spec_for(self, values: Optional[dict], options: EngineOptions) -> EngineSpec:
        if not self.dynamic or values is None:
            return EngineSpec()
        if options.multi_engine:
            return EngineSpec(tuple((name, v, v, v) for name, v in sorted(values.items())))
        configured = self.subgraph.config.get("dim_ranges") or {}
        known = [s.ranges for o, s in self.plans if o == options] + [r for _, r in self.prebuilt.values() if r]
        batch = batch_variables(self.subgraph)
        ranges = []
        for name, value in sorted(values.items()):
            built = [(lo, opt, hi) for r in known for n, lo, opt, hi in r if n == name]
            seen = [(lo, hi) for lo, _, hi in built]
            if name in configured:
                lo, opt, hi = configured[name]
                stretched = (name, min(lo, value), opt, max([hi, value] + [h for _, h in seen]))
                if not lo <= value <= hi and stretched[1:] not in built:
                    logger.warning("%s: %s=%d is outside its range %d..%d (dim_ranges, CLI --dim): its engine is "
                                   "built again to cover %d..%d", self.symbol, name, value, lo, hi, stretched[1],
                                   stretched[3])
                ranges.append(stretched)
                continue
            top = max([h for _, h in seen] + [value])  # a prebuilt 1..8 engine serves 4
            # A batch of 1 is always valid; a height or a length of 1 may not be (BEiT's grid of
            # `height // 8 * 2 - 1` is negative there, and no engine builds): from the smallest seen.
            bottom = 1 if name in batch else min([lo for lo, _ in seen] + [value])
            ranges.append((name, bottom, top, top))
        return EngineSpec(tuple(ranges))

    def plan_for(self, values: Optional[dict], backend: Backend, options: Optional[EngineOptions] = None) -> tuple:
        """(spec, key, plan) for a call with these shape variables, building or loading if needed.
        options: None resolves them from the subgraph's config and the environment now (callers
        outside the runtime's call path: tests, prebuild)."""
        options = options if options is not None else EngineOptions.resolve(self.subgraph.config)
        with self.lock:
            spec = self.spec_for(values, options)
            if (options, spec) not in self.plans:
                key = engine_key(key_fields(self.subgraph, spec, options, backend))
                self.plans[(options, spec)] = (key, self._obtain(spec, key, options, backend))
                self.generation += 1
                if self.dynamic and not options.multi_engine:  # the new engine covers the smaller ones
                    for old in [k for k in self.plans if k[0] == options and k[1] != spec]:
                        del self.plans[old]
            key, plan = self.plans[(options, spec)]
            return spec, key, plan

    def rebuild(self, spec: EngineSpec, key: str, backend: Backend, options: EngineOptions) -> bytes:
        """Build `spec` afresh (its plan did not fit this GPU or TensorRT) and replace the cache entry."""
        with self.lock:
            plan = self._build(spec, options, backend)
            cache = open_cache(options.cache_dir, options.cache_dir_from)
            if cache is not None:
                cache.store(key, plan, plan_meta(self.subgraph, spec, options, backend))
            if (options, spec) in self.plans:
                self.plans[(options, spec)] = (key, plan)
            self.generation += 1
            return plan

    def current_keys(self) -> set:
        with self.lock:
            return {key for key, _ in self.plans.values()}

    def _obtain(self, spec, key, options, backend) -> bytes:
        if key in self.prebuilt:
            logger.info("Loading prebuilt TensorRT engine for subgraph %s", self.symbol)
            return self.prebuilt[key][0]
        if self.prebuilt:
            logger.warning("The prebuilt engines of subgraph %s were built for other settings or another TensorRT "
                           "(now: %s, %s); building one here", self.symbol, backend.describe(), options.precision)
        cache = open_cache(options.cache_dir, options.cache_dir_from)
        if cache is not None:
            plan = cache.load(key)
            if plan is not None:
                logger.info("Loading cached TensorRT engine from %s", cache.plan_path(key))
                return plan
            with cache.lock(key):
                plan = cache.load(key)  # another process may have built it while we waited
                if plan is not None:
                    logger.info("Loading cached TensorRT engine from %s", cache.plan_path(key))
                    return plan
                stats: dict = {}
                plan = self._build(spec, options, backend, stats)
                cache.store(key, plan, {**plan_meta(self.subgraph, spec, options, backend), **stats})
                return plan
        return self._build(spec, options, backend)

    def _build(self, spec, options, backend, stats: Optional[dict] = None) -> bytes:
        logger.info("Building new TensorRT engine for subgraph %s", self.symbol)
        stats = {} if stats is None else stats
        plan = build_plan(self.subgraph, options.max_workspace_size, backend, options.precision, spec.ranges,
                          options, stats)
        self.builds += 1
        logger.info("Finished building TensorRT engine for subgraph %s", self.symbol)  # the contract's words
        logger.info("TensorRT engine of subgraph %s: %d layers, built in %.1f s", self.symbol, stats["layers"],
                    stats["build_seconds"])
        return plan


def prebuild(subgraph, max_batch: int = 1, options: Optional[EngineOptions] = None) -> dict:
    """{key: (plan, ranges)} built now (ahead of time, on a CPU if need be) with `options` (None:
    those the subgraph's config and the environment give now). Shape variables get their
    configured range; a batch variable (dim 0) without one gets 1..max_batch; any other
    variable needs a configured range."""
    backend = find_backend()
    if backend is None:
        return {}
    engines = EngineSet(subgraph)
    values = None
    if engines.dynamic:
        configured = subgraph.config.get("dim_ranges") or {}
        batch = batch_variables(subgraph)
        values = {}
        for name in sorted(set().union(*(dims.variables(d) for desc in subgraph.inputs
                                         for d in dims.dims_of(desc)))):
            if name in configured:
                values[name] = configured[name][2]
            elif name in batch:
                values[name] = max_batch
            else:
                raise ConversionError(f"cannot prebuild an engine without a range for shape variable {name}: give "
                                      f"one, e.g. dim_ranges={{'{name}': (1, 64, 256)}} (CLI: --dim {name}=1:64:256)",
                                      symbol=subgraph.symbol)
    spec, key, plan = engines.plan_for(values, backend, options)
    return {key: (plan, spec.ranges)}
