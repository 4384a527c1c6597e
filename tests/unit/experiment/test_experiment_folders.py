"""Experiment names, configs, lineage, version folders and manifests (no torch needed)."""

import json
import threading
from pathlib import Path

import pytest

from runway_for_ml.config import ResolvedConfig
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.manifest import manifest_path, read_manifest, update_manifest
from runway_for_ml.experiment.names import (
    NamedExperiment,
    create_experiment_config,
    read_lineage,
    resolve_experiment,
    resolve_infer_dir,
    resolve_version,
    split_version_name,
    validate_name,
)
from runway_for_ml.experiment.versions import create_version

CONFIG = "{ meta: { seed: 0 }, train: { data_node: 'output:X', batch_size: 8 }, eval: { key_metric: 'accuracy' } }\n"


@pytest.fixture
def project(bare_project: Path) -> Path:
    (bare_project / "configs" / "experiments" / "digits.jsonnet").write_text(CONFIG)
    return bare_project


@pytest.mark.parametrize("bad", ["a/b", "..", "a..b", "has space", "", "digits_V3", "-x", "tab\tname"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(RunwayError, match="invalid experiment name"):
        validate_name(bad)


def test_good_names_pass() -> None:
    for good in ("digits", "digits_small", "bert-lr3e-4", "v1.2"):
        assert validate_name(good) == good


def test_unknown_experiment_suggests_close_name(project: Path) -> None:
    with pytest.raises(RunwayError) as info:
        resolve_experiment("digts", project)
    assert "did you mean 'digits'" in str(info.value)


def test_clone_records_lineage_and_refuses_existing(project: Path) -> None:
    path = create_experiment_config(project, "small", from_name="digits")
    text = path.read_text()
    assert text.startswith("// Experiment 'small', cloned from 'digits'")
    assert CONFIG.strip() in text
    assert read_lineage(path)["parent"] == "digits"
    with pytest.raises(RunwayError, match="already exists"):
        create_experiment_config(project, "small", from_name="digits")
    with pytest.raises(RunwayError, match="unknown experiment 'nope'"):
        create_experiment_config(project, "other", from_name="nope")
    assert not (project / "configs" / "experiments" / "other.jsonnet").exists()
    # A clone of a clone starts from the parent's body, with one header only.
    grandchild = create_experiment_config(project, "smaller", from_name="small")
    assert grandchild.read_text().count("// Experiment '") == 1
    assert read_lineage(grandchild)["parent_lineage"]["parent"] == "digits"


def test_new_experiment_from_template(project: Path) -> None:
    path = create_experiment_config(project, "fresh")
    assert "import '../model_config.libsonnet'" in path.read_text()
    assert read_lineage(path)["parent"] is None


def test_versions_are_numbered_and_never_reused(project: Path) -> None:
    exp = resolve_experiment("digits", project)
    config = ResolvedConfig.from_dict(json.loads(json.dumps({"meta": {"seed": 0}, "eval": {"key_metric": "acc"}})))
    dirs: list[Path] = []
    lock = threading.Lock()

    def make() -> None:
        d = create_version(exp, config, command_line=["runway-train", "digits"])
        with lock:
            dirs.append(d)

    threads = [threading.Thread(target=make) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(d.name for d in dirs) == [f"digits_V{i}" for i in range(6)]
    assert exp.latest_version().name == "digits_V5"
    manifest = read_manifest(exp.version(2))
    assert manifest["status"] == "created" and manifest["seed"] == 0 and manifest["key_metric"] == "acc"
    assert "python" in manifest["environment"] and "torch" in manifest["environment"]["versions"]
    assert json.loads((exp.version(2) / "train" / "config.json").read_text())["meta"]["seed"] == 0
    with pytest.raises(RunwayError, match="has no version 9; versions: 0, 1, 2, 3, 4, 5"):
        exp.version(9)
    assert resolve_version("digits_V3", project).name == "digits_V3"
    assert resolve_version("digits", project).name == "digits_V5"


def test_no_version_yet_is_a_clear_error(project: Path) -> None:
    with pytest.raises(RunwayError, match="no trained version yet"):
        NamedExperiment("digits", project).version()


def test_manifest_update_merges_and_validates(tmp_path: Path) -> None:
    version = tmp_path / "x_V0"
    update_manifest(version, status="running", slurm={"job_id": "1"})
    update_manifest(version, slurm={"state": "RUNNING"}, seed=0)
    manifest = read_manifest(version)
    assert manifest == {"status": "running", "slurm": {"job_id": "1", "state": "RUNNING"}, "seed": 0}
    assert manifest_path(version) == version / "train" / "manifest.json"
    assert manifest_path(version / "infer-test") == version / "infer-test" / "manifest.json"
    with pytest.raises(ValueError):
        update_manifest(version, status="done")
    # No temp files are left next to the manifest.
    assert sorted(p.name for p in (version / "train").iterdir()) == ["manifest.json"]  # no lock file either


def test_corrupt_manifest_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "v" / "train").mkdir(parents=True)
    (tmp_path / "v" / "train" / "manifest.json").write_text("{oops")
    with pytest.raises(RunwayError, match="manifest .*manifest.json is not valid JSON"):
        read_manifest(tmp_path / "v")


def test_infer_run_names(project: Path) -> None:
    exp = resolve_experiment("digits", project)
    version = create_version(exp, ResolvedConfig.from_dict({}), command_line=[])
    (version / "infer-test").mkdir()
    assert resolve_infer_dir("digits_V0/infer-test", project) == version / "infer-test"
    with pytest.raises(RunwayError, match="did you mean 'infer-test'"):
        resolve_infer_dir("digits_V0/infer-tset", project)
    with pytest.raises(RunwayError, match="not an inference run name"):
        resolve_infer_dir("digits_V0", project)
    assert split_version_name("a_b_V12") == ("a_b", 12)
