"""``runway export``: a trained version as a self-contained Runway model folder, and its catalog entry.

The folder holds everything ``python runway_model.py`` needs besides installed packages::

    runway_model.py     SDK-style model file: setup / command / run (this module's ExportedModel does the work)
    runway.yml          build description (the Runway Model SDK's schema)
    model.ckpt          the checkpoint
    config.json         the resolved config the version was trained with (its serve: section included)
    preprocess.pkl      the pipeline's per-example transforms with their fitted statistics
    code/               the project's packages (data_processing, executors, modeling, metrics)
    requirements.txt    versions pinned from the version's manifest
    Dockerfile          a CPU image serving on port 9000
    export.json         what was exported, from where, when

and the catalog (``models.json`` beside the folder by default) gets this model's entry added or replaced.

>>> export_version(Experiment.load("digits_V0"), Path("exported/digits"))  # doctest: +SKIP
PosixPath('exported/digits')
"""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.config import load_config
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.consumed import checkpoint_sha256
from runway_for_ml.experiment.process import apply_thread_settings
from runway_for_ml.project import import_user_modules
from runway_for_ml.serving.experiment_model import (
    CommandSpec,
    ServeSpec,
    add_examples_and_labels,
    answer_batch,
    model_from_spec,
    parse_serve_section,
    serve_spec_of,
)
from runway_for_ml.serving.preprocess import ExamplePreprocessor, FittedPreprocessor

__all__ = ["ExportedModel", "export_version", "exported_info", "load_spec", "update_catalog"]

USER_PACKAGES = ("data_processing", "executors", "modeling", "metrics")
DEFAULT_PORT = 9000
_PYTORCH_INDEX = {"cpu": "https://download.pytorch.org/whl/cpu"}


# ---------------------------------------------------------------------- runtime (used by runway_model.py)


def load_spec(folder: str | Path) -> ServeSpec:
    """The ``serve:`` section stored in an exported folder's ``config.json``."""
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    return parse_serve_section(config.get("serve") or {}, f"{Path(folder) / 'config.json'}: ")


