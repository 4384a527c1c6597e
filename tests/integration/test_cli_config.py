import json
import os
import subprocess
import sys
from pathlib import Path

RUNWAY = str(Path(sys.executable).with_name("runway"))


def run(*args, cwd):
    env = {**os.environ, "RUNWAY_TEST_TAG": "t"}
    return subprocess.run([RUNWAY, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=60)


def setup_project(tmp_path: Path) -> Path:
    (tmp_path / ".runway").touch()
    (tmp_path / "configs" / "experiments").mkdir(parents=True)
    (tmp_path / "configs" / "experiments" / "e.jsonnet").write_text(
        "{ meta: { seed: 1 }, train: { batch_size: 8, trainer_paras: { max_epochs: 1 } } }"
    )
    return tmp_path


def test_config_prints_json_and_overrides(tmp_path):
    root = setup_project(tmp_path)
    proc = run("config", "e", "--opts", "train.batch_size=64", "train.trainer_paras.accelerator=gpu", cwd=root)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["train"] == {"batch_size": 64, "trainer_paras": {"max_epochs": 1, "accelerator": "gpu"}}
    assert "train.batch_size: 8 -> 64 (opts)" in proc.stderr


def test_bad_input_exit_2_one_message_no_traceback(tmp_path):
    root = setup_project(tmp_path)
    for args, needle in [
        (["config", "missing.jsonnet"], "config file not found"),
        (["config", "f"], "unknown experiment 'f'"),
        (["config", "e", "--opts", "train.batch_size"], "malformed --opts item"),
        (["config", "e", "--opts", "meta.sed=1"], "did you mean 'seed'"),
    ]:
        proc = run(*args, cwd=root)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith("error: ")


def test_debug_shows_traceback(tmp_path):
    root = setup_project(tmp_path)
    proc = run("--debug", "config", "e", "--opts", "meta.sed=1", cwd=root)
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_help_is_fast_and_does_not_import_torch(tmp_path):
    code = "import sys, runway_for_ml.cli.main as m; m._build_parser(); import runway_for_ml; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0 and "prepare" in proc.stdout
