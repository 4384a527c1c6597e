"""The parallel-coordinates figure of the ``runway compare`` page: the numeric (and few-valued) differing
config keys against the chosen metric, on a log scale for a key spanning more than two orders of magnitude.

>>> heading, figure, empty = parallel_figure(compare_versions(dirs))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from runway_for_ml.experiment.compare_curves import plot_template
from runway_for_ml.experiment.compare_groups import SEED_KEY
from runway_for_ml.experiment.compare_table import format_value

__all__ = ["log_axis", "parallel_figure"]


def log_axis(values: list[float]) -> bool:
    """True when positive values span more than two orders of magnitude (plotted on a log scale).

    >>> log_axis([1e-4, 3e-3, 1e-1]), log_axis([0.1, 0.5]), log_axis([0.0, 10.0, 1000.0])
    (True, False, False)
    """
    present = [v for v in values if v is not None]
    return bool(present) and min(present) > 0 and max(present) / min(present) > 100


def parallel_figure(data: dict[str, Any]) -> tuple[str, Any, str]:
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
    fig.add_trace(_colour_bar(metric, low, high))
    _decorate(fig, axes)
    return heading, fig, ""


def _colour_bar(metric: dict[str, Any], low: float, high: float) -> Any:
    """The colour bar: one invisible marker carrying the metric's scale (the best end yellow)."""
    import plotly.graph_objects as go

    return go.Scatter(
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


def _decorate(fig: Any, axes: list[dict[str, Any]]) -> None:
    """Draw each vertical axis (a line, its title, its ticks) and lay the figure out."""
    import plotly.graph_objects as go

    shapes, notes = [], []
    for x, axis in enumerate(axes):
        shapes.append({"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "line": {"color": "#555", "width": 1}})
        notes.append({"x": x, "y": 1.04, "text": f"<b>{html.escape(axis['label'])}</b>", "yanchor": "bottom"})
        for y, text in axis["ticks"]:
            shapes.append({"type": "line", "x0": x - 0.02, "x1": x, "y0": y, "y1": y, "line": {"color": "#555"}})
            notes.append({"x": x, "y": y, "text": html.escape(text), "xanchor": "right", "xshift": -6})
    template = plot_template()
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


def _axis(key: str, raw: list[Any], categorical: bool, *, label: str | None = None) -> dict[str, Any]:
    """One vertical axis: ``y`` (each version's position in 0..1, None when it lacks the key), the
    ``text`` shown on hover, and ``ticks`` ``[(y, label)]``. Log scale (ticks ``1e-4``, ``1e-3``, ...) for
    positive numbers spanning more than two orders of magnitude."""
    if label is None:
        label = key if len(key) <= 28 else "…" + ".".join(key.split(".")[-2:])[-27:]
    text = [format_value(x) if x is not None else "-" for x in raw]
    if categorical:
        levels = sorted({json.dumps(x, default=str) for x in raw if x is not None})
        step = 1 / max(len(levels) - 1, 1)
        at = {level: i * step if len(levels) > 1 else 0.5 for i, level in enumerate(levels)}
        ys = [at[json.dumps(x, default=str)] if x is not None else None for x in raw]
        return {
            "label": label,
            "y": ys,
            "text": text,
            "ticks": [(at[lv], format_value(json.loads(lv))) for lv in levels],
        }
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
