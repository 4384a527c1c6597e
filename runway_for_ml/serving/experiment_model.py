"""A trained experiment as a served model, from its config's ``serve:`` section; no model file needed.

::

    serve: {
      commands: {
        classify: {
          description: 'Which digit is this 8x8 image?',
          inputs: {
            // Each input fills the pipeline column of its name (or `column`). Inputs filling the same
            // column are alternatives: one of them must be given.
            pixels: { type: 'vector', length: 64, optional: true },
            image: { type: 'image', channels: 1, width: 8, height: 8, optional: true, column: 'pixels', scale: 16 },
          },
          outputs: {
            // Each output reads a column of the executor's serve_step (default: its own name).
            label: { type: 'category', oneOf: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], column: 'prediction' },
            probabilities: { type: 'vector', length: 10 },
          },
        },
      },
      max_batch_size: 32,        // optional server settings, overridden by runway serve's flags
    }

The section's keys, types, ranges and defaults are :class:`~runway_for_ml.config.models.ServeSection`'s
(docs/config-reference.md); the config loader builds it, and this module reads the section object.

A request's inputs become one raw example row, the data pipeline's per-example transforms run on it
(:class:`~runway_for_ml.serving.preprocess.ExamplePreprocessor`, with the statistics of training),
and the executor's ``serve_step(columns)`` answers a whole batch at once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.config import load_config
from runway_for_ml.config.models import ServeSection
from runway_for_ml.config.schema import check_section
from runway_for_ml.errors import ConfigError, RunwayError, check_keys
from runway_for_ml.experiment.consumed import checkpoint_sha256
from runway_for_ml.experiment.process import apply_thread_settings
from runway_for_ml.serving.data_types import BaseType, category, descriptor_type
from runway_for_ml.serving.examples import ExampleSource, label_vector_outputs, parse_examples, read_examples
from runway_for_ml.serving.exceptions import InferenceError, InvalidArgumentError, MissingInputError
from runway_for_ml.serving.model import RESERVED_ROUTES, Command, RunwayModel
from runway_for_ml.serving.preprocess import ExamplePreprocessor, FittedPreprocessor

__all__ = [
    "CommandSpec",
    "ServeSpec",
    "build_experiment_model",
    "load_experiment",
    "model_from_spec",
    "parse_serve_section",
    "serve_spec_of",
]

_COMMAND_KEYS = ("description", "inputs", "outputs")
_EXAMPLE = (
    "serve: { commands: { classify: { inputs: { pixels: { type: 'vector', length: 64 } }, "
    "outputs: { label: { type: 'category', oneOf: [0, 1], column: 'prediction' } } } } }"
)


@dataclass
class CommandSpec:
    """One served command of an experiment: typed inputs and outputs and the columns they map to."""

    name: str
    description: str | None
    inputs: dict[str, BaseType]
    outputs: dict[str, BaseType]
    input_columns: dict[str, str]
    input_scale: dict[str, float]
    output_columns: dict[str, str]

    def check_alternatives(self, values: dict[str, Any]) -> None:
        """Every column gets exactly one value: inputs filling the same column are alternatives."""
        by_column: dict[str, list[str]] = {}
        for name, column in self.input_columns.items():
            by_column.setdefault(column, []).append(name)
        for names in by_column.values():
            given = [n for n in names if n in values]
            if len(given) > 1:
                raise InvalidArgumentError(given[1], f"give either {' or '.join(repr(n) for n in names)}, not both")
            if not given:
                if len(names) == 1:
                    raise MissingInputError(names[0])
                raise MissingInputError(" or ".join(names))

    def alternative_groups(self) -> list[list[str]]:
        """Inputs that fill the same column, when there are several: one of each group must be sent."""
        by_column: dict[str, list[str]] = {}
        for name, column in self.input_columns.items():
            by_column.setdefault(column, []).append(name)
        return [sorted(names) for names in by_column.values() if len(names) > 1]

    def to_row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Decoded inputs -> one raw example row (images become arrays in 0..scale, flattened for vectors)."""
        import numpy as np

        row: dict[str, Any] = {}
        for name, value in values.items():
            data_type = self.inputs[name]
            if data_type.type_name == "image":
                array = np.asarray(value, dtype=np.float32) / 255.0 * self.input_scale.get(name, 1.0)
                value = array.reshape(-1) if _fills_vector(self, name) else array
            row[self.input_columns[name]] = value
        return row


