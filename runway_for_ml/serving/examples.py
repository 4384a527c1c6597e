"""``serve.examples``: real requests to try a served command with, taken from the data's test split.

``/meta`` lists them per command (``"examples": [{"inputs": {...}, "label": ...}]``, ``label`` being
the answer the data gives) and the ``/ui`` fills its form with them. The ``serve:`` key::

    examples: 3                                   # the default: 3 rows of the test split, read when the
                                                  # server starts (runway serve) or at runway export
    examples: 0                                   # none (false works too)
    examples: { count: 4, split: 'test', inputs: { text: 'review' } }
                                                  # the input `text` filled from the data's `review` column
    examples: [ { inputs: { text: 'Great coffee.' }, label: 'great' } ]
                                                  # written out; runway export stores the rows it read so

Rows are read where a served request enters the pipeline: before the first per-example transform
(the digits template: the raw ``pixels`` of ``process:Split``), or at the executor's data node with
``preprocess: false``. An input is filled from the column it feeds (its ``column``, else its name) or
from ``inputs``' column; of inputs that are alternatives (``pixels`` or ``image``) the first that a
column fills is used; an ``array`` input gets the column's values of all rows chosen. A row whose
value is refused by the input (e.g. out of its declared ``min``/``max``) is left out, with a note.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runway_for_ml.errors import ConfigError, check_choice, did_you_mean
from runway_for_ml.pipeline.datatypes import is_dataset_dict
from runway_for_ml.serving.exceptions import ServingError
from runway_for_ml.serving.preprocess import PASSTHROUGH_TRANSFORMS, serving_data_node
from runway_for_ml.serving.type_base import to_python

__all__ = ["DEFAULT_COUNT", "MAX_EXAMPLES", "ExampleSource", "class_names_for", "parse_examples", "read_examples"]

DEFAULT_COUNT = 3
MAX_EXAMPLES = 50
_SOURCE_KEYS = ("count", "split", "inputs")
_ENTRY_KEYS = ("command", "inputs", "label")
_HINT = (
    "serve.examples: a number of test rows (3), false, {count: 3, split: 'test', inputs: {input: column}}, "
    "or a list of {inputs: {...}, label: ...}"
)


@dataclass
class ExampleSource:
    """Where examples come from when they are read from the data (not written in the config)."""

    count: int = DEFAULT_COUNT
    split: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    explicit: bool = False  # written in the config: a column it names must exist


def parse_examples(
    value: Any, commands: Mapping[str, Any], where: str = ""
) -> tuple[ExampleSource | None, dict[str, list[dict[str, Any]]]]:
    """Validate ``serve.examples``: a source to read rows from, or written examples per command.

    ``commands``: the served :class:`~runway_for_ml.serving.model.Command` objects (their ``decode``
    checks a written example exactly as a request).
    """
    path = f"{where}serve.examples"
    if value is None:
        return ExampleSource(), {}
    if value is False or (isinstance(value, int) and not isinstance(value, bool) and value == 0):
        return None, {}
    if isinstance(value, int) and not isinstance(value, bool):
        return ExampleSource(count=_count(value, path), explicit=True), {}
    if isinstance(value, Mapping):
        bad = [k for k in value if k not in _SOURCE_KEYS]
        if bad:
            raise ConfigError(
                f"{path}.{bad[0]}: unknown key{did_you_mean(str(bad[0]), _SOURCE_KEYS)}",
                hint=f"valid keys: {', '.join(_SOURCE_KEYS)}",
            )
        source = ExampleSource(count=_count(value.get("count", DEFAULT_COUNT), f"{path}.count"), explicit=True)
        split = value.get("split")
        if split is not None and (not isinstance(split, str) or not split):
            raise ConfigError(f"{path}.split must be a split name such as 'test'")
        source.split = split
        inputs = value.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise ConfigError(f"{path}.inputs must map input names to data columns, e.g. {{text: 'review'}}")
        known = sorted({name for command in commands.values() for name in command.inputs})
        for name, column in inputs.items():
            check_choice(str(name), known, f"{path}.inputs.{name}", what="input")
            if not isinstance(column, str) or not column:
                raise ConfigError(f"{path}.inputs.{name} must be a column name")
        source.inputs = {str(k): str(v) for k, v in inputs.items()}
        return source, {}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return None, _written(value, commands, path)
    raise ConfigError(f"{path} must be a number, false, an object or a list", hint=_HINT)


def _count(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_EXAMPLES:
        raise ConfigError(f"{path} must be a whole number from 0 to {MAX_EXAMPLES}, got {value}", hint=_HINT)
    return value


def _written(entries: Sequence[Any], commands: Mapping[str, Any], path: str) -> dict[str, list[dict[str, Any]]]:
    """Examples written in the config: each goes to its ``command``, else to every command it fits."""
    out: dict[str, list[dict[str, Any]]] = {}
    for i, entry in enumerate(entries):
        here = f"{path}[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("inputs"), Mapping):
            raise ConfigError(f"{here} must be an object {{inputs: {{...}}, label: ...}}", hint=_HINT)
        bad = [k for k in entry if k not in _ENTRY_KEYS]
        if bad:
            raise ConfigError(f"{here}.{bad[0]}: unknown key{did_you_mean(str(bad[0]), _ENTRY_KEYS)}", hint=_HINT)
        example = {"inputs": dict(entry["inputs"])}
        if entry.get("label") is not None:
            example["label"] = entry["label"]
        if entry.get("command") is not None:
            check_choice(str(entry["command"]), list(commands), f"{here}.command", what="command")
            targets = [str(entry["command"])]
        else:
            targets = [n for n, c in commands.items() if set(example["inputs"]) <= set(c.inputs)]
            if not targets:
                raise ConfigError(
                    f"{here}: no command takes the inputs {', '.join(example['inputs'])}",
                    hint="name the command: {command: 'classify', inputs: {...}}",
                )
        for name in targets:
            try:
                commands[name].decode(example["inputs"])
            except ServingError as exc:
                raise ConfigError(f"{here} (command {name}): {exc.message}") from exc
            out.setdefault(name, []).append(example)
    return out


# ---------------------------------------------------------------------- reading rows of the data


def read_examples(
    config: Any,
    project_root: Any,
    specs: Mapping[str, Any],
    commands: Mapping[str, Any],
    source: ExampleSource,
    *,
    preprocess: bool = True,
    label_column: str | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], list[str] | None]:
    """Examples per command from the rows a served request stands for, and the data's class names.

    ``config``: the version's resolved config; ``specs``: the ``CommandSpec`` of each command (which
    column each input fills); ``commands``: the served commands (their ``decode`` checks each row).
    Returns ``({command: [{"inputs": ..., "label": ...}]}, class names of the label column or None)``.
    """
    from runway_for_ml.experiment.data import pipeline_for

    data = getattr(config, "data", config)
    pipeline = pipeline_for(config, project_root)
    node, split = _raw_rows_node(pipeline.graph, data, preprocess)
    output = pipeline.get_data([node])[node]
    rows_of = _split_of(output, source.split or split or _test_split(data), node, explicit=bool(source.split))
    if rows_of is None:
        return {}, None
    label_column = label_column or str(
        ((data.get("executor") or {}).get("model_config") or {}).get("label_column") or "label"
    )
    names = _class_names(rows_of, label_column)
    columns = list(getattr(rows_of, "column_names", None) or [])
    for name, column in source.inputs.items():
        if column not in columns:
            raise ConfigError(
                f"serve.examples.inputs.{name}: the rows of {node} have no column '{column}'"
                f"{did_you_mean(column, columns)}; columns: {', '.join(columns)}"
            )
    chosen = _pick_rows(rows_of, label_column if label_column in columns else None, source.count)
    rows = [{c: to_python(v) for c, v in dict(rows_of[i]).items()} for i in chosen]
    out: dict[str, list[dict[str, Any]]] = {}
    for command_name, spec in specs.items():
        examples = _examples_for(spec, commands[command_name], rows, columns, source, label_column, names)
        if examples:
            out[command_name] = examples
    return out, names


def _raw_rows_node(graph: Any, data: Mapping[str, Any], preprocess: bool) -> tuple[str, str | None]:
    """The node whose rows are what a served request sends (see the module docstring), and its split."""

    data_node, split = serving_data_node(data)
    if not preprocess:
        return data_node, split
    chain = [data_node]
    while graph.nodes[chain[-1]].inputs:
        chain.append(graph.nodes[chain[-1]].inputs[0])
    raw = chain[-1]
    for node_id in reversed(chain):  # from the loader towards the data node
        spec = graph.nodes[node_id]
        passes = (spec.role == "input" or spec.transform_name in PASSTHROUGH_TRANSFORMS) and not callable(
            getattr(spec.transform_cls, "transform_examples", None)
        )
        if not passes:
            break
        raw = node_id
    return raw, split


def _test_split(data: Mapping[str, Any]) -> str:
    return str((data.get("test") or {}).get("split") or "test")


def _split_of(output: Any, split: str, node: str, *, explicit: bool) -> Any:

    if is_dataset_dict(output) or isinstance(output, Mapping):
        if split in output:
            return output[split]
        if explicit:
            raise ConfigError(
                f"serve.examples.split: {node} has no split '{split}'{did_you_mean(split, list(output))}; "
                f"splits: {', '.join(output)}"
            )
        sys.stderr.write(f"[serve] no examples: {node} has no split '{split}' (set serve.examples.split)\n")
        return None
    return output if hasattr(output, "column_names") else None


def _class_names(rows: Any, label_column: str) -> list[str] | None:
    feature = (getattr(rows, "features", None) or {}).get(label_column)
    names = getattr(feature, "names", None)
    return [str(n) for n in names] if names else None


def _pick_rows(rows: Any, label_column: str | None, count: int) -> list[int]:
    """``count`` row indices, one per label first (examples of different classes), in the split's order."""
    total = len(rows)
    if count <= 0 or total == 0:
        return []
    if label_column is None:
        return list(range(min(count, total)))
    labels = list(rows[label_column])
    chosen: list[int] = []
    seen: set[str] = set()
    for i, label in enumerate(labels):
        key = repr(label)
        if key not in seen:
            seen.add(key)
            chosen.append(i)
            if len(chosen) == count:
                return chosen
    for i in range(total):
        if len(chosen) == count:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen)


