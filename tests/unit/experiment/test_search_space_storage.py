"""The pieces of ``runway search`` below the trials (space, journal storage with heartbeats), on a real journal: no training, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import optuna
import pytest

from runway_for_ml.config.search_section import check_search_section
from runway_for_ml.errors import ConfigError
from runway_for_ml.experiment import search_space as space
from runway_for_ml.experiment import search_storage as storage


def _section(**extra):
    space = {
        "train.optimizer_config.optimizer_params.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "executor.model_config.hidden_dims": {"type": "categorical", "choices": [[64], [128, 64]]},
        "train.batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
    }
    return check_search_section({"metric": "val_accuracy", "space": space, **extra})


def _study(tmp_path, section):
    study_dir = tmp_path / "digits_search_S0"
    study_dir.mkdir()
    (study_dir / "study.json").write_text(json.dumps({"trials": 4, "search": section.model_dump(mode="json")}))
    journal = storage.open_storage(study_dir)
    study = optuna.create_study(study_name=study_dir.name, storage=journal, direction="maximize")
    return study_dir, study


def test_list_choices_travel_as_json_and_come_back_as_config_values(tmp_path):
    section = _section()
    _, study = _study(tmp_path, section)
    trial = study.ask(space.distributions(section))
    params = space.decode_params(section, trial.params)
    assert params["executor.model_config.hidden_dims"] in ([64], [128, 64])
    assert params["train.batch_size"] in (16, 32, 48, 64)
    assert list(params) == list(section.space)
    assert space.apply_params({"train": {"batch_size": 8}}, params)["train"]["batch_size"] == params["train.batch_size"]


def test_a_trial_whose_worker_died_is_failed_and_enqueued_again_with_its_params(tmp_path):
    section = _section()
    study_dir, study = _study(tmp_path, section)
    trial = study.ask(space.distributions(section))
    trial.set_user_attr("version", "digits_V3")
    # A heartbeat written by a process of this machine that has exited since (a worker killed with -9).
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    beat = {"machine": storage.machine_id(), "pid": int(dead.stdout), "at": time.time()}
    (study_dir / "heartbeats").mkdir(exist_ok=True)
    (study_dir / "heartbeats" / f"{trial._trial_id}.json").write_text(json.dumps(beat))
    # A live trial of this process is not stale.
    alive = study.ask(space.distributions(section))
    study._storage.record_heartbeat(alive._trial_id)

    optuna.storages.fail_stale_trials(study)

    states = {t.number: t.state.name for t in study.get_trials()}
    assert states[trial.number] == "FAIL" and states[alive.number] == "RUNNING"
    (retry,) = [t for t in study.get_trials() if t.state.name == "WAITING"]
    assert retry.params == study.trials[trial.number].params
    assert retry.user_attrs["version"] == "digits_V3" and retry.system_attrs["retry_history"] == [trial.number]
    # The next ask takes the retry, with the same params.
    again = study.ask(space.distributions(section))
    assert again.number == retry.number and again.params == retry.params


def test_a_heartbeat_from_another_machine_counts_only_after_the_grace_period(tmp_path, monkeypatch):
    section = _section()
    study_dir, study = _study(tmp_path, section)
    trial = study.ask(space.distributions(section))
    (study_dir / "heartbeats").mkdir(exist_ok=True)
    path = study_dir / "heartbeats" / f"{trial._trial_id}.json"
    path.write_text(json.dumps({"machine": "other-node", "pid": 1, "at": time.time()}))
    assert study._storage._get_stale_trial_ids(study._study_id) == []
    path.write_text(json.dumps({"machine": "other-node", "pid": 1, "at": time.time() - storage.GRACE_PERIOD_S - 1}))
    assert study._storage._get_stale_trial_ids(study._study_id) == [trial._trial_id]


def test_samplers_and_pruners_are_built_from_the_section():
    assert isinstance(space.build_sampler(_section(), 0), optuna.samplers.TPESampler)
    grid = _section(
        sampler="grid",
        space={"a": {"type": "int", "low": 1, "high": 3}, "b": {"type": "categorical", "choices": ["x", "y"]}},
    )
    assert space.grid_size(grid) == 6
    hyperband = space.build_pruner(_section(pruner="hyperband"), {"train": {"trainer_paras": {"max_epochs": 9}}})
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert isinstance(space.build_pruner(_section(pruner="none"), {}), optuna.pruners.NopPruner)
    with pytest.raises(ConfigError, match=r"search\.sampler_kwargs: .*n_startup"):
        space.build_sampler(_section(sampler_kwargs={"n_startup": 3}), 0)


def test_metric_names_with_a_slash_resolve_to_the_logged_key():
    assert space.resolve_metric({"val_accuracy": 1.0}, "val/accuracy") == "val_accuracy"
    assert space.resolve_metric({"val/accuracy": 1.0}, "val/accuracy") == "val/accuracy"
    assert space.resolve_metric({"val_loss": 1.0}, "val_accuracy") is None
