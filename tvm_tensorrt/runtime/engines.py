"""Which engine serves a call, and where its plan comes from: memory, the prebuilt plans in the
library, the on-disk cache, or the builder (in that order).

Static subgraphs have one engine. With a dynamic batch dimension, TVM_TENSORRT_MULTI_ENGINE=0
(default) keeps one engine whose profile covers batches 1..largest seen and rebuilds it only when
a larger batch arrives; =1 keeps one fixed-batch engine per batch size seen.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import threading
from dataclasses import dataclass
from typing import Optional

from .. import __version__
from ..converters import get_converter
from ..errors import ConversionError
from .backend import Backend, find_backend
from .cache import engine_key, open_cache
from .engine import build_plan
from .options import EngineOptions, engine_options

logger = logging.getLogger("tvm_tensorrt")

# Engines are built for the builder's default target; a plan that does not fit the GPU it meets
# is rebuilt there (see gpu.py). Kept in the key so a later per-GPU target changes keys.
ENGINE_TARGET = "builder-default"


@dataclass(frozen=True)
class EngineSpec:
    """The shapes an engine accepts: None for static subgraphs, else its batch (min, opt, max)."""

    batch_range: Optional[tuple] = None

    def covers(self, batch: Optional[int]) -> bool:
        return self.batch_range is None or self.batch_range[0] <= batch <= self.batch_range[2]


def is_dynamic(subgraph) -> bool:
    return any(d["shape"] and d["shape"][0] == -1 for d in subgraph.inputs)


@functools.lru_cache(maxsize=None)
def _converter_identity(cls) -> str:
    """A converter class by name and source, so overriding one never reuses its old engines."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # defined where no source is kept (e.g. interactively)
        source = repr(cls)
    return f"{cls.__module__}.{cls.__qualname__}:{hashlib.sha256(source.encode()).hexdigest()[:16]}"


def converters_in_use(subgraph) -> dict:
    found = {}
    for node in subgraph.nodes:
        converter = get_converter(node["op"])
        found[node["op"]] = _converter_identity(type(converter)) if converter is not None else None
    return found


def key_fields(subgraph, spec: EngineSpec, options: EngineOptions, backend: Backend) -> dict:
    return {"network": subgraph.network_digest, "converters": converters_in_use(subgraph),
            "tvm_tensorrt": __version__, "inputs": [d["shape"] for d in subgraph.inputs],
            "batch_range": list(spec.batch_range) if spec.batch_range else None, "precision": options.precision,
            "workspace": options.max_workspace_size, "backend": backend.describe(), "target": ENGINE_TARGET}


def _io(descs) -> list:
    return [{"name": d["name"], "shape": d["shape"], "dtype": d["dtype"]} for d in descs]


def plan_meta(subgraph, spec: EngineSpec, options: EngineOptions, backend: Backend) -> dict:
    return {"symbol": subgraph.symbol, "inputs": _io(subgraph.inputs), "outputs": _io(subgraph.outputs),
            "precision": options.precision, "max_workspace_size": options.max_workspace_size,
            "backend": backend.name, "backend_version": backend.library_version,
            "tensorrt_api_version": list(backend.api_version), "target": ENGINE_TARGET,
            "batch_range": list(spec.batch_range) if spec.batch_range else None,
            "network_digest": subgraph.network_digest, "tvm_tensorrt_version": __version__}


class EngineSet:
    """The plans of one subgraph in this process (thread-safe)."""

    def __init__(self, subgraph, prebuilt: Optional[dict] = None):
        self.subgraph = subgraph
        self.prebuilt: dict = {}  # key -> (plan bytes, batch range) embedded at compile time
        self.plans: dict = {}  # EngineSpec -> (key, plan)
        self.builds = 0  # engines built by this process (tests and benchmarks read it)
        self.dynamic = is_dynamic(subgraph)
        self.lock = threading.Lock()
        self.add_prebuilt(prebuilt or {})

    def add_prebuilt(self, plans: dict) -> None:
        """Plans from a library; keys are content-addressed, so plans of several libraries merge."""
        with self.lock:
            self.prebuilt.update(plans)

    def batch_of(self, shapes) -> Optional[int]:
        """The call's batch size (None when static); every dynamic input must agree on it."""
        if not self.dynamic:
            return None
        batches = {int(shape[0]) for desc, shape in zip(self.subgraph.inputs, shapes) if desc["shape"][0] == -1}
        if len(batches) != 1:
            raise ConversionError(f"the dynamic-batch inputs disagree on the batch size: {sorted(batches)}",
                                  symbol=self.symbol)
        return batches.pop()

    @property
    def symbol(self) -> str:
        return self.subgraph.symbol

    def spec_for(self, batch: Optional[int], options: EngineOptions) -> EngineSpec:
        if not self.dynamic:
            return EngineSpec()
        if options.multi_engine:
            return EngineSpec((batch, batch, batch))
        ranges = [s.batch_range for s in self.plans] + [r for _, r in self.prebuilt.values() if r]
        top = max([r[2] for r in ranges if r[0] == 1] + [batch])  # a prebuilt 1..8 engine serves batch 4
        return EngineSpec((1, top, top))

    def plan_for(self, batch: Optional[int], backend: Backend) -> tuple:
        """(spec, key, plan) for a call with this batch size, building or loading if needed."""
        options = engine_options(self.subgraph.config)
        with self.lock:
            spec = self.spec_for(batch, options)
            if spec not in self.plans:
                key = engine_key(key_fields(self.subgraph, spec, options, backend))
                self.plans[spec] = (key, self._obtain(spec, key, options, backend))
                if self.dynamic and not options.multi_engine:  # the new engine covers the smaller ones
                    for old in [s for s in self.plans if s != spec]:
                        del self.plans[old]
            key, plan = self.plans[spec]
            return spec, key, plan

    def rebuild(self, spec: EngineSpec, key: str, backend: Backend) -> bytes:
        """Build `spec` afresh (its plan did not fit this GPU or TensorRT) and replace the cache entry."""
        options = engine_options(self.subgraph.config)
        with self.lock:
            plan = self._build(spec, options, backend)
            cache = open_cache(options.cache_dir)
            if cache is not None:
                cache.store(key, plan, plan_meta(self.subgraph, spec, options, backend))
            if spec in self.plans:
                self.plans[spec] = (key, plan)
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
        cache = open_cache(options.cache_dir)
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
                plan = self._build(spec, options, backend)
                cache.store(key, plan, plan_meta(self.subgraph, spec, options, backend))
                return plan
        return self._build(spec, options, backend)

    def _build(self, spec, options, backend) -> bytes:
        logger.info("Building new TensorRT engine for subgraph %s", self.symbol)
        plan = build_plan(self.subgraph, options.max_workspace_size, backend, options.precision, spec.batch_range)
        self.builds += 1
        logger.info("Finished building TensorRT engine for subgraph %s", self.symbol)
        return plan


def prebuild(subgraph, max_batch: int = 1) -> dict:
    """{key: (plan, batch range)} built now (ahead of time, on a CPU if need be) for the
    settings in force."""
    backend = find_backend()
    if backend is None:
        return {}
    engines = EngineSet(subgraph)
    spec, key, plan = engines.plan_for(max_batch if engines.dynamic else None, backend)
    return {key: (plan, spec.batch_range)}
