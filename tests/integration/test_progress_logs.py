"""What a batch job's log shows: commands run with stderr redirected to a file (not a terminal).

Training writes one plain line per epoch and, within an epoch, at least one every
``RUNWAY_PROGRESS_INTERVAL`` seconds (0 here: every step) with step, total, rate, ETA and loss;
``runway prepare`` writes "still running" lines while a node runs; ``runway embed`` counts batches.
Tables printed into a pipe are as wide as their content (no word cut in two).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, new_project) -> Path:
    return new_project(tmp_path_factory.mktemp("logs") / "proj")


def _run(project: Path, log: Path, *argv: str, interval: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNWAY_PROGRESS_INTERVAL": interval, "COLUMNS": "60"}
    with log.open("w") as err:
        proc = subprocess.run(
            [str(BIN / "runway"), *argv],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=600,
        )
    assert proc.returncode == 0, log.read_text()[-3000:]
    return proc


def test_prepare_train_and_embed_write_plain_lines_into_a_log(project: Path, tmp_path: Path, template_opts) -> None:
    log = tmp_path / "prepare.log"
    out = _run(project, log, "prepare", "digits", interval="0.02").stdout
    lines = log.read_text().splitlines()
    assert any(re.fullmatch(r"\[data\] input:LoadDigits: still running \| elapsed \d\d:\d\d", x) for x in lines), lines
    # the closing table, piped: each node name whole on one line
    assert re.search(r"input:LoadDigits\s", out) and "output:Normalised" in out

    opts = [*template_opts(), "train.trainer_paras.enable_progress_bar=true"]
    log = tmp_path / "train.log"
    out = _run(project, log, "train", "digits", "--opts", *opts).stdout
    text = log.read_text()
    assert "\r" not in text and "\x1b[" not in text  # no live bar redrawn in the file
    steps = [x for x in text.splitlines() if x.startswith("[train] v0 epoch 1/2: ") and "validation=" not in x]
    validating = [x for x in text.splitlines() if x.startswith("[train] v0 epoch 1/2: ") and "validation=" in x]
    assert validating and validating[-1].endswith("validation=1/1")  # 40 validation rows: one batch
    # 280 training rows, batch size 64: 5 steps, one line each (interval 0)
    assert [re.match(r"\[train\] v0 epoch 1/2: (\d)/5 step", x)[1] for x in steps] == ["1", "2", "3", "4", "5"]
    line = re.compile(
        r"\[train\] v0 epoch 1/2: 3/5 step \(60%\) \| [\d.]+ (step/s|s/step) \| elapsed \d\d:\d\d \| ETA \d\d:\d\d \| .*"
        r"train_loss_step=[\d.]+"
    )
    assert line.fullmatch(steps[2]), steps[2]
    ends = [x for x in text.splitlines() if " done: " in x]
    assert [x.split(" done: ")[0] for x in ends] == ["[train] v0 epoch 1/2", "[train] v0 epoch 2/2"]
    assert all("val_accuracy=" in x and "train_loss_epoch=" in x for x in ends)
    assert out.strip().splitlines()[-1] == "digits_V0"
    # the table of final metrics, piped (COLUMNS=60 is ignored): its title whole on one line
    assert "digits_V0: final training metrics\n" in out

    log = tmp_path / "embed.log"
    _run(project, log, "embed", "digits_V0", "--method", "pca")
    embed = log.read_text().splitlines()
    assert any(re.match(r"\[embed\] 1/1 batch \(100%\) \| ", x) for x in embed), embed

    log = tmp_path / "infer.log"
    assert _run(project, log, "infer", "digits", "test").stdout.strip().endswith("digits_V0/infer-test")
    assert any(re.match(r"\[predict\] 1/1 batch \(100%\)", x) for x in log.read_text().splitlines())
    listing = _run(project, tmp_path / "ls.log", "ls").stdout
    assert "test accuracy" in listing and f"experiments in {project}" in listing  # the title whole