def _fills_vector(spec: CommandSpec, name: str) -> bool:
    column = spec.input_columns[name]
    return any(spec.input_columns[n] == column and t.type_name == "vector" for n, t in spec.inputs.items())


@dataclass
class ServeSpec:
    """The validated ``serve:`` section: its commands parsed, and the section object itself."""

    commands: dict[str, CommandSpec]
    description: str | None = None
    # The typed section (server settings: max_batch_size, workers, ...; runway serve's flags override them).
    section: ServeSection = field(default_factory=ServeSection)
    # False: serve_step gets the raw inputs (e.g. a text executor that tokenises them itself).
    preprocess: bool = True
    # serve.examples: rows to read from the data at serve / export time (None: none), or written ones.
    example_source: ExampleSource | None = field(default_factory=ExampleSource)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def probe_commands(self) -> dict[str, Command]:
        """The commands as served (decoding and the alternatives check), without a function to run."""
        out: dict[str, Command] = {}
        for name, spec in self.commands.items():
            command = Command(name, _not_served, dict(spec.inputs), dict(spec.outputs), spec.description, True)
            command.check = spec.check_alternatives
            command.alternatives = spec.alternative_groups()
            out[name] = command
        return out


def _not_served(model: Any, batch: Any) -> Any:
    raise RuntimeError("a probe command is not served")


def parse_serve_section(section: ServeSection | Mapping[str, Any] | Any, where: str = "") -> ServeSpec:
    """The commands of a ``serve:`` section; an unknown key, data type or field is a ConfigError naming its path.

    ``section`` is the typed section built by the config loader (``cfg.section("serve")``), or a plain
    dict (an exported model's stored ``config.json``), validated here by the same model.
    """
    if not isinstance(section, ServeSection):
        if not isinstance(section, Mapping):
            raise ConfigError(f"{where}serve must be an object", hint=_EXAMPLE)
        section = check_section(dict(section), "serve", where=where)
    commands = section.commands
    if not commands:
        raise ConfigError(f"{where}serve.commands is missing or empty", hint=_EXAMPLE)
    specs: dict[str, CommandSpec] = {}
    for name, body in commands.items():
        path = f"serve.commands.{name}"
        if name in RESERVED_ROUTES or "/" in str(name):
            raise ConfigError(
                f"{where}{path}: '{name}' is a reserved route",
                hint=f"reserved: {', '.join(sorted(RESERVED_ROUTES - {''}))}",
            )
        if not isinstance(body, Mapping):
            raise ConfigError(f"{where}{path} must be an object with inputs and outputs", hint=_EXAMPLE)
        check_keys(body, _COMMAND_KEYS, path, where=where)
        inputs, outputs, in_cols, scales, out_cols = {}, {}, {}, {}, {}
        for kind in ("inputs", "outputs"):
            entries = body.get(kind)
            if not isinstance(entries, Mapping) or not entries:
                raise ConfigError(f"{where}{path}.{kind} is missing or empty", hint=_EXAMPLE)
            for key, descriptor in entries.items():
                key_path = f"{path}.{kind}.{key}"
                extra = ("column", "scale") if kind == "inputs" else ("column",)
                try:
                    data_type = descriptor_type(descriptor, key_path, extra_keys=extra).named(str(key))
                except ConfigError as exc:
                    raise ConfigError(f"{where}{exc.message}", hint=exc.hint) from exc
                column = descriptor.get("column", key)
                if not isinstance(column, str) or not column:
                    raise ConfigError(f"{where}{key_path}.column must be a column name")
                if kind == "inputs":
                    inputs[key], in_cols[key] = data_type, column
                    if "scale" in descriptor:
                        if data_type.type_name != "image" or not isinstance(descriptor["scale"], (int, float)):
                            raise ConfigError(f"{where}{key_path}.scale: a number, allowed on image inputs only")
                        scales[key] = float(descriptor["scale"])
                else:
                    outputs[key], out_cols[key] = data_type, column
        specs[str(name)] = CommandSpec(str(name), body.get("description"), inputs, outputs, in_cols, scales, out_cols)
    spec = ServeSpec(specs, section.description, section, section.preprocess)
    spec.example_source, spec.examples = parse_examples(section.examples, spec.probe_commands(), where)
    return spec


