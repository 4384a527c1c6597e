"""``runway compare`` and ``runway ls --format``: two real trained versions (CSV + MLflow logs, TensorBoard
logs only), copies of one with perturbed logs and seeds (as benchmarks/bench_compare.py makes them), a
fabricated search study; the page opened in headless Chromium (screenshot, no network)."""

from __future__ import annotations

import csv
import html
import importlib.util
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from runway_for_ml.cli.main import main
from runway_for_ml.experiment.compare import compare_versions
from runway_for_ml.experiment.curves import read_curves
from runway_for_ml.experiment.selection import select_versions

LR = "train.optimizer_config.optimizer_params.lr"
ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "benchmarks" / "bench_compare.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

needs_chromium = pytest.mark.skipif(
    bench.CHROMIUM is None and os.environ.get("CI") != "true",
    reason="chromium is not installed (make test installs it)",
)


def _in(project: Path, *argv: str) -> int:
    previous = Path.cwd()
    os.chdir(project)
    try:
        return main(list(argv))
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, new_project, template_opts) -> Path:
    """digits_V0 (CSV + MLflow logs), digits_V1 (lr 0.01, TensorBoard logs only), digits_V2..V21 copies of
    V0 (lr 1e-4, 1e-3, 1e-2, 1e-1; seeds 0-4 each; SGD from V22 on), digits_V22 a copy without logs."""
    root = new_project(tmp_path_factory.mktemp("compare") / "proj")
    opts = [o for o in template_opts() if not o.startswith("meta.logger_enable")]
    assert _in(root, "run", "digits", "--opts", *opts, 'meta.logger_enable=["csv","mlflow"]') == 0
    assert _in(root, "run", "digits", "--opts", *opts, 'meta.logger_enable=["tensorboard"]', f"{LR}=0.01") == 0
    experiments = root / "experiments"
    bench.fabricate_versions(experiments / "digits_V0", 20, start=2)
    shutil.copytree(experiments / "digits_V0", experiments / "digits_V22", ignore=shutil.ignore_patterns("*.ckpt"))
    shutil.rmtree(experiments / "digits_V22" / "train" / "logs")
    (experiments / "digits_V22" / "report.html").unlink()
    return root


