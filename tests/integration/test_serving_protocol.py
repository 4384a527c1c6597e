"""The serving protocol over real HTTP, with a hand-written SDK-style model file (tests/unit/serving/sdk_model.py).

Each server is a separate process on 127.0.0.1 with an ephemeral port (``RW_PORT=0``).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from chromium_headless import CHROMIUM, headless_args, needs_chromium
from PIL import Image

from runway_for_ml.serving.bench import http_load, start_server_process, wait_ready

SDK_MODEL = Path(__file__).resolve().parents[1] / "unit" / "serving" / "sdk_model.py"


def _start(**server_options):
    env = dict(os.environ, RW_PORT="0", SDK_TEST_SERVER_OPTIONS=json.dumps(server_options))
    env.pop("RW_META", None)
    proc, url = start_server_process([sys.executable, str(SDK_MODEL)], env=env)
    try:
        wait_ready(url, timeout=60)
    except Exception:
        proc.kill()
        raise
    return proc, url


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server():
    proc, url = _start(max_body_bytes=200_000, request_timeout_s=1.0, batch_timeout_ms=20)
    with httpx.Client(base_url=url, timeout=20) as client:
        yield client
    _stop(proc)


def _png(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_meta_lists_options_and_commands_with_typed_descriptors(server):
    meta = server.get("/meta").json()
    assert meta["name"] == "sdk-test-model" and meta["status"] == "RUNNING"
    assert meta["options"] == [
        {"type": "number", "name": "scale", "description": None, "default": 1.0, "min": 0.0, "max": 10.0},
        {"type": "category", "name": "mode", "description": None, "default": "sum", "oneOf": ["sum", "mean"]},
    ]
    assert [c["name"] for c in meta["commands"]] == ["reduce", "invert", "echo", "sleep", "fail", "double", "probs"]
    reduce = meta["commands"][0]
    assert reduce["inputs"][0] == {
        "type": "vector",
        "name": "values",
        "description": None,
        "length": 4,
        "samplingMean": 0.0,
        "samplingStd": 1.0,
    }
    assert isinstance(meta["millisRunning"], int) and meta["GPU"] is False
    assert server.get("/").json()["commands"] == meta["commands"]
    assert server.get("/healthcheck").json() == {"status": "RUNNING"}
    assert server.get("/reduce").json() == reduce
    assert server.get("/setup").json() == meta["options"]
    assert server.delete("/reduce").headers["allow"] == "GET, HEAD, POST"
    assert server.put("/meta").headers["allow"] == "GET, HEAD"


def test_commands_answer_json_whatever_the_content_type_and_gzip(server):
    assert server.post("/reduce", json={"values": [1, 2, 3, 4]}).json() == {"result": 10.0, "mode": "sum"}
    raw = json.dumps({"values": [1, 1, 1, 1], "offset": -4}).encode()
    assert server.post("/reduce", content=raw, headers={"Content-Type": "text/plain"}).json()["result"] == 0.0
    zipped = server.post("/reduce", content=gzip.compress(raw), headers={"Content-Encoding": "gzip"})
    assert zipped.status_code == 200 and zipped.json()["result"] == 0.0
    echo = server.post(
        "/echo",
        json={"word": "hi", "tags": ["a", "b"], "blob": base64.b64encode(b"12345").decode(), "extra": {"k": [1]}},
    ).json()
    assert echo == {"word": "hi", "flag": False, "tags": ["a", "b"], "size": 5, "extra": {"k": [1]}}


def test_images_go_in_and_out_as_data_uris(server):
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = server.post("/invert", json={"image": _png(pixels)}).json()
    assert out["width"] == 4 and out["image"].startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(out["image"].split(",", 1)[1]))))
    assert (decoded == 255 - pixels).all()


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "code", "message"),
    [
        ("POST", "/reduce", {"content": b"{not json"}, 400, "not valid JSON"),
        ("POST", "/reduce", {"json": [1, 2]}, 400, "Invalid argument: body"),
        ("POST", "/reduce", {"json": {}}, 400, "Missing input: values"),
        ("POST", "/reduce", {"json": {"values": [1, 2]}}, 400, "Invalid argument: values: expected 4 numbers, got 2"),
        (
            "POST",
            "/reduce",
            {"json": {"values": [1, 2, 3, 4], "offset": 1000}},
            400,
            "offset: 1000 is above the maximum",
        ),
        ("POST", "/invert", {"json": {"image": "data:image/png;base64,iVBORw0KGgo="}}, 400, "cannot decode the image"),
        (
            "POST",
            "/invert",
            {"json": {"image": "data:image/png;base64," + base64.b64encode(b"hello").decode()}},
            400,
            "Invalid argument: image: cannot decode the image: the data is not a PNG or JPEG image",
        ),
        (
            "POST",
            "/reduce",
            {"json": {"valuez": [1, 2, 3, 4]}},
            400,
            "unknown input 'valuez' (did you mean 'values'?); inputs: offset, values",
        ),
        (
            "POST",
            "/probs",
            {"json": {"x": [0, 1000, 0]}},
            400,
            "Invalid argument: x: item 1 (1000) is above the maximum 1",
        ),
        (
            "POST",
            "/probs",
            {"json": {"x": [0, None, 0]}},
            400,
            "Invalid argument: x: item 1 is not a finite number (null)",
        ),
        ("POST", "/echo", {"json": {"word": "x", "tags": "a"}}, 400, "tags: expected a list, got a string"),
        ("POST", "/setup", {"json": {"scael": 2}}, 400, "unknown option 'scael' (did you mean 'scale'?)"),
        ("POST", "/reduce", {"content": b'{"values": "\xff"}'}, 400, "not valid JSON: it is not UTF-8 text"),
        ("POST", "/echo", {"json": {"word": "x", "tags": ["c"]}}, 400, "tags[0]"),
        ("POST", "/nope", {"json": {}}, 404, "Unknown command: nope"),
        ("GET", "/nope", {}, 404, "Not found: /nope"),
        ("DELETE", "/reduce", {}, 405, "Method DELETE is not allowed"),
        ("POST", "/meta", {"json": {}}, 405, "use GET"),
        ("POST", "/fail", {"json": {"message": "kaput"}}, 500, "RuntimeError: kaput"),
        ("POST", "/reduce", {"content": b"x" * 300_000}, 413, "over the limit"),
        (
            "POST",
            "/reduce",
            {"content": gzip.compress(b" " * 1_000_000), "headers": {"Content-Encoding": "gzip"}},
            413,
            "decompressed",
        ),
        ("POST", "/reduce", {"content": b"\x1f\x8bnot gzip", "headers": {"Content-Encoding": "gzip"}}, 400, "gzip"),
        ("POST", "/setup", {"json": {"scale": 99}}, 400, "scale: 99 is above the maximum"),
        ("POST", "/sleep", {"json": {"seconds": 2}}, 504, "did not finish within 1s"),
    ],
)
def test_bad_requests_get_json_errors_and_the_server_keeps_serving(server, method, path, kwargs, code, message):
    response = server.request(method, path, **kwargs)
    assert response.status_code == code
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert message in body["error"] and "traceback" not in body
    # No Python reprs in error bodies: objects (<... at 0x...>), None / True, bytes (b'...').
    assert not re.search(r" at 0x[0-9a-f]+|\bNone\b|\bTrue\b|\bFalse\b|b'", body["error"]), body["error"]
    assert server.post("/reduce", json={"values": [0, 0, 0, 1]}).json()["result"] == 1.0


def test_setup_reruns_with_new_options(server):
    done = server.post("/setup", json={"mode": "mean", "scale": 2})
    assert done.status_code == 200 and done.json() == {"status": "RUNNING", "options": {"scale": 2, "mode": "mean"}}
    assert server.post("/reduce", json={"values": [1, 2, 3, 6]}).json() == {"result": 6.0, "mode": "mean"}
    server.post("/setup", json={})
    assert server.post("/reduce", json={"values": [1, 2, 3, 6]}).json() == {"result": 12.0, "mode": "sum"}


def test_concurrent_requests_are_batched_and_metrics_count_them(server):
    import asyncio

    port = server.base_url.port
    bodies = [json.dumps({"x": i}).encode() for i in range(64)]
    result = asyncio.run(
        http_load(
            "127.0.0.1",
            port,
            "/double",
            bodies,
            concurrency=32,
            requests=256,
            check=lambda body: json.loads(body)["y"] % 2 == 0,
        )
    )
    assert result.errors == 0 and len(result.latencies) == 256
    assert server.post("/double", json={"x": "two"}).status_code == 400
    metrics = server.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    from prometheus_client.parser import text_string_to_metric_families

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("runway_batch_size_count", command="double") < 256  # several requests per model call
    assert value("runway_requests_total", route="double", method="POST", code="200") == 256
    assert value("runway_requests_total", route="double", method="POST", code="400") == 1
    assert value("runway_errors_total", code="400") >= 1
    assert value("runway_request_duration_seconds_bucket", route="double", le="+Inf") == 257


def test_declared_bounds_labels_and_examples_reach_meta_and_openapi(server):
    probs = server.get("/probs").json()
    assert probs["inputs"][0]["min"] == 0 and probs["inputs"][0]["max"] == 1
    assert probs["outputs"][1]["labels"] == ["cat", "dog", "cow"]
    assert probs["examples"] == [
        {"inputs": {"x": [0.1, 0.7, 0.2]}, "label": "dog"},
        {"inputs": {"x": [0.9, 0.05, 0.05]}},
    ]
    for example in probs["examples"]:  # an example is a request the command answers
        assert server.post("/probs", json=example["inputs"]).status_code == 200
    body = server.get("/openapi.json").json()["paths"]["/probs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["x"]["items"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert body["schema"]["additionalProperties"] is False  # an unknown input is a 400
    assert body["examples"]["example1"]["value"] == {"x": [0.1, 0.7, 0.2]}


def test_openapi_document(server):
    spec = server.get("/openapi.json").json()
    assert spec["openapi"] == "3.1.0" and spec["info"]["title"] == "sdk-test-model"
    body = spec["paths"]["/reduce"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["values"] and body["properties"]["values"]["maxItems"] == 4
    assert body["properties"]["offset"] == {"type": "number", "minimum": -100, "maximum": 100, "default": 0}


def test_api_key_and_cors():
    proc, url = _start(api_key="s3cret", cors_origins=["http://allowed.example"])
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/healthcheck").status_code == 200  # readiness needs no key
            assert client.get("/ui").status_code == 200  # the static page asks for the key itself
            denied = client.get("/meta")
            assert denied.status_code == 401 and "API key" in denied.json()["error"]
            assert (
                client.post("/reduce", json={"values": [1, 1, 1, 1]}, headers={"X-API-Key": "wrong"}).status_code == 401
            )
            assert client.get("/meta", headers={"X-API-Key": "s3cret"}).status_code == 200
            ok = client.post("/reduce", json={"values": [1, 1, 1, 1]}, headers={"Authorization": "Bearer s3cret"})
            assert ok.json()["result"] == 4.0
            spec = client.get("/openapi.json", headers={"X-API-Key": "s3cret"}).json()
            assert "apiKey" in spec["components"]["securitySchemes"]
            pre = client.options("/reduce", headers={"Origin": "http://allowed.example"})
            assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "http://allowed.example"
            other = client.get("/healthcheck", headers={"Origin": "http://evil.example"})
            assert "access-control-allow-origin" not in other.headers
    finally:
        _stop(proc)


def test_sigterm_lets_in_flight_requests_finish():
    proc, url = _start()
    answers: list[httpx.Response] = []

    def call():
        answers.append(httpx.post(url + "/sleep", json={"seconds": 1.5}, timeout=20))

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    caller.join(20)
    assert answers and answers[0].status_code == 200 and answers[0].json() == {"slept": 1.5}
    assert proc.wait(20) == 0  # a graceful stop is a normal end
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthcheck", timeout=2)


def test_rw_meta_prints_the_manifest_and_exits():
    env = dict(os.environ, RW_META="1")
    out = subprocess.run([sys.executable, str(SDK_MODEL)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert [c["name"] for c in json.loads(out.stdout)["commands"]][:2] == ["reduce", "invert"]


def test_port_in_use_is_a_clear_error(server):
    env = dict(os.environ, RW_PORT=str(server.base_url.port))
    out = subprocess.run([sys.executable, str(SDK_MODEL)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and f"port {server.base_url.port} on 127.0.0.1 is already in use" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_bad_rw_port_is_a_clear_error():
    env = dict(os.environ, RW_PORT="nine")
    out = subprocess.run([sys.executable, str(SDK_MODEL)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "RW_PORT must be a port number (0 picks a free one), got nine" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_failing_first_setup_stops_the_server_with_its_reason():
    env = dict(os.environ, RW_PORT="0", RW_MODEL_OPTIONS=json.dumps({"scale": 99}))
    out = subprocess.run([sys.executable, str(SDK_MODEL)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "setup failed: Invalid argument: scale: 99 is above the maximum 10.0" in out.stderr


@needs_chromium
def test_ui_page_renders_a_form_per_command_in_headless_chromium(server, tmp_path):
    assert CHROMIUM is not None, "make test installs chromium"
    page = server.get("/ui")
    assert page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text.replace("http://localhost", "") and "https://" not in page.text  # no CDN
    dom = _chromium_dom(str(server.base_url) + "/ui", tmp_path)
    assert 'data-ready="1"' in dom and "sdk-test-model" in dom
    for name in ("reduce", "invert", "echo", "sleep", "fail", "double"):
        assert f'data-command="{name}"' in dom
    assert 'id="in-reduce-values"' in dom and 'type="file"' in dom and 'type="checkbox"' in dom


@needs_chromium
def test_ui_page_runs_a_command_in_headless_chromium(server, tmp_path):
    """Fill the form and click run, through the DevTools protocol; the outputs appear on the page."""
    assert CHROMIUM is not None, "make test installs chromium"
    html = _chromium_run(
        str(server.base_url) + "/ui",
        tmp_path,
        'document.getElementById("in-reduce-values").value = "1, 2, 3, 4";'
        'document.querySelector("form[data-command=reduce] button[type=submit]").click();',
        'document.getElementById("out-reduce").getAttribute("data-done") === "1"',
        'document.getElementById("out-reduce").innerText',
    )
    assert "result" in html and "10" in html and "sum" in html


@needs_chromium
def test_ui_page_sends_a_drawn_image(server, tmp_path):
    """An image input can be drawn on the page: the drawing is sent as a PNG data URI."""
    assert CHROMIUM is not None, "make test installs chromium"
    text = _chromium_run(
        str(server.base_url) + "/ui",
        tmp_path,
        'const pad = document.getElementById("in-invert-image-draw");'
        'const ctx = pad.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, 40, 40);'
        'pad.setAttribute("data-drawn", "1");'
        'document.querySelector("form[data-command=invert] button[type=submit]").click();',
        'document.getElementById("out-invert").getAttribute("data-done") === "1"',
        'document.getElementById("out-invert").innerText + " " +'
        ' (document.querySelector("#out-invert img") ? "has-image" : "no-image")',
    )
    assert "width" in text and "64" in text and "has-image" in text  # scaled to the input's maxWidth


@needs_chromium
def test_ui_fills_a_real_example_and_names_the_probability_bars(server, tmp_path):
    """An example button fills the form (and says the data's answer); the bars carry the class names."""
    assert CHROMIUM is not None, "make test installs chromium"
    out = _chromium_run(
        str(server.base_url) + "/ui",
        tmp_path,
        "document.querySelector(\"#examples-probs button[data-example='0']\").click();"
        'window.filled = document.getElementById("in-probs-x").value;'
        'document.querySelector("form[data-command=probs] button[type=submit]").click();',
        'document.getElementById("out-probs").getAttribute("data-done") === "1"',
        "JSON.stringify({filled: window.filled,"
        ' expected: document.getElementById("expected-probs").textContent,'
        ' buttons: [...document.querySelectorAll("#examples-probs button")].map((b) => b.textContent),'
        ' random: !!document.querySelector("form[data-command=probs] button:not(.example):not([type=submit])"),'
        ' bars: [...document.querySelectorAll("#out-probs .bar")].map((b) => b.dataset.label),'
        ' top: document.querySelector("#out-probs .bar.top").dataset.label,'
        ' label: document.querySelector("#out-probs .category").textContent})',
    )
    page = json.loads(out)
    assert page["filled"] == "0.1, 0.7, 0.2" and "dog" in page["expected"]
    assert page["buttons"] == ["example 1 (dog)", "example 2"]
    assert page["random"] is False  # real examples replace the random draw
    assert page["bars"] == ["cat", "dog", "cow"] and page["top"] == "dog" and page["label"] == "dog"


@needs_chromium
def test_ui_gives_json_array_inputs_an_example(server, tmp_path):
    """An array input shows an example value, and one click puts it in the field: the command then runs."""
    assert CHROMIUM is not None, "make test installs chromium"
    out = _chromium_run(
        str(server.base_url) + "/ui",
        tmp_path,
        'document.getElementById("in-echo-word").value = "hi";'
        'document.getElementById("in-echo-tags").parentNode.querySelector(".sample").click();'
        'window.tags = document.getElementById("in-echo-tags").value;'
        'document.querySelector("form[data-command=echo] button[type=submit]").click();',
        'document.getElementById("out-echo").getAttribute("data-done") === "1"',
        'JSON.stringify({tags: window.tags, placeholder: document.getElementById("in-echo-tags").placeholder,'
        ' hint: document.querySelector("label[for=in-echo-tags]").textContent,'
        ' out: document.getElementById("out-echo").innerText})',
    )
    page = json.loads(out)
    assert page["placeholder"] == 'JSON, e.g. ["a","a"]' and "array of category" in page["hint"]
    assert json.loads(page["tags"]) == ["a", "a"]
    assert "error" not in page["out"].lower() and "tags" in page["out"] and "hi" in page["out"]


def _chromium_flags(tmp_path: Path) -> list[str]:
    return headless_args(tmp_path / "chromium-profile")


def _chromium_dom(url: str, tmp_path: Path) -> str:
    out = subprocess.run(
        [*_chromium_flags(tmp_path), "--virtual-time-budget=5000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _chromium_run(url: str, tmp_path: Path, action: str, done: str, result: str) -> str:
    """Open ``url`` in headless chromium, wait for the page, run ``action``, wait for ``done``, return ``result``."""
    import asyncio
    import re

    import websockets

    proc = subprocess.Popen(
        [*_chromium_flags(tmp_path), "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ws_url = None
        deadline = time.time() + 60
        while time.time() < deadline and ws_url is None:
            line = proc.stderr.readline()
            match = re.search(r"DevTools listening on (ws://\S+)", line or "")
            if match:
                ws_url = match.group(1)
        assert ws_url, "chromium did not start its DevTools endpoint"
        port = re.search(r":(\d+)/", ws_url).group(1)
        targets = json.loads(httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).text)
        page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

        async def drive() -> str:
            async with websockets.connect(page_ws, max_size=None) as ws:
                counter = 0

                async def call(method: str, **params):
                    nonlocal counter
                    counter += 1
                    await ws.send(json.dumps({"id": counter, "method": method, "params": params}))
                    while True:
                        message = json.loads(await ws.recv())
                        if message.get("id") == counter:
                            return message.get("result", {})

                async def evaluate(expression: str):
                    out = await call("Runtime.evaluate", expression=expression, returnByValue=True)
                    return out.get("result", {}).get("value")

                await call("Page.navigate", url=url)
                for condition in ('document.body && document.body.getAttribute("data-ready") === "1"', None, done):
                    if condition is None:
                        await evaluate(action)
                        continue
                    for _ in range(200):
                        if await evaluate(condition):
                            break
                        await asyncio.sleep(0.05)
                    else:
                        raise AssertionError(f"the page never satisfied: {condition}")
                return await evaluate(result)

        return asyncio.run(drive())
    finally:
        proc.kill()
        proc.wait()


def test_schemathesis_finds_no_undeclared_server_errors(server, tmp_path):
    """Property-based requests against /openapi.json: no 5xx except the declared ones of /fail and /sleep."""
    st = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    out = subprocess.run(
        [
            st,
            "run",
            str(server.base_url) + "/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "15",
            "--exclude-path",
            "/fail",
            "--exclude-path",
            "/sleep",
            "--exclude-path",
            "/setup",
            "--generation-deterministic",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # schemathesis keeps a .schemathesis/ folder in its working directory
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert server.get("/healthcheck").json() == {"status": "RUNNING"}
