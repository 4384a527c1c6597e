"""`runway prepare` and `runway dag` end to end in a temporary project (subprocesses, real cache)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNWAY = str(Path(sys.executable).with_name("runway"))

TRANSFORMS_PY = """
from runway_for_ml import BaseTransform, register_transform_functor


@register_transform_functor
class CliCount(BaseTransform):
    def setup(self, label, times=1):
        self.label, self.times = label, times

    def _call(self, data):
        with open("runs.log", "a") as fh:
            fh.write(self.label + "\\n")
        return (data or []) + [self.label] * self.times


@register_transform_functor
class CliBoom(BaseTransform):
    def setup(self, label):
        pass

    def _call(self, data):
        raise ZeroDivisionError("boom inside the transform")
"""

CONFIG = """
{
  meta: { seed: 0 },
  data_pipeline: {
    name: "cli",
    transforms: {
      "input:A": { transform_name: "CliCount", setup_kwargs: { label: "A" } },
      "process:B": { transform_name: "CliCount", input_node: "input:A", setup_kwargs: { label: "B" } },
      "process:C": { transform_name: "CliCount", input_node: "input:A", setup_kwargs: { label: "C" } },
      "output:D": { transform_name: "CliCount", input_node: "process:B", setup_kwargs: { label: "D" } },
      "output:E": { transform_name: "CliCount", input_node: "process:C", setup_kwargs: { label: "E" } },
    },
  },
}
"""


@pytest.fixture
def project(bare_project):
    (bare_project / "configs" / "experiments" / "p.jsonnet").write_text(CONFIG)
    (bare_project / "data_processing").mkdir()
    (bare_project / "data_processing" / "__init__.py").write_text("")
    (bare_project / "data_processing" / "transforms.py").write_text(TRANSFORMS_PY)
    return bare_project


def runway(*args, cwd):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([RUNWAY, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


def runs(root: Path) -> list[str]:
    log = root / "runs.log"
    out = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return out


def test_prepare_then_warm_then_changed_kwarg(project):
    proc = runway("prepare", "p", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert sorted(runs(project)) == ["A", "B", "C", "D", "E"]  # each once (jsonnet sorts object keys)
    assert "output:D" in proc.stdout and "ran" in proc.stdout
    assert (project / "local_cache" / "default").is_dir()

    proc = runway("prepare", "configs/experiments/p.jsonnet", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert runs(project) == []
    assert "hit" in proc.stdout

    opts = ["--opts", "data_pipeline.transforms.process:B.setup_kwargs.times=2"]
    dag = runway("dag", "p", *opts, cwd=project)
    assert dag.returncode == 0, dag.stderr
    line_b = next(line for line in dag.stdout.splitlines() if "process:B" in line and "stale" in line)
    assert "setup_kwargs.times: (absent) -> 2" in line_b
    assert any("output:E" in line and "cached" in line for line in dag.stdout.splitlines())
    proc = runway("prepare", "p", *opts, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert runs(project) == ["B", "D"]  # sibling branch C/E hits


def test_code_edit_regenerate_targets_dummy(project):
    assert runway("prepare", "p", "--targets", "output:E", cwd=project).returncode == 0
    assert runs(project) == ["A", "C", "E"]
    # Editing the transform's code (no VERSION) makes every node using it stale.
    source = project / "data_processing" / "transforms.py"
    source.write_text(source.read_text().replace("self.label + ", "str(self.label) + "))
    dag = runway("dag", "p", "--targets", "output:E", cwd=project)
    assert "code changed: data_processing.transforms.CliCount" in dag.stdout, dag.stdout
    assert runway("prepare", "p", "--targets", "output:E", cwd=project).returncode == 0
    assert runs(project) == ["A", "C", "E"]
    assert runway("prepare", "p", "--targets", "output:E", "--regenerate", "process:C", cwd=project).returncode == 0
    assert runs(project) == ["C", "E"]
    proc = runway("prepare", "p", "--targets", "output:E", "--dummy", cwd=project)
    assert proc.returncode == 0 and "dummy" in proc.stdout
    assert (project / "local_cache" / "dummy").is_dir()


def test_dag_formats(project):
    png = runway("dag", "p", "--format", "png", "-o", "out/dag.png", cwd=project)
    assert png.returncode == 0, png.stderr
    assert (project / "out" / "dag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mermaid = runway("dag", "p", "--format", "mermaid", cwd=project)
    assert mermaid.stdout.startswith("flowchart TD") and "will run" in mermaid.stdout
    assert runs(project) == []  # planning never runs a transform


BAD = [
    (
        ["--opts", "data_pipeline.transforms.process:B.transform_name=CliCuont"],
        "unknown transform 'CliCuont' (did you mean 'CliCount'?)",
    ),
    (
        ["--opts", "data_pipeline.transforms.process:B.input_node=input:AA"],
        "no node 'input:AA' (did you mean 'input:A'?)",
    ),
    (
        ["--opts", "data_pipeline.transforms.input:A.input_node=output:D"],
        "cycle: input:A -> process:B -> output:D -> input:A",
    ),
    (["--opts", 'data_pipeline.transforms.inptu:X={"transform_name": "CliCount"}'], "bad node key 'inptu:X'"),
    (
        ["--opts", "data_pipeline.transforms.process:B.transform_name=CliBoom"],
        "process:B (transform CliBoom) failed in _call: ZeroDivisionError",
    ),
]


@pytest.mark.parametrize(("opts", "needle"), BAD, ids=["unknown", "missing-input", "cycle", "bad-role", "raises"])
def test_bad_pipelines_exit_2_with_one_message(project, opts, needle):
    proc = runway("prepare", "p", *opts, cwd=project)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("error: ") == 1


def test_debug_shows_the_transform_traceback_and_nothing_half_written(project):
    proc = runway(
        "--debug", "prepare", "p", "--opts", "data_pipeline.transforms.process:B.transform_name=CliBoom", cwd=project
    )
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "boom inside the transform" in proc.stderr and "transforms.py" in proc.stderr
    entries = list((project / "local_cache" / "default").iterdir())
    assert not [p for p in entries if p.name.startswith(".tmp-")]
