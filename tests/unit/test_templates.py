"""Defaults the project templates share: what `runway init` (digits) and `--template text` write."""

from __future__ import annotations

from pathlib import Path

import pytest

from runway_for_ml.config import load_config

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = {"digits": REPO / "project_template", "text": REPO / "project_template_text"}
THREADS_COMMENT = "// A model this small trains fastest on one CPU thread; null lets torch choose."


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_experiment_trains_on_one_cpu_thread(template: str) -> None:
    # On a busy 2-core machine the text models trained 10x slower with torch's default thread count.
    root = TEMPLATES[template]
    text = (root / "configs" / "model_config.libsonnet").read_text()
    assert THREADS_COMMENT in text and "torch_num_threads: 1," in text.split(THREADS_COMMENT)[1].splitlines()[1]
    experiments = sorted((root / "configs" / "experiments").glob("*.jsonnet"))
    assert experiments
    for path in experiments:
        config = load_config(path)
        assert config.data["train"]["torch_num_threads"] == 1, path.name
