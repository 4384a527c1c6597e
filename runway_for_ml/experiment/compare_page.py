"""The ``runway compare`` page: one self-contained HTML file (plotly.js inlined, works offline).

Three parts, from :func:`runway_for_ml.experiment.compare.compare_versions`:

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
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.experiment.compare import SEED_KEY
from runway_for_ml.experiment.curves import metric_direction

__all__ = ["build_compare_page", "log_axis"]

# Points kept per line: enough to read a curve, few enough that 50 versions stay small.
MAX_POINTS = 300
_PALETTE = [
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"),
    *("#17becf", "#393b79", "#e6550d", "#31a354", "#843c39", "#756bb1", "#637939", "#d6616b", "#3182bd"),
]

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


def log_axis(values: list[float]) -> bool:
    """True when positive values span more than two orders of magnitude (plotted on a log scale).

    >>> log_axis([1e-4, 3e-3, 1e-1]), log_axis([0.1, 0.5]), log_axis([0.0, 10.0, 1000.0])
    (True, False, False)
    """
    present = [v for v in values if v is not None]
    return bool(present) and min(present) > 0 and max(present) / min(present) > 100


def build_compare_page(data: dict[str, Any], out_path: Path, *, title: str | None = None) -> Path:
    """Write the page for ``data`` (from ``compare_versions``) to ``out_path`` atomically; return the path."""
    import plotly.offline

    out_path = Path(out_path)
    versions = data["versions"]
    figures = [_curves_figure(data), _parallel_figure(data)]
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
            _table_html(data, out_path.parent),
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


# ----------------------------------------------------------------------------- table


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _cell(value: Any, *, css: str = "", shown: str | None = None) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    sort = "" if value is None else (f"{value:.7g}" if numeric else _fmt(value))
    classes = " ".join(c for c in (css, "n" if numeric else "") if c)
    text = _fmt(value) if shown is None else shown
    # The sort key (data-v) is written only where it differs from the text shown (the sorter reads either).
    key = "" if sort == text else f' data-v="{html.escape(sort)}"'
    css_attr = f' class="{classes}"' if classes else ""
    return f"<td{key}{css_attr}>{html.escape(text)}</td>"


def _best_of(values: list[Any], direction: str) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) < 2:
        return None
    return (min if direction == "min" else max)(numbers)


def _table_html(data: dict[str, Any], page_dir: Path) -> str:
    versions = data["versions"]
    group_of = {m: g["label"] for g in data.get("groups") or [] for m in g["members"]}
    search = any(v["search"] for v in versions)
    metric = data["metric"]
    headers = ["version"]
    if group_of:
        headers.append("group")
    headers += ["status", "date"]
    if search:
        headers.append("trial")
    headers += data["differing"]
    if metric["name"]:
        headers.append(metric["name"])
    metric_cols = [(m, part) for m in data["metrics"] for part in ("last", "best")]
    headers += [f"{m} {part}" for m, part in metric_cols]
    headers += data["eval_metrics"]
    headers.append("note")

    # The best value of each metric column is shown in bold.
    best: dict[str, Any] = {}
    for m, part in metric_cols:
        direction = next((v["metrics"][m]["direction"] for v in versions if m in v["metrics"]), "max")
        best[f"{m} {part}"] = _best_of([v["metrics"].get(m, {}).get(part) for v in versions], direction)
    for m in data["eval_metrics"]:
        best[m] = _best_of([v["eval"].get(m) for v in versions], metric_direction(m.rpartition("/")[2]))
    if metric["name"]:
        best[metric["name"]] = _best_of(list(metric["values"].values()), metric["direction"])

    rows = []
    for v in versions:
        target = v["report"] or v["path"]
        link = html.escape(Path(os.path.relpath(target, page_dir)).as_posix())
        title = "report.html" if v["report"] else "no report.html yet: the version folder"
        cells = [f'<td><a href="{link}" title="{title}">{html.escape(v["name"])}</a></td>']
        if group_of:
            cells.append(_cell(group_of.get(v["name"])))
        cells.append(_cell(v["status"], css=f"status-{v['status']}"))
        created = v["created_at"] or ""
        cells.append(_cell(created, shown=created[:16].replace("T", " ")))
        if search:
            cells.append(_cell((v["search"] or {}).get("trial")))
        cells += [_cell(v["config"].get(k)) for k in data["differing"]]

        def scored(column: str, value: Any) -> str:
            return _cell(value, css="best" if value is not None and value == best.get(column) else "")

        if metric["name"]:
            cells.append(scored(metric["name"], metric["values"].get(v["name"])))
        cells += [scored(f"{m} {part}", v["metrics"].get(m, {}).get(part)) for m, part in metric_cols]
        cells += [scored(m, v["eval"].get(m)) for m in data["eval_metrics"]]
        cells.append(_cell(v["note"], css="note"))
        rows.append(f'<tr data-version="{html.escape(v["name"])}">{"".join(cells)}</tr>')
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return (
        f'<div class="scroll"><table class="sortable" id="versions"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# ----------------------------------------------------------------------------- curves


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = math.ceil(len(points) / MAX_POINTS)
    return points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])


def _panels(data: dict[str, Any]) -> list[tuple[str, str]]:
    """``(metric, "epoch" | "step")`` for each subplot: per-epoch metrics, then per-step ones."""
    versions = data["versions"]
    out = [(m, "epoch") for m in data["metrics"] if any(m in v["curves"].epoch for v in versions)]
    out += [(m, "step") for m in data["metrics"] if any(m in v["curves"].step for v in versions)]
    return out


def _curves_figure(data: dict[str, Any]) -> tuple[str, Any, str]:
    heading = "Training curves" + (" (mean ± std over seeds)" if data.get("groups") else "")
    panels = _panels(data)
    if not panels:
        return heading, None, "None of these versions has logged curves (CSV or TensorBoard logs)."
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{m} per {per}" for m, per in panels],
        horizontal_spacing=0.08,
        vertical_spacing=min(0.17, 0.4 / rows),
    )
    lines = _group_lines(data) if data.get("groups") else _version_lines(data)
    many = len(lines) > 12
    for index, (metric, per) in enumerate(panels):
        row, col = index // cols + 1, index % cols + 1
        for line in lines:
            for trace in line["traces"](metric, per):
                if per == "epoch" and not many and trace.mode is None:
                    trace.mode = "lines+markers"  # a few lines: the epochs marked
                fig.add_trace(trace, row=row, col=col)
        fig.update_xaxes(title_text=per, row=row, col=col, tickformat="d")
    shown: set[str] = set()
    for trace in fig.data:  # one legend entry per line, toggling it in every panel
        trace.showlegend = trace.legendgroup not in shown and trace.name is not None and trace.showlegend is not False
        if trace.showlegend:
            shown.add(trace.legendgroup)
    template = _template()
    template.data.scatter = [
        go.Scatter(
            mode="lines",
            line={"width": 1.5},
            marker={"size": 4},
            hovertemplate="%{fullData.name}<br>%{x}: %{y:.4g}<extra></extra>",
        )
    ]
    fig.update_layout(
        template=template,
        height=330 * rows + 60,
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        legend={"font": {"size": 11}},
        hovermode="closest",
    )
    return heading, fig, ""


def _arrays(points: list[tuple[float, float]]) -> tuple[Any, Any]:
    import numpy as np

    points = _thin(points)
    # float32 values and integer x: plotly stores them as compact base64 typed arrays.
    xs = np.array([x for x, _ in points])
    whole = np.all(np.mod(xs, 1) == 0)
    xs = xs.astype(np.uint16 if whole and xs.min() >= 0 and xs.max() < 65536 else np.int32 if whole else np.float32)
    return xs, np.array([y for _, y in points], dtype=np.float32)


def _version_lines(data: dict[str, Any]) -> list[dict[str, Any]]:
    import plotly.graph_objects as go

    lines = []
    for index, v in enumerate(data["versions"]):
        color = _PALETTE[index % len(_PALETTE)]

        def traces(metric: str, per: str, v: dict[str, Any] = v, color: str = color) -> list[Any]:
            points = (v["curves"].epoch if per == "epoch" else v["curves"].step).get(metric)
            if not points:
                return []
            xs, ys = _arrays(points)
            # Line width, markers and hover text come from the figure's template (written once, not 50 times).
            return [go.Scatter(x=xs, y=ys, name=v["name"], legendgroup=v["name"], line={"color": color})]

        lines.append({"traces": traces})
    return lines


def _group_lines(data: dict[str, Any]) -> list[dict[str, Any]]:
    import numpy as np
    import plotly.graph_objects as go

    by_name = {v["name"]: v for v in data["versions"]}
    lines = []
    for index, group in enumerate(data["groups"]):
        color = _PALETTE[index % len(_PALETTE)]
        members = [by_name[m] for m in group["members"]]
        label = f"{group['label']} (n={len(members)})"

        def traces(
            metric: str, per: str, members: list[dict[str, Any]] = members, color: str = color, label: str = label
        ) -> list[Any]:
            at: dict[float, list[float]] = {}
            for v in members:
                for x, y in (v["curves"].epoch if per == "epoch" else v["curves"].step).get(metric) or []:
                    at.setdefault(x, []).append(y)
            if not at:
                return []
            xs = sorted(at)
            mean = [float(np.mean(at[x])) for x in xs]
            # Sample std over the seeds at each x (0 where only one seed logged it).
            std = [float(np.std(at[x], ddof=1)) if len(at[x]) > 1 else 0.0 for x in xs]
            x_arr, mean_arr = _arrays(list(zip(xs, mean, strict=True)))
            _, upper = _arrays([(x, m + s) for x, m, s in zip(xs, mean, std, strict=True)])
            _, lower = _arrays([(x, m - s) for x, m, s in zip(xs, mean, std, strict=True)])
            r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
            band = {"legendgroup": label, "showlegend": False, "hoverinfo": "skip", "mode": "lines"}
            return [
                go.Scatter(x=x_arr, y=upper, line={"width": 0, "color": color}, **band),
                go.Scatter(
                    x=x_arr,
                    y=lower,
                    line={"width": 0, "color": color},
                    fill="tonexty",
                    fillcolor=f"rgba({r},{g},{b},0.2)",
                    **band,
                ),
                go.Scatter(
                    x=x_arr,
                    y=mean_arr,
                    name=label,
                    legendgroup=label,
                    line={"color": color, "width": 2},
                    customdata=np.array(std, dtype=np.float32),
                    hovertemplate="%{fullData.name}<br>%{x}: %{y:.4g} ± %{customdata:.2g}<extra></extra>",
                ),
            ]

        lines.append({"traces": traces})
    return lines


# ----------------------------------------------------------------------------- parallel coordinates


def _parallel_figure(data: dict[str, Any]) -> tuple[str, Any, str]:
    """Parallel coordinates as plotly scatter lines on normalised vertical axes.

    plotly's ``Parcoords`` draws with WebGL: in a browser without a GPU (headless Chromium, remote
    desktops) it alone costs about 2 CPU seconds whatever the number of lines. Lines of ``Scatter``
    traces draw as SVG in a fraction of that, and hovering a line names its version and values.
    """
    metric = data["metric"]
    heading = "Parallel coordinates" + (f": config keys against {metric['name']}" if metric["name"] else "")
    keys = [k for k in data["numeric"] if k != SEED_KEY] + data["categorical"]
    if not keys:
        return heading, None, "No numeric config key differs between these versions."
    if not metric["name"] or not metric["values"]:
        return heading, None, "No version has the metric to plot against (see --metric)."
    import plotly.graph_objects as go
    from plotly.colors import sample_colorscale

    versions = [v for v in data["versions"] if metric["values"].get(v["name"]) is not None]
    values = [metric["values"][v["name"]] for v in versions]
    axes = [_axis(key, [v["config"].get(key) for v in versions], key in data["categorical"]) for key in keys]
    axes.append(_axis(metric["name"], values, False, label=metric["name"]))
    low, high = min(values), max(values)
    # The best end of the colour scale is yellow whichever the direction.
    shades = [(x - low) / (high - low) if high > low else 1.0 for x in values]
    shades = [1 - t for t in shades] if metric["direction"] == "min" else shades
    colors = sample_colorscale("Viridis", shades)
    fig = go.Figure()
    positions = list(range(len(axes)))
    for index, v in enumerate(versions):
        shown = [axis["text"][index] for axis in axes]
        ys = [None if axis["y"][index] is None else round(axis["y"][index], 5) for axis in axes]
        fig.add_trace(go.Scatter(x=positions, y=ys, text=shown, name=v["name"], line={"color": colors[index]}))
    # The colour bar: one invisible marker carrying the scale.
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            showlegend=False,
            hoverinfo="skip",
            marker={
                "colorscale": "Viridis",
                "reversescale": metric["direction"] == "min",
                "cmin": low,
                "cmax": high,
                "color": [low],
                "showscale": True,
                "colorbar": {"title": {"text": metric["name"]}, "len": 0.9},
            },
        )
    )
    shapes, notes = [], []
    for x, axis in enumerate(axes):
        shapes.append({"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "line": {"color": "#555", "width": 1}})
        notes.append({"x": x, "y": 1.04, "text": f"<b>{html.escape(axis['label'])}</b>", "yanchor": "bottom"})
        for y, text in axis["ticks"]:
            shapes.append({"type": "line", "x0": x - 0.02, "x1": x, "y0": y, "y1": y, "line": {"color": "#555"}})
            notes.append({"x": x, "y": y, "text": html.escape(text), "xanchor": "right", "xshift": -6})
    template = _template()
    # Written once for the 50 lines: hovering a line's point names the version and its value there.
    template.data.scatter = [
        go.Scatter(
            mode="lines",
            line={"width": 1.5},
            showlegend=False,
            hovertemplate="%{fullData.name}: %{text}<extra></extra>",
        )
    ]
    fig.update_layout(
        template=template,
        height=460,
        margin={"l": 60, "r": 30, "t": 40, "b": 20},
        shapes=shapes,
        annotations=[
            {"showarrow": False, "font": {"size": 11}, "bgcolor": "rgba(255,255,255,0.7)", **note} for note in notes
        ],
        xaxis={"visible": False, "range": [-0.45, len(axes) - 0.7]},
        yaxis={"visible": False, "range": [-0.04, 1.1]},
        hovermode="closest",
    )
    return heading, fig, ""


def _template() -> Any:
    """A small white plotly template: plotly's own ``plotly_white`` weighs 6.5 kB per figure."""
    import plotly.graph_objects as go

    axis = {"gridcolor": "#ebedf0", "linecolor": "#c8ccd2", "zerolinecolor": "#c8ccd2", "automargin": True}
    return go.layout.Template(
        layout={
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "font": {"color": "#2a3f5f"},
            "xaxis": axis,
            "yaxis": axis,
            "hoverlabel": {"align": "left"},
        }
    )


