"""One run of the data pipeline: produce each needed node once (load its cache entry or call its transform).

``DataPipeline.run`` (``pipeline.runner``) decides which nodes a run touches; :class:`PipelineRun` produces
them and records what happened (:class:`NodeRun`, :class:`RunReport`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runway_for_ml.errors import RunwayError, TransformError
from runway_for_ml.pipeline.builtin_transforms import ShuffleAndTake
from runway_for_ml.pipeline.config_reads import ConfigReads
from runway_for_ml.pipeline.datatypes import count_rows
from runway_for_ml.pipeline.graph import NodeSpec
from runway_for_ml.pipeline.inspect import inspect_data, write_inspection

log = logging.getLogger(__name__)


@dataclass
class NodeRun:
    """What a run did with one node: ``status`` is "hit", "ran" or "skipped" (a downstream node hit)."""

    node: str
    status: str
    seconds: float = 0.0
    rows: int | dict[str, int] | None = None
    key: str = ""


@dataclass
class RunReport:
    """Outputs of a run (by node id) and what happened to each needed node, in run order."""

    outputs: dict[str, Any]
    nodes: list[NodeRun]
    inspections: dict[str, dict] = field(default_factory=dict)


# A progress callback receives (node id, event, NodeRun | None); events: "start", "hit", "ran".
ProgressCallback = Callable[[str, str, "NodeRun | None"], None]


class PipelineRun:
    """State of one run: results so far (so a shared ancestor runs once) and the report."""

    def __init__(self, pipeline: Any, needed: list[str], forced: dict[str, str]) -> None:
        # pipeline: the runner's DataPipeline (graph, store, keys, seed, dummy, config, progress)
        self.p = pipeline
        self.needed = needed
        self.forced = forced
        self.results: dict[str, Any] = {}
        self.records: dict[str, NodeRun] = {}
        self.inspections: dict[str, dict] = {}

    def produce(self, node_id: str) -> Any:
        if node_id in self.results:
            return self.results[node_id]
        p = self.p
        spec = p.graph.nodes[node_id]
        key = p._key(node_id)
        force = node_id in self.forced
        started = time.perf_counter()
        data, hit = None, False
        if spec.cache and not force and p.store.contains(key):
            try:
                data, hit = p.store.load(key), True
            except KeyError:  # removed (gc) between contains() and load(): compute it
                hit = False
        if not hit:
            # Inputs first, outside the node's lock and timing; a hit above never touches them. Each
            # consumer gets its own copy of each input (see isolated), whatever its siblings do.
            inputs = [isolated(self.produce(upstream)) for upstream in spec.inputs]
            arg = inputs if spec.input_is_list else (inputs[0] if inputs else None)
            started = time.perf_counter()
            if spec.cache:
                data, hit, key = self._compute_cached(spec, arg, force)
            else:
                self._notify(node_id, "start", None)
                reads = ConfigReads(p.config, node_id)
                data = self._call(spec, arg, reads)
                key = p._ran(node_id, reads.values)
                p._remember_reads(p._base_keys[node_id], reads.values)
        record = NodeRun(node_id, "hit" if hit else "ran", time.perf_counter() - started, count_rows(data), key)
        self.records[node_id] = record
        self.results[node_id] = data
        if spec.inspect:
            self._inspect(spec, key, data)
        self._notify(node_id, record.status, record)
        return data

    def _compute_cached(self, spec: NodeSpec, arg: Any, force: bool) -> tuple[Any, bool, str]:
        """Compute a cached node under its lock, save it, and return it as the cache holds it: ``(data, hit, key)``.

        The lock is that of the node's base key (its key without config reads), so processes computing
        the same node wait for each other even before they know which config values it reads; a waiter
        then finds the entry (through the read-set index) and loads it.
        """
        p = self.p
        node_id = spec.id
        base = p._base_keys[node_id]
        with p.store.lock(base, node_id):
            if not force:
                key, values = p._resolve(base, p._components[node_id], fresh=True)
                if p.store.contains(key):
                    try:
                        data = p.store.load(key)
                    except KeyError:
                        pass
                    else:
                        return data, True, p._ran(node_id, values)  # (descendants' keys follow it)
            self._notify(node_id, "start", None)
            reads = ConfigReads(p.config, node_id)
            started = time.perf_counter()
            data = self._call(spec, arg, reads)
            seconds = time.perf_counter() - started
            key = p._ran(node_id, reads.values)
            meta = {
                "node": node_id,
                "transform": spec.transform_name,
                "setup_kwargs": spec.setup_kwargs,
                "input_keys": [p._key(u) for u in spec.inputs],
                "input_nodes": list(spec.inputs),
                "components": p._components[node_id],
                "base_key": base,
                "config_reads": reads.values,
                "pipeline": p.graph.name,
                "seconds": round(seconds, 6),
            }
            entry = p.store.save(key, data, meta)
            p._remember_reads(base, reads.values)
        if entry.meta.get("format") in ("arrow", "pickle"):
            # What the cache holds, exactly as a warm run sees it (memory-mapped Arrow / unpickled).
            return p.store.load(key), False, key
        return data, False, key

    def _call(self, spec: NodeSpec, arg: Any, reads: ConfigReads | None = None) -> Any:
        if self.p.seed is not None:
            _seed_everything(self.p.seed, spec.id)
        transform = spec.transform_cls()
        # What the original framework's transforms could read (self.name / use_dummy_data / global_config).
        transform.name, transform.use_dummy_data = spec.id, self.p.dummy
        # A read-only view: each value read is recorded (part of the node's key); a write fails.
        transform.global_config = (reads or ConfigReads(self.p.config, spec.id)).view()
        try:
            transform.configure(**copy.deepcopy(spec.setup_kwargs))
            with datasets_caching_off():
                out = transform(arg)
            if self.p.dummy and spec.role == "input":
                take = ShuffleAndTake()
                take.configure(n=self.p.dummy_rows, seed=self.p.seed or 0)
                out = take(out)
        except RunwayError as exc:
            raise TransformError(f"{spec.path} ({spec.transform_name}): {exc.message}", hint=exc.hint) from exc
        except Exception as exc:
            stage = getattr(transform, "stage", "_call")
            raise TransformError(
                f"{spec.path} (transform {spec.transform_name}) failed in {stage}: {type(exc).__name__}: {exc}",
                hint="check the node's setup_kwargs" if stage == "setup" else None,
            ) from exc
        return out

    def _inspect(self, spec: NodeSpec, key: str, data: Any) -> None:

        info = {"node": spec.id, "key": key, **inspect_data(data)}
        self.inspections[spec.id] = info
        if spec.cache and self.p.store.contains(key):
            write_inspection(self.p.store.entry_dir(key) / "inspect.json", info)

    def _notify(self, node_id: str, event: str, record: NodeRun | None) -> None:
        if self.p.progress is not None:
            self.p.progress(node_id, event, record)


@contextlib.contextmanager
def datasets_caching_off() -> Iterator[None]:
    """Turn off datasets' own cache files and progress bars while a transform runs.

    Our cache replaces datasets' cache: with it on, ``.map`` on an input loaded from our cache would
    write ``cache-*.arrow`` files into that (complete, immutable) entry's folder, and a regenerated
    node could silently reuse datasets' cached result instead of running. Off, datasets writes
    intermediate results to a temporary folder. Its per-``.map`` progress bars would interleave with
    the per-node progress the runner shows. Only touched when datasets is already loaded.
    """
    hf = sys.modules.get("datasets")
    if hf is None:
        yield
        return
    caching, bars = hf.is_caching_enabled(), hf.is_progress_bar_enabled()
    hf.disable_caching()
    hf.disable_progress_bars()
    try:
        yield
    finally:
        if caching:
            hf.enable_caching()
        if bars:
            hf.enable_progress_bars()


def isolated(data: Any) -> Any:
    """A copy of a node's output for one consumer, so that nothing a consumer does in memory reaches another.

    Datasets are copied without their Arrow data (datasets' ``Table.__deepcopy__`` shares the
    immutable, memory-mapped tables): only the Python containers, formats and metadata are new, so
    ``set_format``, assigning or deleting a split, ``rename`` in place ... stay with the consumer that
    did them. Other values (lists, dicts, numpy arrays, pandas frames) are deep-copied. A value that
    cannot be copied is shared, with a warning.
    """
    if _immutable(data):
        return data
    try:
        return copy.deepcopy(data)
    except Exception as exc:  # e.g. an object holding a lock or an open file
        log.warning(
            "an input of type %s cannot be copied (%s: %s); consumers share it: a node that changes it in "
            "place changes it for its siblings",
            type(data).__name__,
            type(exc).__name__,
            exc,
        )
        return data


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return value is None or isinstance(value, (str, bytes, int, float, bool))


def _seed_everything(seed: int, node_id: str) -> None:
    """Seed python/numpy (and torch if loaded) with a per-node seed derived from ``meta.seed``."""
    digest = hashlib.sha256(f"{seed}:{node_id}".encode()).hexdigest()
    node_seed = int(digest[:8], 16)
    random.seed(node_seed)
    import numpy

    numpy.random.seed(node_seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(node_seed)
