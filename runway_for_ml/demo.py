"""``make demo``: create (or reuse) a runway project and run the digits example end to end.

``python -m runway_for_ml.demo demo-project`` runs ``runway init demo-project`` (skipped when the folder
is already a runway project), then ``runway-run digits`` inside it: data pipeline, Lightning training,
inference on the test split, evaluation, a results table and ``report.html`` in the version folder.
It exits non-zero if the test accuracy is below 0.95.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from runway_for_ml.cli.main import main as runway_main
from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.names import resolve_experiment
from runway_for_ml.project import find_project_root

TARGET_ACCURACY = 0.95


def main(argv: list[str] | None = None) -> int:
    """Run the demo in the folder given as the first argument (default ``demo-project``)."""

    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0] if args else "demo-project").resolve()
    os.environ.setdefault("WANDB_MODE", "offline")
    if find_project_root(target) == target:
        print(f"Reusing the runway project in {target}")
    else:
        code = runway_main(["init", str(target)])
        if code:
            return code
    os.chdir(target)
    code = runway_main(["run", "digits"])
    if code:
        return code

    layout = VersionDir(resolve_experiment("digits", target).latest_version())
    metrics = json.loads((layout.infer_dir("test") / "metrics.json").read_text(encoding="utf-8"))
    accuracy = float(metrics["accuracy"])
    verdict = "PASS" if accuracy >= TARGET_ACCURACY else "FAIL"
    print(f"demo: test accuracy {accuracy:.4f} (target >= {TARGET_ACCURACY}) {verdict}")
    print(f"demo: open {layout.report_path}")
    return 0 if accuracy >= TARGET_ACCURACY else 1


if __name__ == "__main__":
    sys.exit(main())