def _axis(key: str, raw: list[Any], categorical: bool, *, label: str | None = None) -> dict[str, Any]:
    """One vertical axis: ``y`` (each version's position in 0..1, None when it lacks the key), the
    ``text`` shown on hover, and ``ticks`` ``[(y, label)]``. Log scale (ticks ``1e-4``, ``1e-3``, ...) for
    positive numbers spanning more than two orders of magnitude."""
    if label is None:
        label = key if len(key) <= 28 else "…" + ".".join(key.split(".")[-2:])[-27:]
    text = [_fmt(x) if x is not None else "-" for x in raw]
    if categorical:
        levels = sorted({json.dumps(x, default=str) for x in raw if x is not None})
        step = 1 / max(len(levels) - 1, 1)
        at = {level: i * step if len(levels) > 1 else 0.5 for i, level in enumerate(levels)}
        ys = [at[json.dumps(x, default=str)] if x is not None else None for x in raw]
        return {"label": label, "y": ys, "text": text, "ticks": [(at[lv], _fmt(json.loads(lv))) for lv in levels]}
    numbers = [float(x) for x in raw if x is not None]
    log = log_axis(numbers)
    scale = (lambda x: math.log10(x)) if log else (lambda x: x)
    low, high = min(map(scale, numbers)), max(map(scale, numbers))
    if log:
        low, high = math.floor(low), math.ceil(high)
        ticks = [(float(t), f"1e{t}") for t in range(int(low), int(high) + 1)]
        label = f"{label} (log)"
    else:
        ticks = [(low + (high - low) * i / 4, f"{low + (high - low) * i / 4:.4g}") for i in range(5)]
        if high == low:
            ticks = [(low, f"{low:.4g}")]
    span = (high - low) or 1.0
    offset = 0.0 if high > low else 0.5

    def place(x: float) -> float:
        return (scale(x) - low) / span + offset

    ys = [place(float(x)) if x is not None else None for x in raw]
    return {"label": label, "y": ys, "text": text, "ticks": [(place(10**t if log else t), s) for t, s in ticks]}
