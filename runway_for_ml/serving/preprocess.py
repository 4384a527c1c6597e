"""Per-example preprocessing at serving time: the data pipeline's transforms applied to new rows.

A served request is a *raw* example, shaped like the rows the pipeline's loader produces (the digits
template: ``pixels`` as 64 values in 0..16). Before the model sees it, it goes through the same
transforms as the training data did, on the path from the loader to the node that feeds the
executor (``test.data_node`` / ``train.data_node``), with the statistics fitted at training time.

How each node on that path treats an example:

1. **A transform with the serving hooks** (the fast, exact way; what project transforms should do)::

       class StandardizeColumn(HFDatasetTransform):
           def fit_examples(self, data):            # optional: called once, with the node's input
               self.mean, self.std = column_mean_std(data[self.fit_split], self.column)
           def transform_examples(self, batch):     # a dict of columns, as datasets' map(batched=True)
               return {self.column: (np.asarray(batch[self.column]) - self.mean) / self.std}
           def _call(self, data):                   # training uses the very same two methods
               self.fit_examples(data)
               return data.map(self.transform_examples, batched=True)

   ``fit_examples`` receives the node's input as at training, read from the pipeline cache.
2. **Loaders and row-selection transforms** (``input:`` nodes, splitting, shuffling, filtering)
   decide *which* rows exist; an example passes through them unchanged.
3. **Built-in column transforms** that accept a list of row dicts (select, rename, normalise) are
   called on the examples directly.
4. **Any other transform is replayed**: its input splits (from the cache) plus a split holding the
   new examples go through the transform, and that split is taken out again. Exact for per-row
   transforms, but it transforms the training data again on every batch: give the transform the
   hooks above to make it fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError
from runway_for_ml.experiment.sections import data_source

__all__ = [
    "PASSTHROUGH_TRANSFORMS",
    "ROW_LIST_TRANSFORMS",
    "ExamplePreprocessor",
    "FittedPreprocessor",
    "serving_data_node",
]

# Built-ins that choose rows (an example passes through them unchanged).
PASSTHROUGH_TRANSFORMS = frozenset(
    {"LoadHFDataset", "LoadSklearnDigits", "SplitHFDataset", "ShuffleAndTake", "FilterRows"}
)
# Built-ins whose _call accepts a list of row dicts and maps each row.
ROW_LIST_TRANSFORMS = frozenset({"SelectColumns", "RenameColumns", "NormalizeColumns"})
_SERVE_SPLIT = "__serve__"


def serving_data_node(config: Mapping[str, Any]) -> tuple[str, str | None]:
    """The node (and split) whose rows the executor gets at inference: ``test.*``, else ``train.*``."""

    sources = data_source(config, "test")
    split = str((config.get("test") or {}).get("split") or "test")
    ref = sources.get(split) or sources.get("*") or next(iter(sources.values()))
    return str(ref["node"]), ref.get("split")


class ExamplePreprocessor:
    """Applies the pipeline's per-example work to batches of raw rows (see the module docstring).

    >>> pre = ExamplePreprocessor(resolved_config, project_root)  # doctest: +SKIP
    >>> pre([{"pixels": [0.0] * 64}])[0]["pixels"][:2]  # doctest: +SKIP
    [-0.0, -0.18...]
    """

    def __init__(self, config: Any, project_root: Path | None) -> None:
        from runway_for_ml.experiment.data import pipeline_for

        data = getattr(config, "data", config)
        self.pipeline = pipeline_for(config, project_root)
        self.node, _ = serving_data_node(data)
        graph = self.pipeline.graph
        graph.check_node(self.node, what="serving data node")
        self.steps: list[tuple[str, str, Any]] = []  # (kind, node id, transform)
        self._inputs_cache: dict[str, Any] = {}
        for node_id in graph.needed([self.node]):
            spec = graph.nodes[node_id]
            cls = spec.transform_cls
            if callable(getattr(cls, "transform_examples", None)):
                transform = self._configured(spec)
                if callable(getattr(transform, "fit_examples", None)):
                    transform.fit_examples(self._node_input(node_id))
                self.steps.append(("hook", node_id, transform))
            elif spec.role == "input" or spec.transform_name in PASSTHROUGH_TRANSFORMS:
                continue
            elif spec.transform_name in ROW_LIST_TRANSFORMS:
                self.steps.append(("rows", node_id, self._configured(spec)))
            else:
                if spec.input_is_list:
                    raise ConfigError(
                        f"data_pipeline.transforms.{node_id}: serving cannot replay a node with several inputs "
                        f"({spec.transform_name})",
                        hint="give the transform transform_examples(batch) (and fit_examples(data)) methods, or set "
                        "serve.preprocess: false when the executor's serve_step takes the raw inputs (e.g. text it "
                        "tokenises itself); see docs/serving.md",
                    )
                self.steps.append(("replay", node_id, self._configured(spec)))

    def _configured(self, spec: Any) -> Any:
        transform = spec.transform_cls()
        transform.configure(**dict(spec.setup_kwargs))
        return transform

    def _node_input(self, node_id: str) -> Any:
        """The node's input as at training (loaded from the pipeline cache)."""
        if node_id not in self._inputs_cache:
            spec = self.pipeline.graph.nodes[node_id]
            outputs = self.pipeline.get_data(list(spec.inputs)) if spec.inputs else {}
            values = [outputs[u] for u in spec.inputs]
            self._inputs_cache[node_id] = values if spec.input_is_list else (values[0] if values else None)
        return self._inputs_cache[node_id]

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Raw example rows -> rows as the executor's data node has them."""
        return _apply(self.steps, rows, self._replay)

    def fitted(self) -> FittedPreprocessor:
        """The fitted steps without the pipeline (picklable, for ``runway export``)."""
        replayed = [node for kind, node, _ in self.steps if kind == "replay"]
        if replayed:
            raise ConfigError(
                f"data_pipeline.transforms.{replayed[0]}: this transform is replayed on the training data at "
                "serving time, which an exported model does not carry",
                hint="give the transform transform_examples(batch) (and fit_examples(data)) methods; "
                "see docs/serving.md, 'Preprocessing'",
            )
        return FittedPreprocessor(list(self.steps))

    def _replay(self, node_id: str, transform: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import datasets

        data = self._node_input(node_id)
        new = datasets.Dataset.from_list(rows)
        if isinstance(data, datasets.DatasetDict):
            result = transform(datasets.DatasetDict({**data, _SERVE_SPLIT: new}))
            if not isinstance(result, datasets.DatasetDict) or _SERVE_SPLIT not in result:
                raise ValueError(
                    "the transform did not keep the split of served examples; give it transform_examples()"
                )
            result = result[_SERVE_SPLIT]
        else:
            result = transform(new)
        if len(result) != len(rows):
            raise ValueError(f"{len(rows)} examples in, {len(result)} out; give the transform transform_examples()")
        return [dict(r) for r in result.to_list()]


class FittedPreprocessor:
    """Per-example steps with their fitted state and no pipeline: what ``runway export`` pickles."""

    def __init__(self, steps: list[tuple[str, str, Any]]) -> None:
        self.steps = steps

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return _apply(self.steps, rows, None)


def _apply(steps: list[tuple[str, str, Any]], rows: Sequence[Mapping[str, Any]], replay: Any) -> list[dict[str, Any]]:
    out = [dict(row) for row in rows]
    if not out:
        return out
    for kind, node_id, transform in steps:
        try:
            if kind == "hook":
                columns = {key: [row.get(key) for row in out] for key in out[0]}
                updated = transform.transform_examples(columns)
                for key, values in dict(updated).items():
                    for row, value in zip(out, values, strict=True):
                        row[key] = value
            elif kind == "rows":
                out = [dict(row) for row in transform(out)]
            else:
                out = replay(node_id, transform, out)
        except Exception as exc:
            raise ValueError(f"preprocessing in {node_id} ({type(transform).__name__}): {exc}") from exc
    return out
