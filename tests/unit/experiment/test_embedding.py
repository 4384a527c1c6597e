"""``runway embed``: files written, colouring, the report section, and projection.html in headless Chromium."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chromium_headless import headless_args, needs_chromium
from test_chaining import CLF, make_version

from runway_for_ml.cli.main import main
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.embedding import EmbeddingTable, colouring, render_projection_html

DATA = {
    "data_pipeline": {
        "transforms": {
            "input:Digits": {"transform_name": "LoadSklearnDigits", "setup_kwargs": {"max_rows": 150}},
            "output:Split": {
                "input_node": "input:Digits",
                "transform_name": "SplitHFDataset",
                "setup_kwargs": {"test_size": 0.4, "seed": 0},
            },
        }
    },
    "train": {"data_node": "output:Split"},
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    (root / "configs" / "experiments").mkdir(parents=True)
    (root / ".runway").write_text("")
    make_version(root, "clf", 0, config={**CLF, **DATA})
    monkeypatch.chdir(root)
    return root


def chromium(tmp_path: Path, url: str, *extra: str) -> str:
    """Run headless Chromium on ``url`` (scripts run); return the DOM it dumps (or '' for a screenshot)."""
    command = [
        *headless_args(tmp_path / "chromium-profile"),
        "--virtual-time-budget=3000",
        "--window-size=900,700",
        *extra,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_runway_embed_writes_parquet_png_html_and_updates_the_report(project: Path) -> None:
    import pyarrow.parquet as pq

    from runway_for_ml.experiment.report import build_report

    version = project / "experiments" / "clf_V0"
    build_report(version)
    assert main(["embed", "clf_V0", "--split", "test", "--method", "pca", "--limit", "40"]) == 0
    out = version / "embed-test"
    assert sorted(p.name for p in out.iterdir()) == [
        "embed.json",
        "embeddings.parquet",
        "projection.html",
        "projection.png",
    ]
    table = pq.read_table(out / "embeddings.parquet").to_pydict()
    assert list(table) == ["id", "vector", "label", "prediction", "x", "y"]
    assert table["id"] == list(range(40)) and len(table["vector"][0]) == 16
    assert set(table["label"]) <= set(range(10)) and set(table["prediction"]) <= set(range(10))
    assert (out / "projection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((out / "embed.json").read_text())
    assert (info["rows"], info["split_rows"], info["method"], info["color_by"]) == (40, 60, "pca", "label")
    page = (out / "projection.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "projection.html must not load anything"
    report = (version / "report.html").read_text()
    assert "Embeddings: embed-test" in report and 'href="embed-test/projection.html"' in report
    # Running again replaces the folder whole.
    assert main(["embed", "clf_V0", "--method", "pca", "--limit", "10", "--color-by", "prediction"]) == 0
    assert json.loads((out / "embed.json").read_text())["rows"] == 10
    assert not list(version.glob(".embed-*"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--split", "tset"], "did you mean 'test'"),
        (["--color-by", "pixel"], "did you mean 'pixels'"),
        (["--limit", "0"], "--limit must be a positive"),
        (["--color-by", "pixels"], "the column holds lists"),
        pytest.param(
            ["--method", "umap"],
            "pip install umap-learn",
            marks=pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn is installed"),
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["embed", "clf_V0", "--method", "pca", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not list((project / "experiments" / "clf_V0").glob("*embed-*"))


def test_unknown_version_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["embed", "clf_V3"]) == 2
    assert "has no version 3" in capsys.readouterr().err


def test_colouring_categories_numbers_and_errors() -> None:
    table = EmbeddingTable(
        ids=[0, 1, 2],
        vectors=np.zeros((3, 2)),
        label=[0, 1, 1],
        prediction=[1, 1, 1],
        columns={"score": [0.5 + i / 7 for i in range(3)]},
        label_names=["neg", "pos"],
    )
    by_label = colouring(table, "label")
    assert (by_label.kind, by_label.categories, by_label.index()) == ("categorical", ["neg", "pos"], [0, 1, 1])
    many = EmbeddingTable(ids=list(range(30)), vectors=np.zeros((30, 2)), columns={"score": [i / 3 for i in range(30)]})
    score = colouring(many, "score")
    assert score.kind == "continuous" and score.index()[0] == 0 and score.index()[-1] == 255
    with pytest.raises(RunwayError, match="did you mean 'prediction'"):
        colouring(table, "predictoin")


def sample_table(texts: list[str]) -> tuple[Any, EmbeddingTable]:
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 1, (len(texts) // 2, 2)), rng.normal(8, 1, (len(texts) - len(texts) // 2, 2))])
    table = EmbeddingTable(
        ids=list(range(len(texts))),
        vectors=points,
        label=[i % 2 for i in range(len(texts))],
        prediction=[1] * len(texts),
        text=texts,
        label_names=["negative", "positive"],
    )
    return points, table


@needs_chromium
def test_projection_html_renders_points_and_hover_text_in_chromium(tmp_path: Path) -> None:
    texts = [f"review number {i}: a fine film" for i in range(50)]
    texts[7] = "</script><b id='injected'>bold</b> & it still reads as text"
    points, table = sample_table(texts)
    page = tmp_path / "projection.html"
    page.write_text(render_projection_html(points, table, colouring(table, "label"), "reviews_V0: test"), "utf-8")
    dom = chromium(tmp_path, f"{page.as_uri()}#point=7", "--dump-dom")
    assert 'data-points-drawn="50"' in dom
    tooltip = re.search(r'<div id="tooltip"[^>]*data-point="7"[^>]*>(.*?)</div></div>', dom, re.S)
    assert tooltip, dom[-3000:]
    assert "#7 · label: negative (1)" not in tooltip.group(1)  # label 1 is 'positive'
    assert "label: positive (1)" in tooltip.group(1)
    # The review's text is shown as text, not parsed as markup.
    assert "&lt;/script&gt;&lt;b id='injected'&gt;bold&lt;/b&gt; &amp; it still reads as text" in tooltip.group(1)
    assert 'id="injected"' not in dom
    assert "label" in dom and "negative" in dom  # the legend

    shot = tmp_path / "shot.png"
    chromium(tmp_path, page.as_uri(), f"--screenshot={shot}")
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    # Coloured (non-grey) pixels: the points, drawn in the two label colours.
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 0.3).sum() > 500


# Real DOM events on the page's canvas: hover a point, wheel-zoom, drag-pan; results into attributes.
INTERACT = """
<script>
(function () {
  var api = window.runwayProjection, canvas = document.getElementById("plot"), body = document.body;
  function fire(type, x, y, extra) {
    var init = Object.assign({ clientX: x, clientY: y, bubbles: true, cancelable: true }, extra || {});
    var target = type === "mousemove" || type === "mouseup" ? window : canvas;
    target.dispatchEvent(type === "wheel" ? new WheelEvent(type, init) : new MouseEvent(type, init));
  }
  var p = api.screen(3);
  fire("mousemove", p[0] + 1, p[1] + 1);
  var tip = document.getElementById("tooltip");
  body.setAttribute("data-hover-point", tip.getAttribute("data-point"));
  body.setAttribute("data-hover-text", tip.textContent);
  fire("mousemove", 5, 5);  /* away from every point: the tooltip goes */
  body.setAttribute("data-hover-gone", tip.style.display);
  var before = api.view.scale, drawn = +body.getAttribute("data-points-drawn");
  fire("wheel", 450, 350, { deltaY: -600 });
  body.setAttribute("data-zoom-ratio", String(api.view.scale / before));
  body.setAttribute("data-drawn-before-after", drawn + "/" + body.getAttribute("data-points-drawn"));
  var cx = api.view.cx;
  fire("mousedown", 300, 300); fire("mousemove", 500, 300); fire("mouseup", 500, 300);
  body.setAttribute("data-pan-dx", String((cx - api.view.cx) * api.view.scale));
})();
</script>
</body>"""


@needs_chromium
def test_projection_html_hover_zoom_and_pan_with_dom_events(tmp_path: Path) -> None:
    points, table = sample_table([f"example sentence {i}" for i in range(200)])
    html_text = render_projection_html(points, table, colouring(table, "label"), "t")
    page = tmp_path / "interact.html"
    page.write_text(html_text.replace("</body>", INTERACT), "utf-8")
    dom = chromium(tmp_path, page.as_uri(), "--dump-dom")
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r"<body[^>]*>", dom).group(0)))
    assert attrs["hover-point"] == "3"
    assert "example sentence 3" in attrs["hover-text"]
    assert attrs["hover-gone"] == "none"
    assert float(attrs["zoom-ratio"]) > 2  # wheel up zooms in around the cursor
    before, after = map(int, attrs["drawn-before-after"].split("/"))
    assert before == 200 and after < before  # zoomed in: fewer points on screen
    assert abs(float(attrs["pan-dx"]) - 200) < 1  # dragged 200 px right: the view moved 200 px
