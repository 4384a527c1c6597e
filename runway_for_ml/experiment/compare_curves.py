"""The training-curves figure of the ``runway compare`` page: per epoch and per step, one line per version
(or, with ``--group-by``, one line per group with a mean ± std band over its seeds).

>>> heading, figure, empty = curves_figure(compare_versions(dirs))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_POINTS", "PALETTE", "curves_figure", "plot_template"]

# Points kept per line: enough to read a curve, few enough that 50 versions stay small.
MAX_POINTS = 300
PALETTE = [
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"),
    *("#17becf", "#393b79", "#e6550d", "#31a354", "#843c39", "#756bb1", "#637939", "#d6616b", "#3182bd"),
]


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


def curves_figure(data: dict[str, Any]) -> tuple[str, Any, str]:
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
    template = plot_template()
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
        color = PALETTE[index % len(PALETTE)]

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
        color = PALETTE[index % len(PALETTE)]
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


def plot_template() -> Any:
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
