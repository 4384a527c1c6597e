"""Running the data pipeline: plan with cache keys, then load or compute each needed node once.

>>> pipeline = DataPipeline.from_config("configs/experiments/digits.jsonnet")  # doctest: +SKIP
>>> [(p.node, p.status) for p in pipeline.plan()]  # doctest: +SKIP
[('input:Digits', 'cached'), ('output:Split', 'stale')]
>>> data = pipeline.get_data(["output:Split"])["output:Split"]  # doctest: +SKIP

How a run works: every needed node gets a key from the fingerprint module (transform, version,
setup_kwargs, input keys) before anything runs. A node is then *demand-driven*: when its key is in the
cache it is loaded and its ancestors are not touched at all; otherwise its inputs are produced first
(recursively) and the transform runs under the cache's per-key lock. ``regenerate`` forces a node and
everything downstream of it to run in this run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.config import load_config
from runway_for_ml.config.loader import ResolvedConfig, resolve_cache_dir
from runway_for_ml.config.models import MetaSection
from runway_for_ml.errors import ConfigError, RunwayError, TransformError
from runway_for_ml.pipeline import fingerprint
from runway_for_ml.pipeline.cache import CacheStore
from runway_for_ml.pipeline.config_reads import current_values, describe_read_changes
from runway_for_ml.pipeline.graph import NodeSpec, PipelineGraph
from runway_for_ml.pipeline.node_run import (  # noqa: F401  (datasets_caching_off: benchmarks use it)
    NodeRun,
    PipelineRun,
    ProgressCallback,
    RunReport,
    datasets_caching_off,
)
from runway_for_ml.pipeline.user_code import import_pipeline_code
from runway_for_ml.project import find_project_root

__all__ = ["DataPipeline", "NodePlan", "NodeRun", "RunReport"]


@dataclass
class NodePlan:
    """What a run would do with one node, computed without running anything."""

    node: str
    transform: str
    key: str
    status: str  # "cached" | "will run" | "stale"
    reasons: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    cache: bool = True


class DataPipeline:
    """The data pipeline of a config: plan it, run it, get its outputs.

    Args:
        config: a ``ResolvedConfig`` or a plain config dict (with a ``data_pipeline`` section).
        cache_dir: overrides ``meta.default_cache_dir``.
        dummy: overrides ``meta.use_dummy_data`` (small data, own cache namespace).
        regenerate_nodes: nodes to re-run (with everything downstream), like ``--regenerate``.
        progress: optional callback for per-node progress.
    """

    def __init__(
        self,
        config: Any,
        *,
        cache_dir: str | Path | None = None,
        dummy: bool | None = None,
        regenerate_nodes: Iterable[str] = (),
        progress: ProgressCallback | None = None,
    ) -> None:
        data, source = _config_dict(config)
        self.config: dict[str, Any] = data
        self.source: Path | None = source
        self.graph = PipelineGraph.from_config(data.get("data_pipeline"))
        # The typed meta section: one default per key (config/models.py). A plain dict was validated by
        # whoever loaded it: its values are taken as they are, the missing ones get the model's defaults.
        meta = (
            config.typed.meta
            if isinstance(config, ResolvedConfig)
            else MetaSection.model_construct(**data.get("meta") or {})
        )
        self.dummy = meta.use_dummy_data if dummy is None else bool(dummy)
        self.dummy_rows = meta.dummy_data_rows
        self.seed: int | None = meta.seed
        self.cache_dir = resolve_cache_dir(config, cache_dir=cache_dir)
        self.store = CacheStore(self.cache_dir, "dummy" if self.dummy else "default")
        self.regenerate_nodes = list(regenerate_nodes)
        for node in self.regenerate_nodes:
            self.graph.check_node(node, what="node to regenerate")
        self.progress = progress
        self._components: dict[str, dict] = {}
        self._keys: dict[str, str] = {}  # the node's key, including the config values it reads
        self._base_keys: dict[str, str] = {}  # the key of its components alone (config reads left out)
        self._reads: dict[str, dict] = {}  # global_config path -> value, as read by the node
        self._with_reads: set[str] | None = None  # base keys with a read-set index file (listed once)

    @classmethod
    def from_config(cls, path_or_dict: Any, opts: Iterable[str] = (), **kwargs: Any) -> DataPipeline:
        """Load a config file (or validate a dict), import the project's user modules, build the pipeline.

        >>> DataPipeline.from_config("configs/experiments/x.jsonnet", ["meta.seed=3"], dummy=True)  # doctest: +SKIP
        """

        if isinstance(path_or_dict, ResolvedConfig):
            config = ResolvedConfig.from_dict(path_or_dict.data, opts, path=path_or_dict.path) if opts else path_or_dict
        elif isinstance(path_or_dict, Mapping):
            config = ResolvedConfig.from_dict(path_or_dict, opts)
        else:
            config = load_config(path_or_dict, opts)
        start = config.path.resolve().parent if config.path else None
        import_pipeline_code(find_project_root(start), config.data)
        return cls(config, **kwargs)

    # ----------------------------------------------------------------- keys and plan
    def _forced(self, needed: list[str]) -> dict[str, str]:
        """Nodes that must run this run -> why (regenerate flags propagate downstream)."""
        forced: dict[str, str] = {}
        if self.graph.regenerate:
            return dict.fromkeys(needed, "data_pipeline.regenerate: true")
        sources = [(n, "regenerate: true") for n in needed if self.graph.nodes[n].regenerate]
        sources += [(n, "--regenerate") for n in self.regenerate_nodes]
        for node, why in sources:
            forced.setdefault(node, why)
            for child in self.graph.descendants(node):
                forced.setdefault(child, f"upstream '{node}' regenerates")
        return {n: forced[n] for n in needed if n in forced}

    def _key(self, node_id: str) -> str:
        if node_id not in self._keys and all(u in self._keys for u in self.graph.nodes[node_id].inputs):
            self._compute_key(node_id)
        elif node_id not in self._keys:
            # Ancestors first, in run order: iterative, so a 1,000-node chain needs no deep recursion.
            for ancestor in self.graph.needed([node_id]):
                if ancestor not in self._keys:
                    self._compute_key(ancestor)
        return self._keys[node_id]

    def _compute_key(self, node_id: str) -> None:
        spec = self.graph.nodes[node_id]
        input_keys = [self._keys[upstream] for upstream in spec.inputs]
        components = fingerprint.node_key_components(
            spec.transform_cls, spec.transform_name, spec.setup_kwargs, input_keys
        )
        # Extra parts only when they apply, so ordinary keys stay exactly the fingerprint's.
        extra = _fingerprint_extra(spec)
        if extra is not None:
            components["extra"] = extra
        if spec.input_is_list:
            components["input_as_list"] = True
        if self.dummy and spec.role == "input":
            components["dummy_rows"] = self.dummy_rows
        self._components[node_id] = components
        base = fingerprint.node_key(components)
        self._base_keys[node_id] = base
        self._keys[node_id], self._reads[node_id] = self._resolve(base, components)

    def _resolve(self, base: str, components: dict, *, fresh: bool = False) -> tuple[str, dict]:
        """The node's key and the ``global_config`` values it reads: ``(key, {path: value})``.

        A node that reads no config value has the key ``base``. One that does is stored under
        :func:`reads_key` (its components plus the values read); the paths it read are looked up in
        the store's index for ``base``. When no such entry exists, the newest read set gives the key
        the node will most likely get (it is corrected once the node has run). ``fresh``: read the
        index again (another process may have run the node since this pipeline listed it).
        """
        if self._with_reads is None:  # one listing per pipeline instead of one file lookup per node
            self._with_reads = set(self.store.bases_with_read_sets())
        read_sets = self.store.read_sets(base) if (fresh or base in self._with_reads) else []
        if not read_sets:
            return base, {}
        # A node known to read config values never falls back to an entry under its base key (written
        # by a version that did not record reads): that entry may hold data computed from other values.
        guess: tuple[str, dict] | None = None
        for paths in read_sets:
            values = current_values(self.config, paths)
            key = reads_key(components, values)
            if self.store.contains(key):
                return key, values
            guess = guess or (key, values)
        return guess or (base, {})

    def _remember_reads(self, base: str, reads: dict) -> None:
        """Add the paths a run of the node read to the store's index (nothing when it read none)."""
        if reads:
            self.store.add_read_set(base, list(reads))
            if self._with_reads is not None:
                self._with_reads.add(base)

    def _ran(self, node_id: str, reads: dict) -> str:
        """Record the config values a node actually read when it ran; returns its final key.

        When that key differs from the planned one, the keys of its descendants are recomputed.
        """
        key = reads_key(self._components[node_id], reads)
        if key != self._keys.get(node_id):
            for child in self.graph.descendants(node_id):
                for table in (self._keys, self._components, self._base_keys, self._reads):
                    table.pop(child, None)
        self._keys[node_id], self._reads[node_id] = key, dict(reads)
        return key

    def plan(self, targets: Iterable[str] | None = None) -> list[NodePlan]:
        """Each needed node with its key and status, computed without running anything.

        Status: ``cached`` (an entry with this key exists), ``will run`` (no entry, or forced), or
        ``stale`` (an older entry of the node exists; ``reasons`` say what changed).
        """
        needed = self.graph.needed(None if targets is None else list(targets))
        forced = self._forced(needed)
        by_node: dict[str, list] | None = None  # node -> its entries, oldest first, read once (entries() scans)
        plans = []
        for node_id in needed:
            spec = self.graph.nodes[node_id]
            key = self._key(node_id)
            plan = NodePlan(
                node=node_id,
                transform=spec.transform_name,
                key=key,
                status="will run",
                inputs=list(spec.inputs),
                cache=spec.cache,
            )
            if node_id in forced:
                plan.reasons = [forced[node_id]]
            elif not spec.cache:
                plan.reasons = ["cache: false"]
            elif self.store.contains(key):
                plan.status = "cached"
            else:
                if by_node is None:
                    by_node = {}
                    for entry in self.store.entries():
                        by_node.setdefault(entry.node, []).append(entry)
                previous = self._closest(node_id, by_node.get(node_id) or [])
                if previous is None:
                    plan.reasons = ["not in cache"]
                else:
                    plan.status = "stale"
                    plan.reasons = self._explain(node_id, previous.meta) or ["cache entry differs"]
            plans.append(plan)
        return plans

    def _closest(self, node_id: str, entries: list) -> Any:
        """The entry to explain a stale node against: the newest one, or, among entries with the node's
        base key (only its config reads differ), the one with the fewest changed reads."""
        base = self._base_keys[node_id]
        same_base = [e for e in entries if e.meta.get("base_key") == base and e.meta.get("config_reads")]
        if same_base:
            return min(
                reversed(same_base),  # newest first: ties go to the newest
                key=lambda e: len(describe_read_changes(e.meta["config_reads"], self.config)),
            )
        return entries[-1] if entries else None

    def _explain(self, node_id: str, previous_meta: dict) -> list[str]:
        components = self._components[node_id]
        spec = self.graph.nodes[node_id]
        reasons = fingerprint.explain_change(previous_meta, components, list(spec.inputs), spec.transform_cls)
        reasons.extend(describe_read_changes(previous_meta.get("config_reads") or {}, self.config))
        old = previous_meta.get("components") or {}
        if old.get("input_as_list") != components.get("input_as_list"):
            reasons.append("input_node list/string form changed")
        if old.get("dummy_rows") != components.get("dummy_rows"):
            reasons.append(f"dummy_data_rows: {old.get('dummy_rows')} -> {components.get('dummy_rows')}")
        return reasons

    # ----------------------------------------------------------------- running
    def run(self, targets: Iterable[str] | None = None) -> RunReport:
        """Produce ``targets`` (default: every ``output:`` node); each needed node runs at most once.

        Each target is checked first (unknown node -> error with did-you-mean).
        """
        targets = self.graph.default_targets() if targets is None else list(targets)
        needed = self.graph.needed(targets)
        forced = self._forced(needed)
        run = PipelineRun(self, needed, forced)
        # Walk up from the targets: a node whose entry is cached (and not forced) is loaded and its
        # ancestors are not touched. Then produce the touched nodes in run order (no deep recursion).
        touched: set[str] = set()
        stack = list(targets)
        while stack:
            node_id = stack.pop()
            if node_id in touched:
                continue
            touched.add(node_id)
            spec = self.graph.nodes[node_id]
            if not (spec.cache and node_id not in forced and self.store.contains(self._key(node_id))):
                stack.extend(spec.inputs)
        for node_id in needed:
            if node_id in touched:
                run.produce(node_id)
        outputs = {target: run.results[target] for target in targets}
        nodes = [run.records.get(n) or NodeRun(n, "skipped", key=self._key(n)) for n in needed]
        return RunReport(outputs=outputs, nodes=nodes, inspections=run.inspections)

    def get_data(self, node_ids: Iterable[str] | str) -> dict[str, Any]:
        """The outputs of the named nodes: ``{"output:Tokenized": data}``."""
        ids = [node_ids] if isinstance(node_ids, str) else list(node_ids)
        self.last_report = self.run(ids)
        return self.last_report.outputs

    def apply_transforms(self) -> dict[str, Any]:
        """Run the pipeline and return every ``output:`` node's data by short name (``{"Tokenized": data}``)."""
        self.last_report = self.run(self.graph.outputs())
        return {self.graph.nodes[n].name: data for n, data in self.last_report.outputs.items()}


