"""The data commands load no model code: `runway dag / config / cache / prepare` in a fresh project.

Each command runs in a fresh interpreter (what a user's shell does) inside a project made by
`runway init`; afterwards the interpreter reports which heavy modules it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Model-side modules: the data commands must not import them for a pipeline of data transforms.
MODEL_SIDE = (
    "torch",
    "pytorch_lightning",
    "lightning",
    "torchmetrics",
    "transformers",
    "runway_for_ml.executors",
    "runway_for_ml.metrics",
    "executors",  # the project's own packages
    "metrics",
    "modeling",
)

_PROBE = (
    "import json, sys\n"
    "from runway_for_ml.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    f"loaded = [m for m in {json.dumps(MODEL_SIDE)} if m in sys.modules]\n"
    "print('\\n@@' + json.dumps({'code': code, 'loaded': loaded}), flush=True)\n"
)


def _loaded_by(project: Path, *argv: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], cwd=project, capture_output=True, text=True, timeout=300, check=False
    )
    report = json.loads(out.stdout.rsplit("@@", 1)[1])
    assert report["code"] == 0, out.stdout + out.stderr
    return report["loaded"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, new_project) -> Path:
    return new_project(tmp_path_factory.mktemp("fast") / "proj")


@pytest.mark.parametrize(
    "argv",
    [("dag", "digits"), ("config", "digits", "--plain"), ("cache", "ls"), ("prepare", "digits")],
    ids=["dag", "config", "cache", "prepare"],
)
def test_data_commands_leave_model_code_unloaded(project: Path, argv: tuple[str, ...]) -> None:
    assert _loaded_by(project, *argv) == []


def test_a_transform_outside_data_processing_is_still_found(project: Path) -> None:
    # A transform defined in the project's modeling/ package: the data packages do not know it, so
    # runway imports the other user packages before calling the name unknown.
    module = project / "modeling" / "late_transform.py"
    module.write_text(
        "from runway_for_ml import BaseTransform, register_transform_functor\n\n\n"
        "@register_transform_functor\nclass LateIdentity(BaseTransform):\n"
        "    def _call(self, data):\n        return data\n"
    )
    config = project / "configs" / "experiments" / "late.jsonnet"
    config.write_text(
        "(import 'digits.jsonnet') + { data_pipeline+: { transforms+: {\n"
        "  'output:Late': { input_node: 'output:Normalised', transform_name: 'LateIdentity' } } } }\n"
    )
    try:
        assert "modeling" in _loaded_by(project, "dag", "late")
    finally:
        module.unlink()
        config.unlink()
