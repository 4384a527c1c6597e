"""`runway dag` names the helper whose edit made a node stale (subprocesses, a real project and cache)."""

import os
import subprocess
import sys
from pathlib import Path

RUNWAY = str(Path(sys.executable).with_name("runway"))

TEXT_UTILS = """
def clean(text):
    return text.strip().lower()


def unrelated(text):
    return text[::-1]
"""

TRANSFORMS = """
from runway_for_ml import BaseTransform, register_transform_functor

from data_processing.text_utils import clean


def _log(label):
    with open("runs.log", "a") as fh:
        fh.write(label + "\\n")


@register_transform_functor
class CfLoad(BaseTransform):
    def _call(self, data):
        _log("Load")
        return ["  Hello ", " World"]


@register_transform_functor
class CfClean(BaseTransform):
    def _call(self, rows):
        _log("Clean")
        return [clean(r) for r in rows]


@register_transform_functor
class CfLength(BaseTransform):
    def _call(self, rows):
        _log("Length")
        return [len(r) for r in rows]
"""

CONFIG = """
{
  data_pipeline: {
    transforms: {
      "input:Load": { transform_name: "CfLoad" },
      "process:Clean": { transform_name: "CfClean", input_node: "input:Load" },
      "output:Lengths": { transform_name: "CfLength", input_node: "process:Clean" },
      "output:Raw": { transform_name: "CfLength", input_node: "input:Load" },
    },
  },
}
"""


def runway(*args, cwd):
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([RUNWAY, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


def runs(root: Path) -> list[str]:
    log = root / "runs.log"
    out = sorted(log.read_text().split()) if log.exists() else []
    log.unlink(missing_ok=True)
    return out


def test_dag_names_the_edited_helper_and_prepare_reruns_only_what_depends_on_it(tmp_path):
    (tmp_path / ".runway").touch()
    (tmp_path / "configs" / "experiments").mkdir(parents=True)
    (tmp_path / "configs" / "experiments" / "cf.jsonnet").write_text(CONFIG)
    (tmp_path / "data_processing").mkdir()
    (tmp_path / "data_processing" / "__init__.py").write_text("")
    utils = tmp_path / "data_processing" / "text_utils.py"
    utils.write_text(TEXT_UTILS)
    (tmp_path / "data_processing" / "data_transforms.py").write_text(TRANSFORMS)

    assert runway("prepare", "cf", cwd=tmp_path).returncode == 0
    assert runs(tmp_path) == ["Clean", "Length", "Length", "Load"]

    utils.write_text(TEXT_UTILS.replace("return text[::-1]", "return text[::-2]"))  # nobody calls it
    dag = runway("dag", "cf", cwd=tmp_path)
    assert dag.returncode == 0, dag.stderr
    assert "stale" not in dag.stdout and "cached" in dag.stdout, dag.stdout

    utils.write_text(TEXT_UTILS.replace("text.strip().lower()", "text.strip().upper()"))
    dag = runway("dag", "cf", cwd=tmp_path)
    assert dag.returncode == 0, dag.stderr
    clean_line = next(line for line in dag.stdout.splitlines() if "process:Clean" in line)
    assert "stale" in clean_line and "code changed: data_processing.text_utils.clean" in clean_line, dag.stdout
    assert any("output:Raw" in line and "cached" in line for line in dag.stdout.splitlines()), dag.stdout

    proc = runway("prepare", "cf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert runs(tmp_path) == ["Clean", "Length"]  # Load and the sibling output:Raw hit
