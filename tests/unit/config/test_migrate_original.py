"""runway migrate on configs shaped like the original framework's examples: meaning kept, or said exactly."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runway_for_ml.config import load_config
from runway_for_ml.config.migrate import migrate_config, migrate_file, render_config

sys.path.insert(0, str(Path(__file__).parent))
from original_configs import write_original

RUNWAY = str(Path(sys.executable).with_name("runway"))
DOCS = Path(__file__).resolve().parents[3] / "docs" / "migrating.md"


def _runway(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([RUNWAY, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def _steps(migration) -> dict[tuple[str, str], Any]:
    return {(s.action, s.old): s for s in migration.steps}


# ----------------------------------------------------------------------------- 1. optimizer and schedule


def test_adamw_gets_the_originals_transformers_defaults_and_says_so(tmp_path):
    m = migrate_file(write_original(tmp_path, "pairs"))
    params = m.config["train"]["optimizer_config"]["optimizer_params"]
    assert params == {"lr": 0.0001, "eps": 1e-6, "weight_decay": 0.0}
    sets = [s for s in m.steps if s.action == "set" and s.new.endswith(("eps", "weight_decay"))]
    assert {s.new.rsplit(".", 1)[1] for s in sets} == {"eps", "weight_decay"}
    assert all("transformers' AdamW" in s.why and s.was == "AdamW" for s in sets)

    import torch

    from runway_for_ml.executors.optim import build_optimizer

    opt = build_optimizer(torch.nn.Linear(2, 1).parameters(), m.config["train"]["optimizer_config"])
    assert type(opt) is torch.optim.AdamW and opt.defaults["eps"] == 1e-6 and opt.defaults["weight_decay"] == 0.0


def test_given_values_are_kept_and_correct_bias_false_is_left_to_fix():
    m = migrate_config(
        {
            "train": {
                "data_node": "output:X",
                "optimizer_config": {
                    "optimizer_name": "AdamW",
                    "optimizer_params": {"lr": 0.1, "eps": 1e-7, "correct_bias": False},
                },
            }
        }
    )
    assert m.config["train"]["optimizer_config"]["optimizer_params"] == {"lr": 0.1, "eps": 1e-7, "weight_decay": 0.0}
    assert ("todo", "train.optimizer_config.optimizer_params.correct_bias") in _steps(m)


def test_adafactor_stays_transformers_adafactor(tmp_path):
    m = migrate_file(write_original(tmp_path, "hub"))
    oc = m.config["train"]["optimizer_config"]
    assert oc["optimizer_name"] == "transformers.optimization.Adafactor"
    assert oc["optimizer_params"] == {"lr": 0.001, "relative_step": False, "scale_parameter": False}

    import torch
    from transformers.optimization import Adafactor

    from runway_for_ml.executors.optim import build_optimizer

    assert type(build_optimizer(torch.nn.Linear(2, 1).parameters(), oc)) is Adafactor


def test_adam_is_the_same_class_and_other_names_get_a_note(tmp_path):
    m = migrate_file(write_original(tmp_path, "pipeline_test"))
    assert m.config["train"]["optimizer_config"] == {"optimizer_name": "Adam", "optimizer_params": {"lr": 0.0001}}
    assert not [s for s in m.steps if s.old.startswith("train.optimizer_config") and s.action != "kept"]
    sgd = migrate_config({"train": {"optimizer_config": {"optimizer_name": "SGD"}}})
    assert "stopped with ValueError" in _steps(sgd)[("note", "train.optimizer_config.optimizer_name")].why


def _lrs(scheduler, steps: int = 8) -> list[float]:

    out = []
    for _ in range(steps):
        out.append(round(scheduler.optimizer.param_groups[0]["lr"], 6))
        scheduler.optimizer.step()
        scheduler.step()
    return out


@pytest.mark.parametrize("warmup", [0, 1, 3, 5])
def test_the_constant_schedule_gives_the_originals_lr_at_every_step(warmup):
    """The original: transformers' constant-with-warmup LambdaLR built at last_epoch=0 (initial_lr set)."""
    import torch
    from transformers import get_constant_schedule_with_warmup

    from runway_for_ml.executors.optim import build_optimizer, build_scheduler

    p = [torch.nn.Parameter(torch.zeros(1))]
    original_opt = torch.optim.SGD([{"params": p, "lr": 1.0, "initial_lr": 1.0}], lr=1.0)
    original = _lrs(get_constant_schedule_with_warmup(original_opt, warmup, last_epoch=0))

    old = {"optimizer_name": "SGD", "optimizer_params": {"lr": 1.0}, "scheduler_params": {"num_warmup_steps": warmup}}
    oc = migrate_config({"train": {"data_node": "output:X", "optimizer_config": old}}).config["train"][
        "optimizer_config"
    ]
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], oc)
    scheduler = build_scheduler(opt, oc, total_steps=8)
    ours = _lrs(scheduler) if scheduler is not None else [1.0] * 8
    assert ours == original


