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


def test_schema_prints_the_json_schema_of_the_whole_config(tmp_path):
    proc = run("config", "--schema", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    for section in ("meta", "data_pipeline", "executor", "train", "test", "eval", "slurm", "serve", "user"):
        assert section in schema["properties"], section
    train = schema["$defs"]["TrainSection"]["properties"]
    assert train["batch_size"] == {**train["batch_size"], "type": "integer", "minimum": 1, "default": 32}
    markdown = run("config", "--schema", "--markdown", cwd=tmp_path)
    assert markdown.returncode == 0 and markdown.stdout.startswith("# Config reference")
    assert "| `val_batch_size` |" in markdown.stdout


def test_a_json_config_with_dollar_schema_validates(tmp_path):
    root = setup_project(tmp_path)
    (root / "schema.json").write_text(run("config", "--schema", cwd=root).stdout)
    config = {"$schema": "./schema.json", "meta": {"seed": 3}, "train": {"batch_size": 8}}
    (root / "c.json").write_text(json.dumps(config))  # a .json file is valid jsonnet
    proc = run("config", "c.json", "--defaults", cwd=root)
    assert proc.returncode == 0, proc.stderr
    resolved = json.loads(proc.stdout)
    assert resolved["train"]["val_batch_size"] == 8 and resolved["test"]["batch_size"] == 8
    assert resolved["meta"]["launcher"] == "local"  # defaults filled in
    (root / "bad.json").write_text(json.dumps({**config, "train": {"batch_size": 0}}))
    bad = run("config", "bad.json", cwd=root)
    assert bad.returncode == 2 and "train.batch_size: expected an integer >= 1, found 0" in bad.stderr


def test_runway_config_without_a_config_says_what_to_give(tmp_path):
    proc = run("config", cwd=tmp_path)
    assert proc.returncode == 2 and "needs a config file or an experiment name (or --schema)" in proc.stderr
    assert "Traceback" not in proc.stderr


TINY = """local digits = import 'digits.jsonnet';
digits + {
  data_pipeline+: { transforms+: { 'input:LoadDigits'+: { setup_kwargs+: { max_rows: 120 } } } },
  train+: { trainer_paras+: { max_epochs: 1, enable_model_summary: false }, early_stopping: null, val_batch_size: 7 },
}
"""


def test_runway_train_evaluates_the_jsonnet_once_and_keeps_the_typed_config(tmp_path, monkeypatch):
    from runway_for_ml.cli.main import main
    from runway_for_ml.config import loader

    root = tmp_path / "proj"
    assert main(["init", str(root)]) == 0
    (root / "configs/experiments/tiny.jsonnet").write_text(TINY)
    calls = []
    real = loader.evaluate_jsonnet

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loader, "evaluate_jsonnet", counting)
    monkeypatch.chdir(root)
    assert main(["train", "tiny", "--opts", "train.batch_size=16"]) == 0
    assert calls == ["tiny.jsonnet"]  # preflight and version creation share one evaluation
    train_dir = root / "experiments" / "tiny_V0" / "train"
    resolved = json.loads((train_dir / "config.resolved.json").read_text())
    assert resolved["train"]["batch_size"] == 16 and resolved["train"]["val_batch_size"] == 7
    assert resolved["test"]["batch_size"] == 256 and resolved["meta"]["launcher"] == "local"  # template; default
    written = json.loads((train_dir / "config.json").read_text())
    assert "val_batch_size" in written["train"] and "launcher" not in written["meta"]  # as written, no defaults