def load_experiment(ref: str | Path, project_root: Path | None = None) -> Any:
    """``Experiment.load`` plus the checks serving needs: a version still training is refused."""
    from runway_for_ml.experiment.experiment import Experiment

    exp = Experiment.load(str(ref) if not isinstance(ref, Path) else ref, project_root=project_root)
    status = exp.manifest.get("status")
    if status in ("created", "running"):
        raise RunwayError(
            f"{exp.version_name} is still training (status: {status})",
            hint=f"wait for it to finish, or serve the latest completed version: runway serve {exp.name}",
        )
    return exp


def serve_spec_of(exp: Any) -> ServeSpec:
    """The version's ``serve:`` section; a version trained before the section existed uses the experiment's file."""
    section: ServeSection | None = None
    where = f"{exp.layout.config_path}: "
    if exp.config.get("serve") is not None:
        section = exp.resolved_config.section("serve")
    elif exp.project_root is not None:
        config_file = Path(exp.project_root) / "configs" / "experiments" / f"{exp.name}.jsonnet"
        if config_file.is_file():
            config = load_config(config_file, project_root=exp.project_root)
            if config.data.get("serve") is not None:
                section, where = config.section("serve"), f"{config_file}: "
    if section is None:
        raise ConfigError(
            f"{exp.version_name} has no serve: section, so runway does not know which commands to serve",
            hint=f"add one to configs/experiments/{exp.name}.jsonnet, e.g. {_EXAMPLE}",
        )
    return parse_serve_section(section, where)