def test_linear_keeps_the_warmup_ramp_and_notes_the_decay_and_cosine_notes_its_nameerror():
    old = {"optimizer_name": "Adam", "scheduler": "linear", "scheduler_params": {"num_warmup_steps": 10}}
    m = migrate_config({"train": {"optimizer_config": old}})
    assert m.config["train"]["optimizer_config"]["scheduler_params"] == {"num_warmup_steps": 9}
    assert "one step ahead" in _steps(m)[("note", "train.optimizer_config.scheduler")].why
    header = render_config(m).split("\n{", 1)[0]
    assert (
        '//   train.optimizer_config.scheduler = "linear": the original\'s linear schedule ran one step ahead' in header
    )
    cosine = migrate_config({"train": {"optimizer_config": {"optimizer_name": "Adam", "scheduler": "cosine"}}})
    assert "NameError" in _steps(cosine)[("note", "train.optimizer_config.scheduler")].why


# ----------------------------------------------------------------------------- 2. validation batch size


def test_val_batch_size_is_the_originals_train_batch_size(tmp_path):
    m = migrate_file(write_original(tmp_path, "pairs"))
    assert m.config["train"]["batch_size"] == 8 and m.config["test"]["batch_size"] == 64
    assert m.config["train"]["val_batch_size"] == 8
    step = _steps(m)[("set", "train.batch_size")]
    assert step.new == "train.val_batch_size" and "validation loader used train.batch_size" in step.why


# ----------------------------------------------------------------------------- 3. LoadHFDataset


def test_dataset_path_and_name_become_the_path_the_original_loaded(tmp_path):
    m = migrate_file(write_original(tmp_path, "hub"))
    node = m.config["data_pipeline"]["transforms"]["input:LoadDialogs"]
    assert node["setup_kwargs"] == {"dataset_path": "GEM/schema_guided_dialog"}
    step = _steps(m)[("converted", "data_pipeline.transforms.input:LoadDialogs.setup_kwargs.dataset_name")]
    assert "load_dataset('GEM/schema_guided_dialog')" in step.why and "another dataset" in step.why
    beans = migrate_file(write_original(tmp_path, "pipeline_test"))
    assert beans.config["data_pipeline"]["transforms"]["input:LoadBeans"]["setup_kwargs"] == {"dataset_path": "beans"}


# ----------------------------------------------------------------------------- 4. split options


def test_the_split_keeps_its_options_and_the_originals_rows(tmp_path):
    m = migrate_file(write_original(tmp_path, "hub"))
    node = m.config["data_pipeline"]["transforms"]["process:Split"]
    assert node["transform_name"] == "runway_for_ml.data_module.data_transforms.SplitHFDatasetToTrainTestValidation"
    assert node["setup_kwargs"] == {
        "test_size": 0.2,
        "valid_size": 0.2,
        "train_test_split_kwargs": {"shuffle": False, "stratify_by_column": "label"},
    }
    import datasets

    from runway_for_ml.pipeline.transform import TRANSFORMS

    split = TRANSFORMS.get(node["transform_name"])()
    split.configure(test_size=0.2, valid_size=0.2, train_test_split_kwargs={"shuffle": False})
    out = split(datasets.DatasetDict({"train": datasets.Dataset.from_dict({"i": list(range(10))})}))
    # The original: 40% held out (the last 4 rows unshuffled), then half of it is validation.
    assert {k: v["i"] for k, v in out.items()} == {"train": [0, 1, 2, 3, 4, 5], "test": [6, 7], "validation": [8, 9]}


def test_an_unseeded_shuffled_split_gets_a_note():
    m = migrate_config(
        {
            "data_pipeline": {
                "transforms": {
                    "process:S": {
                        "transform_name": "SplitHFDatasetToTrainTestValidation",
                        "setup_kwargs": {"test_size": 0.1},
                    }
                }
            }
        }
    )
    assert (
        "numpy's global random state"
        in _steps(m)[("note", "data_pipeline.transforms.process:S.setup_kwargs.train_test_split_kwargs")].why
    )


# ----------------------------------------------------------------------------- 5. the pre-DAG format