def exported_info(folder: str | Path) -> dict[str, Any]:
    """``/meta``'s extra fields of an exported folder: the version and the checkpoint's name and hash."""
    try:
        record = json.loads((Path(folder) / "export.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    info: dict[str, Any] = {k: record[k] for k in ("experiment", "version") if record.get(k)}
    if record.get("checkpoint_sha256"):
        info["checkpoint"] = {
            "name": record.get("checkpoint_name") or "model.ckpt",
            "sha256": record["checkpoint_sha256"],
        }
    return info


class ExportedModel:
    """The executor and fitted preprocessing of an exported folder; what its ``setup`` returns."""

    def __init__(self, folder: str | Path, checkpoint: str = "model.ckpt", device: str | None = None) -> None:
        import torch

        from runway_for_ml.executors import build_executor

        self.folder = Path(folder).resolve()
        self.config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        self.spec = load_spec(self.folder)
        import_user_modules(self.folder / "code", (self.config.get("meta") or {}).get("user_modules") or ())
        apply_thread_settings(self.config)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.executor = build_executor(self.config, None)
        state = torch.load(self.folder / checkpoint, map_location="cpu", weights_only=False)
        self.executor.load_state_dict(state["state_dict"])
        self.executor.to(self.device).eval()
        with (self.folder / "preprocess.pkl").open("rb") as handle:
            self.preprocess = pickle.load(handle)  # written by runway export, from this folder only

    def answer(self, command: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return answer_batch(self.executor, self.preprocess, self.spec.commands[command], batch)


# ---------------------------------------------------------------------- export


def export_version(
    exp: Any,
    out_dir: Path,
    *,
    checkpoint: str = "best",
    catalog: Path | None = None,
    force: bool = False,
    port: int = DEFAULT_PORT,
    tag: str | None = None,
) -> Path:
    """Write the exported folder for ``exp`` (an ``Experiment``) and update the catalog; return the folder.

    Everything is assembled in a temporary sibling folder and renamed into place: a failed export
    leaves nothing behind. An existing non-empty ``out_dir`` is refused unless ``force``.
    """
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise RunwayError(
            f"{out_dir} exists and is not empty", hint="choose another -o folder, or add --force to replace it"
        )
    spec = serve_spec_of(exp)
    ckpt = exp.checkpoint(checkpoint)
    project_root = exp.project_root
    if project_root is None:
        raise RunwayError(
            f"{exp.version_name}: its project folder is unknown", hint="run runway export inside the project"
        )
    config = dict(exp.config)
    config["serve"] = exp.config.get("serve") or _section_from_spec_source(exp)
    fitted = _fit_preprocessing(exp, spec, config, project_root)
    config["serve"] = _section_with_examples(exp, spec, config["serve"])

    staging = out_dir.parent / f".{out_dir.name}.export-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _write_folder(staging, exp, spec, ckpt, config, fitted, port)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    catalog = catalog or out_dir.parent / "models.json"
    update_catalog(catalog, catalog_entry(exp, spec, out_dir, port=port, tag=tag))
    return out_dir


def _fit_preprocessing(exp: Any, spec: Any, config: dict[str, Any], project_root: Path) -> Any:
    """Fit the per-example preprocessing now (reads the pipeline cache), so the folder needs no data."""
    from runway_for_ml.experiment.checks import import_project_code

    import_project_code(config, project_root)
    if spec.preprocess:
        return ExamplePreprocessor(exp.resolved_config, project_root).fitted()
    return FittedPreprocessor([])  # serve.preprocess: false: serve_step takes the raw inputs


def _section_with_examples(exp: Any, spec: ServeSpec, section: Mapping[str, Any]) -> dict[str, Any]:
    """The serve: section as exported: ``examples`` read from the test split now (the folder has no data)
    and the class names of probability vectors written as their ``labels``."""
    import copy

    model = model_from_spec(exp.version_name, spec)
    add_examples_and_labels(model, spec, exp, label_names=_label_names(exp))
    out = copy.deepcopy(dict(section))
    out["examples"] = [
        {"command": name, **example} for name, command in model.commands.items() for example in command.examples
    ]
    for name, command in model.commands.items():
        descriptors = out["commands"][name]["outputs"]
        for output, data_type in command.outputs.items():
            if data_type.type_name == "vector" and data_type.labels and "labels" not in descriptors[output]:
                descriptors[output] = {**descriptors[output], "labels": list(data_type.labels)}
    return out


def _label_names(exp: Any) -> list[Any] | None:
    """``executor.model_config.label_names`` when the config names the classes (else the data's are used)."""
    names = ((exp.config.get("executor") or {}).get("model_config") or {}).get("label_names")
    return list(names) if names else None


def _write_folder(
    staging: Path, exp: Any, spec: Any, ckpt: Path, config: dict[str, Any], fitted: Any, port: int
) -> None:
    """The exported folder's files: checkpoint, config, preprocessing, project code, model file, packaging."""

    project_root = exp.project_root
    shutil.copy2(ckpt, staging / "model.ckpt")
    (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    with (staging / "preprocess.pkl").open("wb") as handle:
        pickle.dump(fitted, handle, protocol=pickle.HIGHEST_PROTOCOL)
    code = staging / "code"
    code.mkdir()
    for package in USER_PACKAGES:
        if (Path(project_root) / package).is_dir():
            shutil.copytree(
                Path(project_root) / package, code / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
    versions = (exp.manifest.get("environment") or {}).get("versions") or {}
    (staging / "runway_model.py").write_text(runway_model_source(exp.version_name, spec, port), encoding="utf-8")
    (staging / "requirements.txt").write_text(requirements(versions), encoding="utf-8")
    (staging / "runway.yml").write_text(runway_yml(exp.manifest, versions), encoding="utf-8")
    (staging / "Dockerfile").write_text(dockerfile(exp.manifest, port), encoding="utf-8")
    (staging / "export.json").write_text(
        json.dumps(
            {
                "version": exp.version_name,
                "experiment": exp.name,
                "source": str(exp.path),
                "checkpoint": str(ckpt),
                "checkpoint_name": Path(ckpt).name,
                "checkpoint_sha256": checkpoint_sha256(Path(ckpt)),
                "commands": list(spec.commands),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def _section_from_spec_source(exp: Any) -> dict[str, Any]:
    """The serve: section of the experiment's config file, for a version trained before it existed."""

    config_file = Path(exp.project_root) / "configs" / "experiments" / f"{exp.name}.jsonnet"
    return load_config(config_file, project_root=exp.project_root).data.get("serve") or {}


def runway_model_source(name: str, spec: ServeSpec, port: int = DEFAULT_PORT) -> str:
    """The SDK-style ``runway_model.py`` of an exported folder (``--host`` / ``--port``, or ``RW_HOST`` / ``RW_PORT``)."""
    lines = [
        f'"""{name}, exported by runway_for_ml: `python runway_model.py` serves it on http://127.0.0.1:{port}.',
        "",
        f"    python runway_model.py --port {port + 1}               # another port (0 picks a free one)",
        "    python runway_model.py --host 0.0.0.0 --port 8080      # reachable from other machines",
        f"    RW_PORT={port + 1} python runway_model.py               # the same, as the Runway Model SDK does it",
        "",
        "The flags win over the environment: RW_HOST, RW_PORT, RW_MODEL_OPTIONS (JSON), RW_DEBUG, RW_META=1",
        "(print the /meta manifest and exit). The commands' inputs and outputs are the serve: section of",
        'config.json; export.json says which version and checkpoint this is."""',
        "",
        "import argparse",
        "import os",
        "from pathlib import Path",
        "",
        "import runway_for_ml.serving as runway",
        "from runway_for_ml.serving.data_types import category",
        "from runway_for_ml.serving.export import ExportedModel, exported_info, load_spec",
        "",
        f"NAME = {name!r}",
        f"PORT = {port}",
        "HERE = Path(__file__).resolve().parent",
        "spec = load_spec(HERE)",
        "runway.default_model.info = exported_info(HERE)  # /meta: the version, the checkpoint's name and hash",
        "",
        "",
        '@runway.setup(options={"checkpoint": category(choices=["model.ckpt"], default="model.ckpt")})',
        "def setup(opts):",
        '    return ExportedModel(HERE, opts["checkpoint"])',
        "",
    ]
    for command in spec.commands:
        function = (
            command if command.isidentifier() else "command_" + "".join(c if c.isalnum() else "_" for c in command)
        )
        lines += [
            "",
            f"_{function} = spec.commands[{command!r}]",
            "",
            "",
            "@runway.command(",
            f"    {command!r},",
            f"    inputs=_{function}.inputs,",
            f"    outputs=_{function}.outputs,",
            f"    description=_{function}.description,",
            "    batched=True,",
            ")",
            f"def {function}(model, batch):",
            f"    return model.answer({command!r}, batch)",
            "",
            "",
            f"runway.default_model.commands[{command!r}].check = _{function}.check_alternatives",
            f"runway.default_model.commands[{command!r}].alternatives = _{function}.alternative_groups()",
            f"runway.default_model.commands[{command!r}].set_examples(spec.examples.get({command!r}))",
            "",
        ]
    lines += [
        "",
        "def main(argv=None):",
        "    parser = argparse.ArgumentParser(",
        '        description=f"Serve {NAME} over HTTP (the Runway Model SDK protocol; /ui to try it).",',
        '        epilog="Without the flags, RW_HOST and RW_PORT choose the address, else 127.0.0.1:" + str(PORT) + ".",',
        "    )",
        "    parser.add_argument(",
        '        "--host", default=None, help="address to bind (default $RW_HOST, else 127.0.0.1; 0.0.0.0: every interface)"',
        "    )",
        "    parser.add_argument(",
        '        "--port", type=int, default=None, help=f"port (default $RW_PORT, else {PORT}; 0 picks a free one)"',
        "    )",
        "    args = parser.parse_args(argv)",
        "    # runway.run reads RW_HOST / RW_PORT over its arguments: a flag given sets them, so it wins.",
        "    if args.host is not None:",
        '        os.environ["RW_HOST"] = args.host',
        "    if args.port is not None:",
        '        os.environ["RW_PORT"] = str(args.port)',
        '    runway.run(host="127.0.0.1", port=PORT, name=NAME)',
        "",
        "",
        'if __name__ == "__main__":',
        "    main()",
        "",
    ]
    return "\n".join(lines)


def _torch_pin(versions: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``2.13.0+cpu`` -> (``2.13.0``, ``cpu``)."""
    raw = versions.get("torch")
    if not raw:
        return None, None
    base, _, local = str(raw).partition("+")
    return base, local or None


def requirements(versions: Mapping[str, str]) -> str:
    """``requirements.txt`` pinned to the versions the model was trained with (torch without its build tag)."""
    names = {"pytorch-lightning", "torchmetrics", "datasets", "transformers", "runway_for_ml"}
    lines = ["# Pinned from the training manifest of the exported version."]
    torch_version, _ = _torch_pin(versions)
    if torch_version:
        lines.append(f"torch=={torch_version}")
    for name in sorted(names):
        if versions.get(name):
            lines.append(f"{name}=={versions[name]}")
    lines += ["uvicorn>=0.30", "pillow>=10"]
    return "\n".join(lines) + "\n"


def runway_yml(manifest: Mapping[str, Any], versions: Mapping[str, str]) -> str:
    """``runway.yml`` in the Runway Model SDK's schema."""
    python = ".".join(str((manifest.get("environment") or {}).get("python") or "3.11").split(".")[:2])
    torch_version, build = _torch_pin(versions)
    cuda = "12.1"
    if build and build.startswith("cu") and build[2:].isdigit():
        cuda = f"{build[2:-1]}.{build[-1]}"
    cpu_index = _PYTORCH_INDEX["cpu"]
    pin = f"torch=={torch_version}" if torch_version else "torch"
    return "\n".join(
        [
            "# Written by runway export; schema: the Runway Model SDK's runway.yml.",
            "version: 0.1",
            f"python: {python}",
            "entrypoint: python runway_model.py",
            f"cuda: {cuda}",
            "framework: pytorch",
            "spec:",
            "  cpu: True",
            "  gpu: True",
            "files:",
            "  ignore:",
            "    - __pycache__/*",
            "    - '*.pyc'",
            "build_steps:",
            f"  - if_cpu: pip install {pin} --index-url {cpu_index}",
            f"  - if_gpu: pip install {pin}",
            "  - pip install -r requirements.txt",
            "",
        ]
    )


def dockerfile(manifest: Mapping[str, Any], port: int = DEFAULT_PORT) -> str:
    """A CPU image serving the model on ``port`` (bound to 0.0.0.0 inside the container)."""
    python = ".".join(str((manifest.get("environment") or {}).get("python") or "3.11").split(".")[:2])
    return "\n".join(
        [
            "# Written by runway export. Build: docker build -t my-model . ; run: docker run -p 9000:9000 my-model",
            f"FROM python:{python}-slim",
            "WORKDIR /model",
            "COPY requirements.txt .",
            "RUN pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu \\",
            " && pip install --no-cache-dir -r requirements.txt",
            "COPY . .",
            f"ENV RW_HOST=0.0.0.0 RW_PORT={port}",
            f"EXPOSE {port}",
            'CMD ["python", "runway_model.py"]',
            "",
        ]
    )


def _size(folder: Path) -> list[str]:
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if total >= scale:
            return [f"{total / scale:.2f}", unit]
    return [str(total), "B"]


def catalog_entry(
    exp: Any, spec: ServeSpec, folder: Path, *, port: int = DEFAULT_PORT, tag: str | None = None
) -> dict[str, Any]:
    """This model's ``models.json`` entry (the fields of the Runway models catalog)."""
    first: CommandSpec = next(iter(spec.commands.values()))
    return {
        "name": exp.version_name,
        "tag": tag or f"{exp.name.lower()}:{exp.version_name.rsplit('_V', 1)[-1]}",
        "specs": {"cpu": True, "gpu": True},
        "port": str(port),
        "query": {"http": {"route": first.name, "method": "post", "type": "JSON"}},
        "size": _size(folder),
        "needsTraining": False,
        "description": {
            "first": spec.description or f"{exp.name}, trained with runway_for_ml ({exp.version_name})",
            "framework": "PyTorch",
        },
        "inputs": sorted({t.type_name.capitalize() for c in spec.commands.values() for t in c.inputs.values()}),
        "path": str(folder),
        "commands": list(spec.commands),
    }


def update_catalog(path: Path, entry: dict[str, Any]) -> None:
    """Add ``entry`` to the JSON list in ``path`` or replace the entry of the same name (atomic write)."""
    path = Path(path)
    entries: list[dict[str, Any]] = []
    if path.exists():
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RunwayError(f"{path} is not valid JSON ({exc})", hint="fix or remove the catalog file") from exc
        if not isinstance(entries, list):
            raise RunwayError(f"{path} is not a JSON list of models", hint="fix or remove the catalog file")
    entries = [e for e in entries if not (isinstance(e, dict) and e.get("name") == entry["name"])]
    entries.append(entry)
    write_text_atomic(path, json.dumps(entries, indent=2) + "\n")
    sys.stderr.write(f"[export] catalog {path}: {entry['name']} ({len(entries)} models)\n")
