"""The ``runway compare`` page: one self-contained HTML file (plotly.js inlined, works offline).

Three parts (:mod:`~runway_for_ml.experiment.compare_table`, :mod:`~runway_for_ml.experiment.compare_curves`,
:mod:`~runway_for_ml.experiment.compare_parallel`), from :func:`runway_for_ml.experiment.compare.compare_versions`:

- a table of versions (name linking to its ``report.html``, status, date, the config keys that differ,
  each logged metric's last and best value, evaluation metrics), sortable by any column;
- training curves, per epoch and per step, one line per version (or, with ``--group-by``, one line per
  group with a mean ± std band over its seeds);
- parallel coordinates of the numeric (and few-valued) differing keys against the chosen metric, on a
  log scale for a key whose values span more than two orders of magnitude.

The charts are plotly figures; the only script of our own sorts the table.

>>> build_compare_page(compare_versions(dirs), Path("compare.html"))  # doctest: +SKIP
PosixPath('compare.html')
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.experiment.compare_curves import curves_figure
from runway_for_ml.experiment.compare_parallel import parallel_figure
from runway_for_ml.experiment.compare_table import table_html

__all__ = ["build_compare_page"]

_SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], up = th.getAttribute("data-dir") !== "asc";
    th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", up ? "asc" : "desc");
    var key = function (row) {
      var c = row.cells[col], v = c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent;
      var n = Number(v); return v === "" ? null : (isNaN(n) ? v : n); };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
      var c = typeof x === "number" && typeof y === "number" ? x - y
        : String(x).localeCompare(String(y), undefined, {numeric: true});
      return up ? c : -c;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
.meta { color: #666; font-size: 13px; }
.scroll { overflow-x: auto; max-height: 70vh; }
table.sortable { border-collapse: collapse; font-size: 12.5px; }
table.sortable th { position: sticky; top: 0; background: #eef1f6; cursor: pointer; white-space: nowrap;
  padding: 5px 8px; border-bottom: 2px solid #c8d0dc; text-align: left; }
table.sortable th[data-dir=asc]::after { content: " \\25B2"; } table.sortable th[data-dir=desc]::after { content: " \\25BC"; }
table.sortable td { padding: 4px 8px; border-bottom: 1px solid #e5e8ee; white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } td.best { font-weight: 700; }
td.note { color: #a15c00; white-space: normal; min-width: 180px; }
.status-completed { color: #1a7f37; } .status-failed, .status-corrupt { color: #cf222e; }
.empty { color: #666; font-style: italic; }
"""


def build_compare_page(data: dict[str, Any], out_path: Path, *, title: str | None = None) -> Path:
    """Write the page for ``data`` (from ``compare_versions``) to ``out_path`` atomically; return the path."""
    import plotly.offline

    out_path = Path(out_path)
    versions = data["versions"]
    figures = [curves_figure(data), parallel_figure(data)]
    plots = []
    for index, (heading, figure, empty) in enumerate(figures):
        plots.append(f"<h2>{html.escape(heading)}</h2>")
        if figure is None:
            plots.append(f'<p class="empty">{html.escape(empty)}</p>')
        else:
            plots.append(_figure_html(figure, f"plot-{index}"))
    n_plots = sum(1 for _, f, _ in figures if f is not None)
    with_curves = sum(1 for v in versions if v["curves"])
    heading = title or f"{len(versions)} versions compared"
    details = [
        f"generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"{with_curves} of {len(versions)} with training curves",
    ]
    if data.get("group_by"):
        details.append(f"grouped by {data['group_by']} (mean ± std over seeds)")
    if data["metric"]["name"]:
        details.append(f"metric: {data['metric']['name']} ({data['metric']['direction']})")
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(heading)}</title>",
            f"<style>{_CSS}</style>",
            # plotly.js, inlined once for every figure: the page needs no network.
            f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
            "</head>",
            f'<body data-plots="{n_plots}" data-plots-done="0">',
            f"<h1>{html.escape(heading)}</h1>",
            f'<p class="meta">{html.escape(" · ".join(details))}</p>',
            "<h2>Versions</h2>",
            table_html(data, out_path.parent),
            *plots,
            f"<script>{_SORT_SCRIPT}</script>",
            "</body></html>",
        ]
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_path, page)
    return out_path


def _figure_html(figure: Any, div_id: str) -> str:
    import plotly.io as pio

    # The post script only counts drawn figures and notes when the last one was drawn (ms since the
    # page started loading): tests and the benchmark wait for data-plots-done and read data-drawn-ms.
    done = (
        "var b = document.body; b.setAttribute('data-plots-done', +b.getAttribute('data-plots-done') + 1);"
        "b.setAttribute('data-drawn-ms', performance.now());"
    )
    return pio.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        post_script=done,
        config={"displaylogo": False, "responsive": True},
        default_width="100%",
        default_height=f"{figure.layout.height}px",
    )