def test_the_pre_dag_pipeline_is_reported_not_convertible_and_loader_sizes_are_mapped(tmp_path):
    source = write_original(tmp_path, "pre_dag")
    m = migrate_file(source)
    steps = _steps(m)
    for split in ("train", "test", "valid"):
        assert "not convertible" in steps[("todo", f"data_pipeline.transforms.{split}")].why
    assert "LoadLeafImages" in steps[("todo", "data_pipeline.in_features.0")].why
    assert "SelectColumns" in steps[("dropped", "data_pipeline.dataloaders_use_features")].why
    assert m.config["train"] == {"batch_size": 4, "val_batch_size": 4}
    assert m.config["test"] == {"batch_size": 4}
    assert "transforms" not in m.config["data_pipeline"]
    assert not [s for s in m.steps if s.action == "kept" and "transforms" in s.old]

    out = tmp_path / "leaves.jsonnet"
    proc = _runway("migrate", str(source), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    header = out.read_text().split("\n{", 1)[0]
    assert "// Still to fix before it runs" in header
    assert 'data_pipeline.transforms.train = [{"batched": 0, "kwargs": {}, "name": "ColorJitterTransform"' in header
    assert "not convertible: the pre-DAG format" in header


# ----------------------------------------------------------------------------- 6. exit status and header


def _project(folder: Path, *, registered: bool) -> Path:
    (folder / "configs" / "experiments").mkdir(parents=True)
    (folder / ".runway").write_text("")
    if registered:
        (folder / "data_processing").mkdir()
        (folder / "data_processing" / "__init__.py").write_text(
            "from runway_for_ml import BaseTransform, register_transform_functor\n\n\n"
            "@register_transform_functor\nclass LoadParaphrasePairs(BaseTransform):\n"
            "    def setup(self):\n        pass\n\n    def _call(self, data):\n        return data\n\n\n"
            "@register_transform_functor\nclass TokenizeParaphrasePairs(LoadParaphrasePairs):\n    pass\n"
        )
        (folder / "executors").mkdir()
        (folder / "executors" / "__init__.py").write_text(
            "from runway_for_ml import BaseExecutor, register_executor\n\n\n"
            "@register_executor\nclass PairClassifierExecutor(BaseExecutor):\n    pass\n"
        )
    return folder


def test_exit_1_lists_what_to_register_in_the_header_and_exit_0_once_registered(tmp_path):
    source = write_original(tmp_path / "old", "pairs")
    bare = _project(tmp_path / "bare", registered=False)
    out = bare / "configs" / "experiments" / "pairs.jsonnet"
    proc = _runway("migrate", str(source), "-o", str(out), cwd=bare)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = out.read_text()
    header = text.split("\n{", 1)[0]
    assert "register transform 'LoadParaphrasePairs'" in header
    assert "register executor 'PairClassifierExecutor'" in header
    assert "runway-train pairs" in header and "runway-train pairs-trial" not in text
    assert "runway-train EXP --resume" in header  # trainer_fit_paras' advice

    ported = _project(tmp_path / "ported", registered=True)
    out = ported / "configs" / "experiments" / "pairs.jsonnet"
    proc = _runway("migrate", str(source), "-o", str(out), cwd=ported)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "register" not in out.read_text() and "must be ported" not in proc.stdout
    assert "passes runway's config checks" in proc.stdout
    config_cmd = _runway("config", str(out), "--plain", cwd=ported)
    assert config_cmd.returncode == 0, config_cmd.stderr


def test_a_result_that_fails_validation_exits_1_with_the_reason_in_the_header(tmp_path):
    source = write_original(tmp_path, "pipeline_test")  # no use_data_node: train has no data_node
    out = tmp_path / "beans.jsonnet"
    proc = _runway("migrate", str(source), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 1
    assert "config: train: say where the training data comes from" in out.read_text().split("\n{", 1)[0]


# ----------------------------------------------------------------------------- 7. readable and idempotent


def test_every_changed_key_carries_its_original_key_and_value_and_a_second_run_changes_nothing(tmp_path):
    source = write_original(tmp_path, "hub")
    out = tmp_path / "dialog.jsonnet"
    assert _runway("migrate", str(source), "-o", str(out), cwd=tmp_path).returncode == 0
    text = out.read_text()
    m = migrate_file(source)
    assert load_config(out).data == m.config
    lines = text.splitlines()
    for step in m.changed:
        if step.action in ("dropped", "todo"):
            assert f"//   {step.origin()}" in text, step
            continue
        key = step.new.rsplit(".", 1)[1]
        at = [i for i, line in enumerate(lines) if re.match(rf"\s*'?{re.escape(key)}'?: ", line)]
        above = {lines[j].strip() for i in at for j in range(max(0, i - 3), i)}
        assert any(f"// {step.origin()}" in c for c in above), (step, at)
    assert "  dataset_path: 'GEM/schema_guided_dialog'," in text  # formatted jsonnet, not JSON
    assert "// Behaviour of the original that no setting here expresses" not in text  # Adafactor, 'step': no note

    before = out.read_bytes()
    again = _runway("migrate", str(out), "-o", str(out), cwd=tmp_path)
    assert again.returncode == 0 and "nothing to migrate" in again.stdout
    assert out.read_bytes() == before
    copy = _runway("migrate", str(out), "-o", str(tmp_path / "copy.jsonnet"), cwd=tmp_path)
    assert copy.returncode == 0 and (tmp_path / "copy.jsonnet").read_bytes() == before


# ----------------------------------------------------------------------------- 8. the original's import paths

WORKING = {
    "runway_for_ml.executors.base_executor": ("BaseExecutor", "runway_for_ml.executors.base"),
    "runway_for_ml.utils.eval_recorder": ("EvalRecorder", "runway_for_ml.metrics.recorder"),
    "runway_for_ml.data_module.data_pipeline": ("DataPipeline", "runway_for_ml.pipeline.runner"),
    "runway_for_ml.utils.global_variables": ("register_executor", "runway_for_ml.executors.base"),
    "runway_for_ml.data_ops.data_transforms": ("HFDatasetTransform", "runway_for_ml.pipeline.transform"),
}


@pytest.mark.parametrize("module", sorted(WORKING))
def test_original_paths_with_an_equivalent_import_the_same_object(module):
    name, home = WORKING[module]
    assert getattr(importlib.import_module(module), name) is getattr(importlib.import_module(home), name)


@pytest.mark.parametrize(
    "statement",
    [
        "from runway_for_ml.experiment import RunwayExperiment",
        "from runway_for_ml.utils import config_system",
        "import runway_for_ml.configs.configuration",
        "from runway_for_ml.utils.seed import set_seed",
        "from runway_for_ml.data_module.inspectors import DataPipelineInspector",
        "from runway_for_ml.utils.global_variables import Executor_Registry",
        "from runway_for_ml.data_module.data_transforms import GetEvaluationRecorder",
        "from runway_for_ml.data_module.data_transforms import RowWiseTransform",
        "from runway_for_ml.utils.util import batch_depad",
    ],
)
def test_original_paths_without_one_raise_an_import_error_naming_the_new_home(statement):
    with pytest.raises(ImportError) as info:
        exec(statement, {})
    assert type(info.value) is ImportError  # never a bare ModuleNotFoundError
    assert "is not part of this runway_for_ml: " in str(info.value)
    assert "docs/migrating.md" in str(info.value)


def test_original_data_transforms_names():
    import datasets

    from runway_for_ml.data_module.data_transforms import DummyTransform, keep_ds_columns

    ds = datasets.Dataset.from_dict({"a": [1], "b": [2]})
    dummy = DummyTransform()
    dummy.configure()
    assert dummy(ds) is ds
    assert keep_ds_columns(ds, ["b"]).column_names == ["b"]


# ----------------------------------------------------------------------------- Done when: the docs table


def _table_rows() -> list[tuple[str, str, str]]:
    text = DOCS.read_text()
    section = text.split("## What `runway migrate` writes, key by key", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows.append((cells[0], cells[1], cells[2]))
    return rows


def _pairs(cell: str) -> list[tuple[str, str]]:
    return [tuple(item.split(": ", 1)) for item in re.findall(r"`([^`]+: [^`]+)`", cell)]


def _set(config: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        config = config.setdefault(part, {})
    config[last] = value


def _get(config: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(config, dict) or part not in config:
            return "(removed)"
        config = config[part]
    return config


def test_the_docs_table_matches_the_code():
    rows = _table_rows()
    assert len(rows) >= 15
    for original, writes, why in rows:
        old: dict = {}
        for path, value in _pairs(original):
            _set(old, path, json.loads(value))
        expected = _pairs(writes)
        assert expected, writes
        new = migrate_config(old).config
        for path, value in expected:
            want = value if value == "(removed)" else json.loads(value)
            assert _get(new, path) == want, (original, path, _get(new, path))
        assert why


def test_the_cli_list_of_built_in_executors_is_the_registry_s():
    from runway_for_ml.cli.migrate_cmd import _BUILTIN_EXECUTORS
    from runway_for_ml.executors import base, classification, text  # noqa: F401 - they register the built-ins

    builtin = {n for n in base.EXECUTORS.names() if base.EXECUTORS.get(n).__module__.startswith("runway_for_ml.")}
    assert set(_BUILTIN_EXECUTORS) == builtin


def test_a_project_module_still_on_the_original_paths_is_a_line_to_fix_not_a_crash(tmp_path):
    source = write_original(tmp_path / "old", "pairs")
    project = _project(tmp_path / "half", registered=False)
    (project / "executors").mkdir()
    (project / "executors" / "__init__.py").write_text("from runway_for_ml.configs.configuration import ModelConfig\n")
    out = project / "configs" / "experiments" / "pairs.jsonnet"
    proc = _runway("migrate", str(source), "-o", str(out), cwd=project)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    header = out.read_text().split("\n{", 1)[0]
    assert "the project's code does not import" in header and "runway_for_ml.configs is not part of" in header