class ServedExperiment:
    """What setup returns: the executor in eval mode on its device and the per-example preprocessing."""

    def __init__(self, exp: Any, checkpoint: str, device: str | None, *, preprocess: bool = True) -> None:
        import torch

        apply_thread_settings(exp.config)
        if device in (None, "auto"):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.executor = exp.load_model(checkpoint, device=device)
        self.executor.eval()
        self.preprocess = _ExamplePreprocessorLazy(exp, enabled=preprocess)
        self.checkpoint_path = Path(exp.checkpoint(checkpoint))
        self.checkpoint = str(self.checkpoint_path)
        if not callable(getattr(self.executor, "serve_step", None)):
            raise RunwayError(
                f"executor {type(self.executor).__name__} has no serve_step(columns)",
                hint="derive it from runway_for_ml.BaseExecutor, or define serve_step(columns) -> dict of per-example columns",
            )

    def answer(self, spec: CommandSpec, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return answer_batch(self.executor, self.preprocess, spec, batch)


def answer_batch(
    executor: Any, preprocess: Any, spec: CommandSpec, batch: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Decoded inputs of a batch -> raw rows -> preprocessed rows -> ``serve_step`` -> one output dict each."""
    rows = preprocess([spec.to_row(values) for values in batch])
    # serve_step takes the batch as columns, as predict_step's batches and datasets' map(batched=True) are.
    names = list(rows[0]) if rows else []
    columns = executor.serve_step({name: [row.get(name) for row in rows] for name in names})
    if not isinstance(columns, Mapping):
        raise InferenceError(f"serve_step returned {type(columns).__name__}, not a dict of columns")
    host = {name: _to_host(value) for name, value in columns.items()}
    out: list[dict[str, Any]] = []
    for i in range(len(batch)):
        result: dict[str, Any] = {}
        for name, column in spec.output_columns.items():
            if column not in host:
                raise InferenceError(
                    f"output '{name}' reads column '{column}', but serve_step returned {', '.join(sorted(host))}; "
                    f"set serve.commands.{spec.name}.outputs.{name}.column"
                )
            result[name] = host[column][i]
        out.append(result)
    return out


class _ExamplePreprocessorLazy:
    """Builds the preprocessor on first use, once (reads the pipeline cache), thread-safely."""

    def __init__(self, exp: Any, *, enabled: bool = True) -> None:
        self.exp = exp
        self.enabled = enabled
        self._lock = threading.Lock()
        self._pre: Any = None

    def build(self) -> Any:
        if self._pre is None:
            with self._lock:
                if self._pre is None:
                    if not self.enabled:  # serve.preprocess: false
                        self._pre = FittedPreprocessor([])
                    else:
                        self._pre = ExamplePreprocessor(self.exp.resolved_config, self.exp.project_root)
        return self._pre

    def __call__(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.build()(rows)


def _to_host(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


def model_from_spec(name: str, spec: ServeSpec, checkpoint: str = "best") -> RunwayModel:
    """A :class:`RunwayModel` with the ``checkpoint`` option and the commands of ``spec`` (no setup yet).

    The command functions expect the model object to be a :class:`ServedExperiment`.
    """
    # A checkpoint given as a path is offered by its file name: /meta never shows the server's paths.
    shown_as = checkpoint if checkpoint in ("best", "last") else Path(str(checkpoint)).name
    choices = ["best", "last"] if checkpoint in ("best", "last") else [shown_as, "best", "last"]
    model = RunwayModel(name, spec.description or f"{name}, served by runway_for_ml")
    model.options = {
        "checkpoint": category(description="which checkpoint to load", choices=choices, default=shown_as).named(
            "checkpoint"
        )
    }
    for command_name, command_spec in spec.commands.items():

        def answer(
            served: ServedExperiment, batch: list[dict[str, Any]], command_spec: CommandSpec = command_spec
        ) -> Any:
            return served.answer(command_spec, batch)

        model.command(
            command_name,
            inputs=command_spec.inputs,
            outputs=command_spec.outputs,
            description=command_spec.description,
            batched=True,
        )(answer)
        model.commands[command_name].check = command_spec.check_alternatives
        model.commands[command_name].alternatives = command_spec.alternative_groups()
        model.commands[command_name].set_examples(spec.examples.get(command_name))
    return model


def build_experiment_model(exp: Any, *, checkpoint: str = "best", device: str | None = None) -> RunwayModel:
    """A :class:`RunwayModel` serving ``exp`` (an ``Experiment``) by its ``serve:`` section.

    Everything that can be checked without loading the model is checked now (the ``serve:`` section,
    the checkpoint), so that ``runway serve`` fails before it binds a port.
    """
    spec = serve_spec_of(exp)
    exp.checkpoint(checkpoint)
    model = model_from_spec(exp.version_name, spec, checkpoint)
    model.info = {"experiment": exp.name, "version": exp.version_name}

    read_once: list[bool] = []

    def setup(opts: dict[str, Any]) -> ServedExperiment:

        choice = checkpoint if opts["checkpoint"] == Path(str(checkpoint)).name else opts["checkpoint"]
        served = ServedExperiment(exp, choice, device, preprocess=spec.preprocess)
        # Fit the preprocessing (reads the pipeline cache) before the server says RUNNING.
        served.preprocess.build()
        if not read_once:  # examples and class names: read once, from the data (a re-setup keeps them)
            read_once.append(True)
            add_examples_and_labels(model, spec, exp, label_names=getattr(served.executor, "label_names", None))
        # The version and the checkpoint's file name and hash: never a path on the server's disk.
        model.info["checkpoint"] = {
            "name": served.checkpoint_path.name,
            "sha256": checkpoint_sha256(served.checkpoint_path),
        }
        model.info["device"] = served.device
        sys.stderr.write(f"[serve] {exp.version_name}: {served.checkpoint} on {served.device}\n")
        return served

    model.setup_fn = setup
    return model


def add_examples_and_labels(model: RunwayModel, spec: ServeSpec, exp: Any, label_names: Any = None) -> None:
    """Fill the served commands' ``examples`` (``serve.examples``, read from the test split) and name the
    classes of their probability vectors (the executor's ``label_names``, else the data's ``ClassLabel``
    names, else the ``category`` output's ``oneOf``). Examples that were not asked for explicitly and
    cannot be read only leave a note on stderr."""
    names = list(label_names) if label_names else None
    source = spec.example_source
    if source is not None:
        try:
            found, data_names = read_examples(
                exp.resolved_config,
                exp.project_root,
                spec.commands,
                model.commands,
                source,
                preprocess=spec.preprocess,
            )
        except ConfigError:
            if source.explicit:
                raise
            found, data_names = {}, None
        except Exception as exc:  # the data cannot be read: serve without examples
            if source.explicit:
                raise
            sys.stderr.write(f"[serve] no examples from the data: {type(exc).__name__}: {exc}\n")
            found, data_names = {}, None
        names = names or data_names
        for name, examples in found.items():
            if not model.commands[name].examples:
                model.commands[name].examples = examples
    for command in model.commands.values():
        label_vector_outputs(command, names)
