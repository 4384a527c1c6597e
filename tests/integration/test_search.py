"""``runway search`` end to end on the template's digits experiment (tiny settings, CPU).

One study of 8 trials (TPE sampler, median pruner) is started in a subprocess, killed with -9 while a
trial trains, and finished with ``--resume``: the module's tests check that study (exactly 8 finished
trials, none re-run, the killed trial retried in its own version, pruned trials marked, trials.csv,
best.json, ``runway ls``), its ``search.html`` in headless Chromium, and the errors that stop a search
before any trial runs.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chromium_headless import CHROMIUM, headless_args, needs_chromium

from runway_for_ml.cli.main import main
from runway_for_ml.experiment.manifest import read_manifest

pytestmark = pytest.mark.slow

TRIALS = 8
STUDY = "digits_search_S0"


def search_opts(template_opts) -> list[str]:
    return [
        *template_opts(max_rows=300),
        "train.trainer_paras.max_epochs=3",
        # A small, fast space whose low learning rates lose to the others after one epoch: the median
        # pruner (from the third trial on) has something to prune.
        'search.space={"train.optimizer_config.optimizer_params.lr": {"type": "float", "low": 1e-5, "high": 3e-2, "log": true},'
        ' "train.batch_size": {"type": "categorical", "choices": [32, 64]}}',
        'search.pruner_kwargs={"n_startup_trials": 2}',
        'search.sampler_kwargs={"n_startup_trials": 4}',
    ]


def _versions(root: Path) -> list[Path]:
    return sorted((root / "experiments").glob("digits_V*"), key=lambda p: int(p.name.rpartition("_V")[2]))


@pytest.fixture(scope="module")
def study(tmp_path_factory, new_project, template_opts) -> dict:
    """The study: started in a subprocess, killed -9 in its 4th trial's training, then resumed in-process."""
    root = new_project(tmp_path_factory.mktemp("search") / "proj")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (root / "first.log").open("w")
    argv = ["search", "digits", "--trials", str(TRIALS), "--opts", *search_opts(template_opts)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "runway_for_ml.cli.main", *argv], cwd=root, env=env, stdout=log, stderr=log
    )
    killed_version = root / "experiments" / "digits_V3"
    deadline = time.time() + 240
    try:
        while True:
            assert proc.poll() is None, (root / "first.log").read_text()[-3000:]
            assert time.time() < deadline, "the 4th trial never started training"
            manifest = killed_version / "train" / "manifest.json"
            if manifest.is_file() and read_manifest(killed_version).get("status") == "running":
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    before = {p.name: (read_manifest(p).get("status"), read_manifest(p).get("ended_at")) for p in _versions(root)}
    previous = Path.cwd()
    os.chdir(root)
    try:
        assert main(["search", "digits", "--resume"]) == 0
    finally:
        os.chdir(previous)
    study_dir = root / "experiments" / STUDY
    return {"root": root, "dir": study_dir, "before": before}


