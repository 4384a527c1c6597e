"""Building the package: no setuptools warnings about the project template, and the template ships whole."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_builds_without_template_warnings(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "tests"
        ),
    )
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "whl")],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "Package would be ignored" not in log
    assert "project_template" not in "".join(line for line in log.splitlines() if "Warning" in line)
    (wheel,) = (tmp_path / "whl").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    template = [p.relative_to(REPO / "project_template").as_posix() for p in (REPO / "project_template").rglob("*")]
    expected = {
        f"runway_for_ml/project_template/{rel}" for rel in template if (REPO / "project_template" / rel).is_file()
    }
    expected = {name for name in expected if "__pycache__" not in name}
    assert expected <= names, sorted(expected - names)
