"""The pipeline DAG: nodes of ``data_pipeline.transforms``, validated before anything runs.

Each node is keyed ``role:name`` (role: ``input``, ``process`` or ``output``) and names a transform;
``input_node`` is absent, a node key, or an ordered list of node keys. Building a
:class:`PipelineGraph` resolves every transform, binds every ``setup_kwargs`` to its ``setup``
signature, checks every input reference and rejects cycles, so a bad config fails in a second with
the key path of the problem instead of halfway through a long run.

>>> graph = PipelineGraph.from_config({"transforms": {
...     "input:Digits": {"transform_name": "LoadSklearnDigits"},
...     "output:Split": {"transform_name": "SplitHFDataset", "input_node": "input:Digits"},
... }})
>>> graph.needed(["output:Split"])
['input:Digits', 'output:Split']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.pipeline import builtin_transforms as _builtins  # noqa: F401  (registers the built-ins)
from runway_for_ml.pipeline.transform import TRANSFORMS, BaseTransform

__all__ = ["ROLES", "NodeSpec", "PipelineGraph"]

ROLES = ("input", "process", "output")
_PREFIX = "data_pipeline.transforms"


@dataclass(frozen=True)
class NodeSpec:
    """One validated node of the DAG."""

    id: str  # "process:Split"
    role: str  # "process"
    name: str  # "Split"
    transform_name: str
    transform_cls: type[BaseTransform]
    setup_kwargs: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    input_is_list: bool = False  # input_node given as a list: _call receives a list
    regenerate: bool = False
    cache: bool = True
    inspect: bool = False

    @property
    def path(self) -> str:
        """Key path of the node in the config, for messages."""
        return f"{_PREFIX}.{self.id}"


class PipelineGraph:
    """A validated DAG of :class:`NodeSpec` (a ``networkx.DiGraph`` with edges input -> node)."""

    def __init__(self, nodes: Mapping[str, NodeSpec], *, name: str | None = None, regenerate: bool = False) -> None:
        self.nodes: dict[str, NodeSpec] = dict(nodes)
        self.name = name
        self.regenerate = regenerate
        self.graph = nx.DiGraph()
        for node_id in self.nodes:
            self.graph.add_node(node_id)
        for spec in self.nodes.values():
            for upstream in spec.inputs:
                self.graph.add_edge(upstream, spec.id)
        self._check_acyclic()
        # Ties broken by declaration order, so the run order is stable and follows the config.
        position = {node_id: i for i, node_id in enumerate(self.nodes)}
        self.order: list[str] = list(nx.lexicographical_topological_sort(self.graph, key=position.__getitem__))

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> PipelineGraph:
        """Build and validate the graph from the ``data_pipeline`` section of a config."""
        if section is None:
            raise ConfigError(
                "data_pipeline: the config has no data_pipeline section", hint="add data_pipeline: {transforms: {...}}"
            )
        if not isinstance(section, Mapping):
            raise ConfigError(f"data_pipeline: expected an object, got {type(section).__name__}")
        transforms = section.get("transforms") or {}
        if not isinstance(transforms, Mapping):
            raise ConfigError(f"{_PREFIX}: expected an object of nodes, got {type(transforms).__name__}")
        raw = dict(transforms)
        nodes = {node_id: _parse_node(node_id, spec, raw) for node_id, spec in raw.items()}
        return cls(nodes, name=section.get("name"), regenerate=bool(section.get("regenerate", False)))

    # ----------------------------------------------------------------- queries
    def outputs(self) -> list[str]:
        """The ``output:`` nodes in run order."""
        return [n for n in self.order if self.nodes[n].role == "output"]

    def default_targets(self) -> list[str]:
        """The ``output:`` nodes; when there are none, every node nothing else reads from."""
        return self.outputs() or [n for n in self.order if self.graph.out_degree(n) == 0]

    def needed(self, targets: Iterable[str] | None = None) -> list[str]:
        """The nodes ``targets`` depend on (themselves included), in run order. Default: :meth:`default_targets`."""
        targets = list(self.default_targets() if targets is None else targets)
        for target in targets:
            self.check_node(target, what="target")
        wanted = set(targets)
        for target in targets:
            wanted |= nx.ancestors(self.graph, target)
        return [n for n in self.order if n in wanted]

    def descendants(self, node_id: str) -> set[str]:
        return nx.descendants(self.graph, node_id)

    def upstream(self, starts: Iterable[str], kind: type | None = None) -> list[NodeSpec]:
        """``starts`` and their ancestors, nearest first (breadth-first along ``input_node``).

        ``kind`` keeps only the nodes whose transform class is ``kind`` or a subclass of it, e.g. the
        tokenize nodes feeding the training data: ``graph.upstream(["output:Tokenize"], HFDatasetTokenizeTransform)``.
        """
        queue = list(starts)
        for node_id in queue:
            self.check_node(node_id)
        found: list[NodeSpec] = []
        seen: set[str] = set()
        while queue:
            node_id = queue.pop(0)
            if node_id in seen:
                continue
            seen.add(node_id)
            spec = self.nodes[node_id]
            if kind is None or issubclass(spec.transform_cls, kind):
                found.append(spec)
            queue.extend(spec.inputs)
        return found

    def check_node(self, node_id: str, what: str = "node") -> None:
        """Raise a RunwayError with did-you-mean when ``node_id`` is not a node of the graph."""
        if node_id not in self.nodes:
            raise RunwayError(
                f"unknown {what} '{node_id}'{did_you_mean(node_id, self.nodes)}",
                hint=f"nodes of this pipeline: {_listing(self.nodes)}",
            )

    def _check_acyclic(self) -> None:
        if nx.is_directed_acyclic_graph(self.graph):  # fast path; find_cycle only to report one
            return
        try:
            cycle = nx.find_cycle(self.graph)
        except nx.NetworkXNoCycle:
            return
        path = [edge[0] for edge in cycle] + [cycle[0][0]]
        raise ConfigError(
            f"{_PREFIX}: the pipeline has a cycle: {' -> '.join(path)}",
            hint="a node cannot (indirectly) take its own output as input; remove one input_node of the cycle",
        )


def _parse_node(node_id: str, spec: Any, all_nodes: Mapping[str, Any]) -> NodeSpec:
    path = f"{_PREFIX}.{node_id}"
    role, sep, name = str(node_id).partition(":")
    if not sep or role not in ROLES or not name:
        guess = did_you_mean(f"{role}:", [f"{r}:" for r in ROLES]) if sep else ""
        raise ConfigError(
            f"{path}: bad node key '{node_id}': expected 'role:name' with role one of {', '.join(ROLES)}{guess}",
            hint="e.g. 'input:LoadData', 'process:Tokenize', 'output:Tokenized'",
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{path}: a node must be an object with transform_name, got {type(spec).__name__}")
    transform_name = spec.get("transform_name")
    if not isinstance(transform_name, str) or not transform_name:
        raise ConfigError(
            f"{path}.transform_name: missing or not a string", hint="name a registered transform or a dotted path"
        )
    try:
        transform_cls = TRANSFORMS.get(transform_name)
    except RunwayError as exc:
        raise ConfigError(f"{path}.transform_name: {exc.message}", hint=exc.hint) from exc
    if not (isinstance(transform_cls, type) and issubclass(transform_cls, BaseTransform)):
        raise ConfigError(
            f"{path}.transform_name: '{transform_name}' is not a BaseTransform subclass ({transform_cls!r})"
        )
    setup_kwargs = spec.get("setup_kwargs") or {}
    if not isinstance(setup_kwargs, Mapping):
        raise ConfigError(f"{path}.setup_kwargs: expected an object, got {type(setup_kwargs).__name__}")
    problem = transform_cls.check_setup_kwargs(setup_kwargs)
    if problem:
        raise ConfigError(f"{path}.setup_kwargs: {problem}")
    raw_inputs = spec.get("input_node")
    if raw_inputs is None:
        inputs: list[str] = []
    elif isinstance(raw_inputs, str):
        inputs = [raw_inputs]
    elif isinstance(raw_inputs, list) and all(isinstance(x, str) for x in raw_inputs):
        inputs = list(raw_inputs)
    else:
        raise ConfigError(f"{path}.input_node: expected a node key or a list of node keys, got {raw_inputs!r}")
    for upstream in inputs:
        if upstream not in all_nodes:
            raise ConfigError(
                f"{path}.input_node: no node '{upstream}'{did_you_mean(upstream, [n for n in all_nodes if n != node_id])}",
                hint=f"nodes of this pipeline: {_listing(all_nodes)}",
            )
    flags = {}
    for flag, default in (("regenerate", False), ("cache", True), ("inspect", False)):
        value = spec.get(flag, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{path}.{flag}: expected true or false, got {value!r}")
        flags[flag] = value
    return NodeSpec(
        id=node_id,
        role=role,
        name=name,
        transform_name=transform_name,
        transform_cls=transform_cls,
        setup_kwargs=dict(setup_kwargs),
        inputs=tuple(inputs),
        input_is_list=isinstance(raw_inputs, list),
        **flags,
    )


def _listing(names: Iterable[str], limit: int = 12) -> str:
    names = list(names)
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return (", ".join(names[:limit]) or "(none)") + more