def _csv_rows(study_dir: Path) -> list[dict]:
    with (study_dir / "trials.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_resume_after_kill_finishes_exactly_the_trials_without_rerunning_any(study):
    rows = _csv_rows(study["dir"])
    finished = [r for r in rows if r["state"] in ("complete", "pruned")]
    assert len(finished) == TRIALS
    # The trial killed with -9 failed and was retried once, in its own version folder (digits_V3).
    failed = [r for r in rows if r["state"] == "fail"]
    assert len(failed) == 1 and failed[0]["version"] == "digits_V3"
    (retry,) = [r for r in rows if r["retry_of"] == failed[0]["trial"]]
    assert retry["version"] == "digits_V3" and retry["state"] in ("complete", "pruned")
    # One version per finished trial, none run twice: the 3 trials finished before the kill were not touched.
    versions = _versions(study["root"])
    assert [p.name for p in versions] == [f"digits_V{i}" for i in range(TRIALS)]
    assert sorted(r["version"] for r in finished) == sorted(p.name for p in versions)
    for name in ("digits_V0", "digits_V1", "digits_V2"):
        manifest = read_manifest(study["root"] / "experiments" / name)
        assert (manifest["status"], manifest.get("ended_at")) == study["before"][name]
    assert study["before"]["digits_V3"][0] == "running"
    assert read_manifest(study["root"] / "experiments" / "digits_V3")["search"]["retried_from"] == [
        int(failed[0]["trial"])
    ]


def test_trials_are_versions_with_search_records_and_pruned_ones_are_marked(study):
    rows = {r["version"]: r for r in _csv_rows(study["dir"]) if r["state"] != "fail"}
    pruned = [v for v, r in rows.items() if r["state"] == "pruned"]
    assert pruned, "the median pruner pruned nothing: the test space no longer separates trials"
    for version, row in rows.items():
        manifest = read_manifest(study["root"] / "experiments" / version)
        record = manifest["search"]
        assert record["study"] == STUDY and record["trial"] == int(row["trial"])
        assert set(record["params"]) == {"train.optimizer_config.optimizer_params.lr", "train.batch_size"}
        assert record["params"]["train.batch_size"] == int(row["train.batch_size"])
        config = json.loads((study["root"] / "experiments" / version / "train" / "config.json").read_text())
        assert config["train"]["batch_size"] == record["params"]["train.batch_size"]
        assert config["train"]["optimizer_config"]["optimizer_params"]["lr"] == pytest.approx(
            record["params"]["train.optimizer_config.optimizer_params.lr"]
        )
        if row["state"] == "pruned":
            assert manifest["status"] == "pruned" and record["state"] == "pruned"
            assert not list((study["root"] / "experiments" / version).glob("infer-*"))
            assert manifest["epochs_completed"] < 3  # stopped before the last of 3 epochs
        else:
            assert manifest["status"] == "completed" and record["state"] == "complete"
            assert (study["root"] / "experiments" / version / "infer-test" / "metrics.json").is_file()
            assert record["value"] == pytest.approx(manifest["final_metrics"]["val_accuracy"])


def test_best_json_and_the_study_files(study):
    best = json.loads((study["dir"] / "best.json").read_text())
    complete = [r for r in _csv_rows(study["dir"]) if r["state"] == "complete"]
    top = max(complete, key=lambda r: float(r["val_accuracy"]))
    assert best["best"]["trial"] == int(top["trial"]) and best["best"]["version"] == top["version"]
    assert best["best"]["value"] == pytest.approx(float(top["val_accuracy"]))
    assert best["finished"] == TRIALS and best["direction"] == "maximize"
    for name in ("journal.log", "study.json", "config.json", "trials.csv", "search.html"):
        assert (study["dir"] / name).is_file(), name


def test_ls_marks_trials_and_lists_one_study_sorted_by_the_metric(study, monkeypatch, capsys):
    monkeypatch.chdir(study["root"])
    capsys.readouterr()
    assert main(["ls", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    trials = [r for r in rows if r.get("search")]
    assert len(trials) == TRIALS and all(r["search"]["study"] == STUDY for r in trials)
    assert main(["ls", "--search", STUDY, "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    states = [r["state"] for r in listing["rows"]]
    complete = [r["value"] for r in listing["rows"] if r["state"] == "complete"]
    assert complete == sorted(complete, reverse=True)
    assert states == sorted(states, key=lambda s: {"complete": 0, "pruned": 1}.get(s, 2))
    assert main(["ls", "--search", STUDY]) == 0
    out = capsys.readouterr().out
    assert listing["rows"][0]["version"] in out
    assert main(["ls", "--search", "digits_search_S9"]) == 2


def test_resume_of_a_finished_study_runs_nothing(study, monkeypatch, capsys):
    monkeypatch.chdir(study["root"])
    before = (study["dir"] / "journal.log").stat().st_size
    assert main(["search", "digits", "--resume", "--study", STUDY]) == 0
    assert len(_versions(study["root"])) == TRIALS
    assert (study["dir"] / "journal.log").stat().st_size == before


# ----------------------------------------------------------------------------- search.html in a browser


@needs_chromium
def test_search_page_renders_offline_in_headless_chromium(study, tmp_path):
    """The page draws Optuna's figures with its inlined plotly.js, fetching nothing from the network."""
    assert CHROMIUM is not None, "make test installs chromium"
    page = study["dir"] / "search.html"
    text = page.read_text()
    assert "<script src=" not in text.replace('<script src="data:', "")  # plotly.js is inlined, not linked
    result = _drive_chromium(
        page.as_uri(),
        tmp_path,
        # Parsed to the end (the table follows the figures) and every figure drawn.
        done="document.readyState === 'complete' && window.Plotly !== undefined"
        " && document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6",
        result="JSON.stringify({plots: document.querySelectorAll('.js-plotly-plot').length,"
        " titles: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),"
        " rows: document.querySelectorAll('#trials tbody tr').length,"
        " lines: document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length})",
    )
    data = json.loads(result["value"])
    assert data["plots"] >= 3
    assert {"Optimization history", "Parallel coordinates", "Parameter importances"} <= set(data["titles"])
    assert data["rows"] == len(_csv_rows(study["dir"]))
    assert data["lines"] > 0
    assert result["requests"] == [], "the page fetched something over the network"
    assert result["errors"] == []


def _drive_chromium(url: str, tmp_path: Path, *, done: str, result: str) -> dict:
    """Open ``url`` in headless Chromium over the DevTools protocol; wait for ``done``; return ``result``,
    the network requests other than ``file:``/``data:`` ones, and JavaScript exceptions."""
    import asyncio
    import re

    import websockets

    proc = subprocess.Popen(
        [
            *headless_args(tmp_path / "chromium-profile"),
            "--allow-file-access-from-files",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ws_url = None
        deadline = time.time() + 60
        while time.time() < deadline and ws_url is None:
            match = re.search(r"DevTools listening on (ws://\S+)", proc.stderr.readline() or "")
            ws_url = match.group(1) if match else None
        assert ws_url, "chromium did not start its DevTools endpoint"

        async def drive() -> dict:
            async with websockets.connect(ws_url, max_size=None) as browser:
                counter = 0
                events: list[dict] = []

                async def call(method: str, session: str | None = None, **params):
                    nonlocal counter
                    counter += 1
                    message = {"id": counter, "method": method, "params": params}
                    if session:
                        message["sessionId"] = session
                    await browser.send(json.dumps(message))
                    while True:
                        reply = json.loads(await browser.recv())
                        if reply.get("id") == counter:
                            return reply.get("result", {})
                        events.append(reply)

                target = await call("Target.createTarget", url="about:blank")
                attached = await call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
                session = attached["sessionId"]
                for domain in ("Page.enable", "Network.enable", "Runtime.enable"):
                    await call(domain, session)
                await call("Page.navigate", session, url=url)
                value = None
                for _ in range(1800):  # up to 3 minutes on a loaded machine
                    out = await call("Runtime.evaluate", session, expression=done, returnByValue=True)
                    if out.get("result", {}).get("value"):
                        value = (await call("Runtime.evaluate", session, expression=result, returnByValue=True))[
                            "result"
                        ]["value"]
                        break
                    await asyncio.sleep(0.1)
                assert value is not None, f"the page never satisfied: {done}"
                requests = [
                    e["params"]["request"]["url"]
                    for e in events
                    if e.get("method") == "Network.requestWillBeSent"
                    and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:", "blob:"))
                ]
                errors = [
                    e["params"]["exceptionDetails"].get("text")
                    for e in events
                    if e.get("method") == "Runtime.exceptionThrown"
                ]
                return {"value": value, "requests": requests, "errors": errors}

        return asyncio.run(drive())
    finally:
        proc.kill()
        proc.wait()


# ----------------------------------------------------------------------------- stopped before any trial


@pytest.fixture(scope="module")
def plain_project(tmp_path_factory, new_project) -> Path:
    return new_project(tmp_path_factory.mktemp("search-errors") / "proj", prepare=True)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (
            [
                'search.space={"train.optimizer_config.optimizer_params.lrr": {"type": "float", "low": 0.001, "high": 0.1}}'
            ],
            "search.space['train.optimizer_config.optimizer_params.lrr']: not a key of the config (did you mean "
            "'train.optimizer_config.optimizer_params.lr'",
        ),
        (
            ['search.space={"train.batch_size": {"type": "int", "low": 64, "high": 16}}'],
            "search.space['train.batch_size']: low must be <= high",
        ),
        (
            [
                'search.space={"train.optimizer_config.optimizer_params.lr": {"type": "float", "low": 0, "high": 0.1, "log": true}}'
            ],
            "log: true needs low > 0",
        ),
        (['search.space={"train.batch_size": {"type": "integer", "low": 8, "high": 16}}'], "did you mean 'int'"),
        (['search.space={"train.batch_size": {"type": "int", "low": 0, "high": 16}}'], "train.batch_size"),
        (["search.sampler=tpee"], "search.sampler: unknown value 'tpee' (did you mean 'tpe'?)"),
        (['search.pruner_kwargs={"n_startup_trialz": 2}'], "search.pruner_kwargs"),
    ],
)
def test_bad_search_sections_exit_2_before_any_trial(plain_project, monkeypatch, capsys, opts, message):
    monkeypatch.chdir(plain_project)
    capsys.readouterr()
    assert main(["search", "digits", "--trials", "2", "--opts", *opts]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert not list((plain_project / "experiments").glob("digits_*")), "a version or study folder was left behind"


def test_a_metric_the_executor_never_logs_stops_at_the_first_validation(
    plain_project, monkeypatch, capsys, template_opts
):
    monkeypatch.chdir(plain_project)
    capsys.readouterr()
    code = main(
        ["search", "digits", "--trials", "2", "--opts", *template_opts(max_rows=200), "search.metric=val/acuracy"]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "search.metric: the executor never logs 'val/acuracy'" in err and "val_accuracy" in err
    assert not list((plain_project / "experiments").glob("digits_*")), "a version or study folder was left behind"


def test_val_slash_metric_names_the_logged_underscore_key(plain_project, monkeypatch, capsys, template_opts):
    """`val/accuracy` (the issue's spelling) is the executor's val_accuracy; --workers without SLURM is refused."""
    monkeypatch.chdir(plain_project)
    assert main(["search", "digits", "--workers", "2", "--opts", "search.metric=val/accuracy"]) == 2
    assert "needs SLURM" in capsys.readouterr().err
    code = main(
        [
            "search",
            "digits",
            "--trials",
            "1",
            "--dashboard",
            "--opts",
            *template_opts(max_rows=200),
            "train.trainer_paras.max_epochs=1",
            "search.metric=val/accuracy",
            "search.sampler=random",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "optuna-dashboard" in out and "journal.log" in out
    (study_dir,) = list((plain_project / "experiments").glob("digits_search_S*"))
    best = json.loads((study_dir / "best.json").read_text())
    assert best["finished"] == 1 and best["best"]["value"] > 0