def _examples_for(
    spec: Any,
    command: Any,
    rows: list[dict[str, Any]],
    columns: list[str],
    source: ExampleSource,
    label_column: str,
    names: list[str] | None,
) -> list[dict[str, Any]]:
    """One example per row (or one in all for a command with an ``array`` input), decoded as a request."""
    groups: dict[str, list[str]] = {}
    for name, column in spec.input_columns.items():
        groups.setdefault(column, []).append(name)
    picks: dict[str, str] = {}  # input -> the data column it is read from
    for names_in_group in groups.values():
        for name in names_in_group:
            data_type = spec.inputs[name]
            column = source.inputs.get(name, spec.input_columns[name])
            if data_type.type_name not in ("image", "file") and column in columns:
                picks[name] = column
                break
        else:
            if any(spec.inputs[n].required for n in names_in_group) or len(names_in_group) > 1:
                return []  # a needed input the rows cannot fill: no examples for this command
    if not picks:
        return []
    arrays = [n for n in picks if spec.inputs[n].type_name == "array"]
    if arrays:
        body = {n: [row[picks[n]] for row in rows] if n in arrays else rows[0][picks[n]] for n in picks}
        for n in arrays:
            limit = spec.inputs[n].max_length
            body[n] = body[n][:limit] if limit else body[n]
        candidates = [({"inputs": body}, None)]
    else:
        candidates = [({"inputs": {n: row[c] for n, c in picks.items()}}, row.get(label_column)) for row in rows]
    out: list[dict[str, Any]] = []
    for example, label in candidates:
        try:
            command.decode(example["inputs"])
        except ServingError as exc:
            sys.stderr.write(f"[serve] an example row of {spec.name} is left out: {exc.message}\n")
            continue
        if label is not None:
            example["label"] = names[label] if names and isinstance(label, int) and 0 <= label < len(names) else label
        out.append(example)
    return out


def class_names_for(command: Any, names: Sequence[Any] | None) -> list[str] | None:
    """Names of a classifier's classes for its probability vectors: ``names`` (from the executor or the
    data) when their count fits, else the ``oneOf`` of the command's ``category`` output."""
    categories = [t for t in command.outputs.values() if t.type_name == "category"]
    if not categories:
        return None
    size = len(categories[0].choices)
    if names and len(names) == size:
        return [str(n) for n in names]
    return [str(c) for c in categories[0].choices]


def label_vector_outputs(command: Any, names: Sequence[Any] | None) -> None:
    """Give a classifier's unlabelled probability vectors (its ``vector`` outputs as long as the class list)
    the class names, so the ``/ui`` draws ``great`` / ``other`` beside the bars instead of 0 / 1."""
    classes = class_names_for(command, names)
    if not classes:
        return
    for data_type in command.outputs.values():
        if data_type.type_name == "vector" and data_type.labels is None and data_type.length == len(classes):
            data_type.labels = list(classes)