def reads_key(components: dict, reads: dict) -> str:
    """The key of a node with these components that read these ``global_config`` values.

    Without reads it is the components' key, so nodes that read no config keep their keys.
    """
    if not reads:
        return fingerprint.node_key(components)
    return fingerprint.node_key({**components, "config_reads": reads})


def _config_dict(config: Any) -> tuple[dict[str, Any], Path | None]:
    data = getattr(config, "data", None)
    if isinstance(data, dict):
        return data, getattr(config, "path", None)
    if isinstance(config, Mapping):
        return dict(config), None
    raise ConfigError(f"DataPipeline expects a ResolvedConfig or a config dict, got {type(config).__name__}")


def _fingerprint_extra(spec: NodeSpec) -> Any:
    """The transform's extra key material (see ``fingerprint.fingerprint_extra``), errors naming the node."""
    try:
        return fingerprint.fingerprint_extra(spec.transform_cls, spec.setup_kwargs)
    except RunwayError as exc:
        raise TransformError(f"{spec.path} ({spec.transform_name}): {exc.message}", hint=exc.hint) from exc
    except Exception as exc:
        raise TransformError(
            f"{spec.path} (transform {spec.transform_name}): fingerprint_extra failed: {type(exc).__name__}: {exc}",
            hint="check the node's setup_kwargs (fingerprint_extra reads them to compute the cache key)",
        ) from exc
