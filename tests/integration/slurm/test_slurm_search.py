"""``runway search --slurm --workers 2`` on the local SLURM cluster: two array tasks, one study, no trial run twice."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main
from runway_for_ml.experiment.manifest import read_manifest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TRIALS = 6
OPTS = [
    "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=300",
    "train.trainer_paras.max_epochs=2",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    "train.early_stopping=null",
    'meta.logger_enable=["csv"]',
    "search.sampler=random",
]


def test_two_workers_share_one_study_and_run_each_trial_once(project: Path, capsys):
    capsys.readouterr()
    code = main(["search", "digits", "--trials", str(TRIALS), "--slurm", "--workers", "2", "--wait", "--opts", *OPTS])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "submitted 2 search worker(s)" in out
    (study_dir,) = sorted((project / "experiments").glob("digits_search_S*"))

    with (study_dir / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == TRIALS and {r["state"] for r in rows} <= {"complete", "pruned"}
    assert len({r["version"] for r in rows}) == TRIALS
    best = json.loads((study_dir / "best.json").read_text())
    assert best["finished"] == TRIALS and best["best"] is not None

    # Each trial started exactly once, across both workers' logs; every version belongs to one trial.
    logs = [p.read_text(errors="replace") for p in (study_dir / "slurm").rglob("*.err")]
    assert len(logs) == 2, sorted(str(p) for p in (study_dir / "slurm").rglob("*"))
    started = Counter(re.findall(r"trial (\d+): \S+ started", "\n".join(logs)))
    assert sorted(int(t) for t in started) == sorted(int(r["trial"]) for r in rows)
    assert set(started.values()) == {1}, started
    workers = set()
    for row in rows:
        manifest = read_manifest(project / "experiments" / row["version"])
        assert manifest["search"]["trial"] == int(row["trial"]) and manifest["search"]["study"] == study_dir.name
        workers.add(manifest["search"]["worker"])
    assert workers <= {0, 1}
    # The data pipeline ran once for the study (the first worker, under the cache lock); the other hit the cache.
    prepared = re.findall(r"\[search\] data prepared in [\d.]+s: (.*)", "\n".join(logs))
    assert len(prepared) == 2 and prepared.count("all cached") >= 1, prepared
