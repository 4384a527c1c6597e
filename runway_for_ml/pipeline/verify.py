"""Prove a node reproducible: recompute it in a scratch area and compare content digests (``runway cache verify``).

For each node to verify, its inputs are the entries the cache holds for them (read, never changed;
an input that is not cached is recomputed too, in memory), the transform runs as in a normal run
(same per-node seed, same config, datasets' own cache off), and its output is written to a scratch
store in a temporary folder, which computes the output's content digest exactly as the cache does
when it writes an entry. That digest is compared with the one recorded in the entry's ``meta.json``;
an entry written before digests were recorded gets its digest computed (from the entry's data) and
recorded on its first verify. When they differ, the cached data and the recomputation are compared
to name the first differing split, column and row.

>>> results = verify_nodes(DataPipeline.from_config("configs/experiments/digits.jsonnet"))  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.cache import CacheStore
from runway_for_ml.pipeline.cache_files import TOKENIZER_DIR
from runway_for_ml.pipeline.config_reads import ConfigReads
from runway_for_ml.pipeline.digest import content_digest, first_difference
from runway_for_ml.pipeline.node_run import PipelineRun, isolated

__all__ = ["VerifyResult", "verifiable_nodes", "verify_nodes"]

REPRODUCIBLE = "reproducible"
DIFFERS = "differs"
SKIPPED = "skipped"


@dataclass
class VerifyResult:
    """The verdict on one node: ``status`` is "reproducible", "differs" or "skipped" (``cache: false``)."""

    node: str
    status: str
    key: str = ""
    seconds: float = 0.0
    where: dict = field(default_factory=dict)  # split / column / row / detail of the first difference
    digest_recorded_now: bool = False  # the entry predates digests: its digest was computed by this verify

    def as_json(self) -> dict:
        return {
            "node": self.node,
            "status": self.status,
            "key": self.key,
            "seconds": round(self.seconds, 3),
            **{k: self.where.get(k) for k in ("split", "column", "row", "detail")},
            "digest_recorded_now": self.digest_recorded_now,
        }


# progress(node, index, total) before each node is recomputed
VerifyProgress = Callable[[str, int, int], None]


def verify_nodes(
    pipeline: Any, nodes: Iterable[str] | None = None, progress: VerifyProgress | None = None
) -> list[VerifyResult]:
    """Recompute ``nodes`` (default: every node of the pipeline) in a scratch area and compare with the cache.

    Raises:
        RunwayError: an unknown node, or a node with no cache entry for the current config (nothing
            to compare with: run ``runway prepare`` first).
    """
    graph = pipeline.graph
    wanted, plans = verifiable_nodes(pipeline, nodes)
    scratch_dir = Path(tempfile.mkdtemp(prefix="runway-verify-"))
    try:
        scratch = CacheStore(scratch_dir, pipeline.store.namespace)
        run = PipelineRun(pipeline, [], {})
        inputs: dict[str, Any] = {}  # node -> its data as the cache holds it (or recomputed, when not cached)
        results = []
        for index, node in enumerate(wanted):
            if progress is not None:
                progress(node, index, len(wanted))
            if not graph.nodes[node].cache:
                results.append(VerifyResult(node, SKIPPED, plans[node].key, where={"detail": "cache: false"}))
                continue
            results.append(_verify_one(pipeline, run, scratch, inputs, node, plans[node].key))
        return results
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)


def verifiable_nodes(pipeline: Any, nodes: Iterable[str] | None = None) -> tuple[list[str], dict[str, Any]]:
    """The nodes to verify in run order, with their plans; raises RunwayError on bad input (see verify_nodes)."""
    graph = pipeline.graph
    wanted = list(graph.order if nodes is None else nodes)
    for node in wanted:
        graph.check_node(node, what="node to verify")
    wanted = [n for n in graph.order if n in set(wanted)]  # run order
    plans = {plan.node: plan for plan in pipeline.plan(wanted)}
    missing = [n for n in wanted if graph.nodes[n].cache and plans[n].status != "cached"]
    if missing:
        raise RunwayError(
            f"nothing to verify against: {', '.join(missing)} "
            f"{'has' if len(missing) == 1 else 'have'} no cache entry for the current config",
            hint="run `runway prepare` with the same config and --opts first, then verify",
        )
    return wanted, plans


def _input(pipeline: Any, run: PipelineRun, inputs: dict[str, Any], node: str) -> Any:
    """The data of ``node`` as the cache holds it; recomputed in memory when it has no entry."""
    if node not in inputs:
        key = pipeline._key(node)
        if pipeline.graph.nodes[node].cache and pipeline.store.contains(key):
            inputs[node] = pipeline.store.load(key, touch=False)
        else:
            spec = pipeline.graph.nodes[node]
            args = [isolated(_input(pipeline, run, inputs, u)) for u in spec.inputs]
            arg = args if spec.input_is_list else (args[0] if args else None)
            inputs[node] = run._call(spec, arg, ConfigReads(pipeline.config, node))
    return inputs[node]


def _verify_one(
    pipeline: Any, run: PipelineRun, scratch: CacheStore, inputs: dict, node: str, key: str
) -> VerifyResult:
    spec = pipeline.graph.nodes[node]
    store = pipeline.store
    started = time.perf_counter()
    args = [isolated(_input(pipeline, run, inputs, u)) for u in spec.inputs]
    arg = args if spec.input_is_list else (args[0] if args else None)
    reads = ConfigReads(pipeline.config, node)
    data = run._call(spec, arg, reads)
    entry = scratch.save(key, data, {"node": node, "config_reads": reads.values})
    new_digest = entry.meta["digest"]
    meta = store.read_meta(key) or {}
    recorded, recorded_now = meta.get("digest"), False
    if recorded is None or recorded.get("v") != new_digest.get("v"):
        recorded = _entry_digest(store, key, meta)
        store.set_digest(key, recorded)
        recorded_now = True
    seconds = time.perf_counter() - started
    if recorded == new_digest and (meta.get("config_reads") or {}) == reads.values:
        return VerifyResult(node, REPRODUCIBLE, key, seconds, digest_recorded_now=recorded_now)
    if (meta.get("config_reads") or {}) != reads.values:
        where = {"detail": "it read other global_config values than when the entry was written"}
    else:
        where = first_difference(store.load(key, touch=False), _as_cached(scratch, key, entry, data))
    return VerifyResult(node, DIFFERS, key, seconds, where, digest_recorded_now=recorded_now)


def _entry_digest(store: CacheStore, key: str, meta: dict) -> dict:
    if meta.get("format") == "tokenizer":
        return content_digest(None, store.entry_dir(key) / TOKENIZER_DIR)
    return content_digest(store.load(key, touch=False))


def _as_cached(scratch: CacheStore, key: str, entry: Any, data: Any) -> Any:
    return scratch.load(key) if entry.meta.get("format") in ("arrow", "pickle") else data