def _table(page: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Headers and ``{version: {header: sort key}}`` of the page's versions table (``data-v``, else the text)."""
    table = page[page.index('<table class="sortable" id="versions">') : page.index("</table>")]
    headers = re.findall(r"<th>(.*?)</th>", table)
    rows = {}
    for row in re.findall(r'<tr data-version="(.*?)">(.*?)</tr>', table):
        cells = re.findall(r'<td(?: data-v="(.*?)")?[^>]*>(.*?)</td>', row[1])
        rows[row[0]] = {h: html.unescape(key or text) for h, (key, text) in zip(headers, cells, strict=True)}
    return headers, rows


def test_curves_from_csv_and_tensorboard_logs(project: Path) -> None:
    csv_curves = read_curves(project / "experiments" / "digits_V0")
    tb_curves = read_curves(project / "experiments" / "digits_V1")
    assert csv_curves.source == "csv" and tb_curves.source == "tensorboard"
    for curves in (csv_curves, tb_curves):
        assert [x for x, _ in curves.epoch["val_loss"]] == [0.0, 1.0]  # the template's 2 epochs
        assert {"val_accuracy", "train_loss"} <= set(curves.epoch)
    assert not read_curves(project / "experiments" / "digits_V22")


def test_table_shows_differing_keys_last_and_best(project: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "pages" / "compare.html"
    assert _in(project, "compare", "digits", "-o", str(out)) == 0
    assert "23 versions" in capsys.readouterr().out
    page = out.read_text()
    headers, rows = _table(page)
    differing = [h for h in headers if "." in h and " " not in h]
    # Only keys that differ: lr, the seed, the optimizer of some copies, the logger lists.
    assert LR in differing and "meta.seed" in differing and "meta.logger_enable" in differing
    assert "train.batch_size" not in headers and "meta.name" not in headers
    assert set(rows) == {f"digits_V{i}" for i in range(23)}
    # last and best of val_loss, read back from the copy's own CSV log.
    with (project / "experiments" / "digits_V3" / "train" / "logs" / "csv" / "metrics.csv").open() as fh:
        losses = [float(r["val_loss"]) for r in csv.DictReader(fh) if r["val_loss"]]
    assert float(rows["digits_V3"]["val_loss last"]) == pytest.approx(losses[-1], rel=1e-6)
    assert float(rows["digits_V3"]["val_loss best"]) == pytest.approx(min(losses), rel=1e-6)
    assert float(rows["digits_V1"][LR]) == 0.01
    # The version without logs keeps its row, with a note; names link to report.html.
    assert "no training curves" in rows["digits_V22"]["note"]
    links = dict(re.findall(r'<a href="(.*?)" title="[^"]*">(digits_V\d+)</a>', page))
    by_name = {name: href for href, name in links.items()}
    assert (out.parent / by_name["digits_V0"]).resolve() == project / "experiments" / "digits_V0" / "report.html"
    # Outside the inlined plotly.js bundle, nothing refers to another file or host.
    bundle_end = page.index("</script>", page.index('<script type="text/javascript">'))
    ours = page[:bundle_end].split('<script type="text/javascript">')[0] + page[bundle_end:]
    assert not re.search(r"\bsrc=|https?://", ours)


def test_group_by_averages_seeds(project: Path) -> None:
    from runway_for_ml.experiment.compare_curves import curves_figure

    dirs = select_versions(project, ["digits"])
    data = compare_versions(dirs, group_by=LR)
    groups = {g["label"]: g["members"] for g in data["groups"]}
    assert groups["lr=0.0001"] == [f"digits_V{i}" for i in range(2, 7)]
    assert groups["lr=0.001"] == [f"digits_V{i}" for i in range(7, 12)]
    # Versions with the template's lr that also differ in their loggers are groups of their own.
    assert sum(len(m) for m in groups.values()) == 23
    _, figure, _ = curves_figure(data)
    mean = next(t for t in figure.data if t.name == "lr=0.0001 (n=5)" and t.xaxis == "x")
    members = [dict(read_curves(project / "experiments" / m).epoch["train_loss"]) for m in groups["lr=0.0001"]]
    expected = [np.mean([m[x] for m in members]) for x in (0.0, 1.0)]
    assert np.allclose(np.asarray(mean.y, dtype=float), expected, rtol=1e-5)
    upper, lower = [t for t in figure.data if t.legendgroup == mean.legendgroup and t.xaxis == "x"][:2]
    spread = np.std([m[0.0] for m in members], ddof=1)
    assert float(upper.y[0]) - float(lower.y[0]) == pytest.approx(2 * spread, rel=1e-4)
    assert lower.fill == "tonexty"


def test_parallel_coordinates_log_axis(project: Path) -> None:
    from runway_for_ml.experiment.compare_parallel import parallel_figure

    data = compare_versions(select_versions(project, ["digits"]))
    _, figure, _ = parallel_figure(data)
    titles = [a.text for a in figure.layout.annotations if a.text.startswith("<b>")]
    assert titles == ["<b>…optimizer_params.lr (log)</b>", "<b>test accuracy</b>"]  # not meta.seed
    ticks = [a.text for a in figure.layout.annotations if a.x == 0 and not a.text.startswith("<b>")]
    assert ticks == ["1e-4", "1e-3", "1e-2", "1e-1"]  # 1e-4 .. 1e-1: more than 2 decades
    assert data["metric"]["name"] == "test accuracy"
    lines = {t.name: t for t in figure.data if t.name}
    assert len(lines) == 23  # every version with the metric (V22 has no curves, but its evaluation)
    # log10 positions: lr 1e-3 sits a third of the way up, the best accuracy at the top of its axis.
    assert lines["digits_V7"].y[0] == pytest.approx(1 / 3, abs=1e-5)
    best = max(data["metric"]["values"], key=data["metric"]["values"].get)
    assert lines[best].y[1] == pytest.approx(1.0)


def test_search_study_trials(project: Path, tmp_path: Path, capsys) -> None:
    experiments = project / "experiments"
    study = experiments / "digits_search_S0"
    study.mkdir()
    (study / "study.json").write_text(
        json.dumps({"experiment": "digits", "search": {"metric": "val_accuracy", "direction": "maximize"}})
    )
    trials = {"digits_V9": 0, "digits_V4": 1, "digits_V7": 2}
    for name, trial in trials.items():
        manifest_path = experiments / name / "train" / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest["search"] = {
            "study": study.name,
            "trial": trial,
            "params": {LR: 1e-3},
            "state": "complete",
            "value": 0.5 + trial / 10,
        }
        manifest_path.write_text(json.dumps(manifest))
    try:
        assert [p.name for p in select_versions(project, search=study.name)] == list(trials)
        out = tmp_path / "search.html"
        assert _in(project, "compare", "--search", study.name, "-o", str(out)) == 0
        headers, rows = _table(out.read_text())
        assert list(rows) == list(trials) and "trial" in headers
        assert rows["digits_V7"]["val_accuracy (trial value)"] == "0.7"
        assert _in(project, "compare", "--search", "digits_search_S9", "-o", str(tmp_path / "x.html")) == 2
        assert "did you mean 'digits_search_S0'" in capsys.readouterr().err
    finally:
        shutil.rmtree(study)
        for name in trials:
            manifest_path = experiments / name / "train" / "manifest.json"
            manifest = json.loads(manifest_path.read_text())
            del manifest["search"]
            manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["digit"], "no experiment or version 'digit'.*did you mean 'digits'"),
        (["digits", "--group-by", "train.optimizer_config.optimizer_params.lrr"], f"did you mean '{LR}'"),
        (["digits", "--metric", "val_los"], "--metric val_los: no version logged it.*did you mean 'val_loss'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(project: Path, tmp_path: Path, capsys, argv, message) -> None:
    out = tmp_path / "c.html"
    assert _in(project, "compare", *argv, "-o", str(out)) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_ls_formats(project: Path, capsys) -> None:
    assert _in(project, "ls", "digits", "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["version"] for r in rows] == [f"digits_V{i}" for i in range(23)]
    assert rows[0]["key_metric"] == "accuracy" and rows[0]["split"] == "test" and 0 <= float(rows[0]["value"]) <= 1
    assert _in(project, "ls", "--format", "md") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| experiment | version |") and lines[1].startswith("|---|")
    assert any("| digits_V1 | completed | test accuracy: " in line for line in lines)
    assert _in(project, "ls", "digits", "--format", "json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 23


def test_mlflow_run_read_back_with_mlflows_client(project: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_name for r in runs] == ["digits_V0"]  # V1 logged to TensorBoard only
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["runway.version"] == "digits_V0"
    assert run.data.params["config/executor/ExecutorClass"] == "DigitsExecutor"  # the template's
    assert run.data.params["config/meta/logger_enable"] == "['csv', 'mlflow']"
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert len(history) == 2  # two epochs
    csv_losses = [v for _, v in read_curves(project / "experiments" / "digits_V0").epoch["val_loss"]]
    assert [h.value for h in history] == pytest.approx(csv_losses, rel=1e-6)


@needs_chromium
def test_page_renders_offline_in_headless_chromium(project: Path, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "compare.html"
    assert _in(project, "compare", "digits", "--group-by", LR, "-o", str(out)) == 0
    shot = tmp_path / "page.png"
    first = "document.querySelector('#versions tbody tr').getAttribute('data-version')"
    header = "Array.from(document.querySelectorAll('#versions th')).find(h => h.textContent === '{}').click()"
    facts = bench.open_page(
        out,
        screenshot=shot,
        scripts={
            "loaded": first,
            "sort": header.format("val_loss best"),
            "lowest": first,
            "again": header.format("val_loss best"),
            "highest": first,
            "by_name": header.format("version"),
            "by_name_first": first,
            "by_name_second": "document.querySelectorAll('#versions tbody tr')[2].getAttribute('data-version')",
        },
    )
    assert facts["requests"] == []  # nothing leaves the page
    assert facts["rows"] == 23 and facts["plots"] == 2 and facts["lines"] >= 23
    assert facts["traces"] >= 4 * 3  # 4 panels, at least 3 groups (band + mean)
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)

    def coloured(box: dict[str, float]) -> float:
        """Share of strongly coloured pixels (lines, bands) in a box of the screenshot."""
        x, y, w, h = (int(box[k]) for k in ("x", "y", "width", "height"))
        crop = image[y : y + h, x : x + w]
        return float(((crop.max(axis=2) - crop.min(axis=2)) > 60).mean())

    # Clicking a header sorts by it, again reverses; names sort by their number (V2 before V10).
    best = {
        v["name"]: v["metrics"]["val_loss"]["best"]
        for v in compare_versions(select_versions(project, ["digits"]))["versions"]
        if "val_loss" in v["metrics"]
    }
    assert facts["scripts"]["loaded"] == "digits_V0"
    assert facts["scripts"]["lowest"] == min(best, key=best.get)
    assert facts["scripts"]["highest"] == max(best, key=best.get)
    assert [facts["scripts"]["by_name_first"], facts["scripts"]["by_name_second"]] == ["digits_V0", "digits_V2"]
    boxes = facts["boxes"]
    assert image.shape[0] >= boxes["plot-1"]["y"] + boxes["plot-1"]["height"] - 1
    assert coloured(boxes["plot-0"]) > 0.01  # curves and bands drawn
    assert coloured(boxes["plot-1"]) > 0.01  # parallel coordinates drawn
    table = image[int(boxes["versions"]["y"]) : int(boxes["versions"]["y"] + boxes["versions"]["height"])]
    assert (table.mean(axis=2) < 128).mean() > 0.01  # table text rendered


def test_curves_split_per_epoch_and_per_step_and_keep_a_resumed_step_once(tmp_path: Path) -> None:
    """Lightning's CSV layout: ``train_loss_step`` per step, ``val_loss`` per epoch; a resumed run logged
    epoch 1 again (the later values win); a metric logged several times an epoch without suffix is per step."""
    logs = tmp_path / "digits_V0" / "train" / "logs" / "csv"
    logs.mkdir(parents=True)
    (logs / "metrics.csv").write_text(
        "epoch,step,train_loss_step,val_loss,lr\n"
        "0,4,2.0,,0.1\n0,9,1.8,,0.1\n0,9,,1.5,\n"
        "1,14,1.6,,0.05\n1,19,1.4,,0.05\n1,19,,1.2,\n"
        "1,19,,1.1,\n"  # the resumed run's validation of epoch 1
    )
    curves = read_curves(tmp_path / "digits_V0")
    assert curves.epoch == {"val_loss": [(0.0, 1.5), (1.0, 1.1)]}
    assert curves.step["train_loss"] == [(4.0, 2.0), (9.0, 1.8), (14.0, 1.6), (19.0, 1.4)]
    assert curves.step["lr"][-1] == (19.0, 0.05)


def test_unwritable_output_is_a_clear_error(project: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    assert _in(project, "compare", "digits_V0", "-o", str(tmp_path / "a_file" / "c.html")) == 2
    assert "cannot write the page" in capsys.readouterr().err
