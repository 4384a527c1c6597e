"""The writes a (sweep) submission makes: version folders in one step, the job registry, manifest updates."""

import json
import threading
from pathlib import Path

import pytest

from runway_for_ml.config import ResolvedConfig
from runway_for_ml.experiment.manifest import read_manifest, update_manifest
from runway_for_ml.experiment.names import NamedExperiment
from runway_for_ml.experiment.versions import create_versions
from runway_for_ml.launcher.jobs import JobRecord, find_jobs, list_jobs, read_job, save_job, save_jobs
from runway_for_ml.launcher.sweep import _copier


def _exp(tmp_path: Path) -> NamedExperiment:
    (tmp_path / "configs" / "experiments").mkdir(parents=True)
    (tmp_path / "configs" / "experiments" / "digits.jsonnet").write_text("{}\n")
    return NamedExperiment("digits", tmp_path)


def _configs(n: int) -> list[ResolvedConfig]:
    return [ResolvedConfig.from_dict({"meta": {"seed": i}, "eval": {"key_metric": "acc"}}) for i in range(n)]


def test_create_versions_allocates_consecutive_new_folders_with_config_and_manifest(tmp_path):
    exp = _exp(tmp_path)
    (exp.experiments_dir / "digits_V1").mkdir(parents=True)  # an existing version is never reused
    env = {"host": "h", "git": None}
    dirs = create_versions(
        exp,
        _configs(3),
        command_line=["runway-train"],
        environment=env,
        extra_manifests=[{"sweep": {"point": i}} for i in range(3)],
    )
    assert [d.name for d in dirs] == ["digits_V2", "digits_V3", "digits_V4"]
    for i, d in enumerate(dirs):
        assert json.loads((d / "train" / "config.json").read_text())["meta"]["seed"] == i
        manifest = read_manifest(d)
        assert (manifest["version"], manifest["status"], manifest["sweep"]) == (i + 2, "created", {"point": i})
        assert manifest["environment"] == env and manifest["key_metric"] == "acc"
        assert (d / "train" / "checkpoints").is_dir() and (d / "train" / "logs").is_dir()
        assert not list((d / "train").glob("*.tmp")) and not list((d / "train").glob("*.lock"))


def test_create_versions_removes_every_folder_it_made_when_one_fails(tmp_path):
    exp = _exp(tmp_path)
    bad = {(1, 2): "a tuple key cannot be written as JSON"}
    with pytest.raises(TypeError):
        create_versions(exp, _configs(3), command_line=[], environment={}, extra_manifests=[{}, {"x": bad}, {}])
    assert exp.versions() == []


def test_concurrent_create_versions_never_share_a_folder(tmp_path):
    exp = _exp(tmp_path)
    made: list[Path] = []

    def worker() -> None:
        made.extend(create_versions(exp, _configs(4), command_line=[], environment={}))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == len(set(made)) == 12
    assert sorted(int(d.name.rsplit("_V", 1)[1]) for d in made) == list(range(12))


def _record(job_id: str, **kw) -> JobRecord:
    return JobRecord(job_id, "train", "2024-01-01T00:00:00", "o", "e", "f", **kw)


def test_a_job_array_is_registered_in_one_file_and_read_back_per_task(tmp_path):
    path = save_jobs(tmp_path, [_record(f"77_{i}", point=i) for i in range(3)])
    assert path.name == "77.json" and len(list(path.parent.glob("*.json"))) == 1
    save_job(tmp_path, _record("78"))
    save_job(tmp_path, _record("60_5"))  # a task registered on its own (older registries) is still read
    assert [r.job_id for r in list_jobs(tmp_path)] == ["60_5", "77_0", "77_1", "77_2", "78"]
    assert [r.point for r in find_jobs(tmp_path, ["77_2", "60_5", "99", "77_0"])] == [2, None, 0]
    assert read_job(path) is None and read_job(path.with_name("78.json")).job_id == "78"


def test_recording_queued_does_not_undo_a_job_that_already_started(tmp_path):
    version = tmp_path / "digits_V0"

    def started(m):
        return (m.get("slurm") or {}).get("job_id") == "5"

    update_manifest(version, status="running", slurm={"job_id": "5", "job_started_at": "t"})  # the job, first
    update_manifest(version, status="queued", slurm={"stdout": "o"}, keep_status=started)
    manifest = read_manifest(version)
    assert manifest["status"] == "running" and manifest["slurm"] == {
        "job_id": "5",
        "job_started_at": "t",
        "stdout": "o",
    }
    update_manifest(version, status="failed", slurm={"job_id": "4"})  # an earlier job of a resumed version
    update_manifest(version, status="queued", slurm={"job_id": "5"}, keep_status=started)
    assert read_manifest(version)["status"] == "queued"


def test_sweep_point_copies_are_deep_and_independent():
    base = {"train": {"opt": {"lr": 0.1}, "layers": [1, 2]}, "meta": {"seed": 0}}
    copy = _copier(base)
    a, b = copy(), copy()
    a["train"]["opt"]["lr"] = 0.5
    a["train"]["layers"].append(3)
    assert b == base and base["train"]["opt"]["lr"] == 0.1 and base["train"]["layers"] == [1, 2]
    odd = {"k": (1, 2)}  # not plain JSON: copied with deepcopy, types kept
    assert _copier(odd)() == {"k": (1, 2)}
