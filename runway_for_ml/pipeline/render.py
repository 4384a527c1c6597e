"""Pictures of a pipeline plan: text table, Mermaid, Graphviz dot, PNG and SVG.

>>> plan = DataPipeline.from_config("configs/experiments/digits.jsonnet").plan()  # doctest: +SKIP
>>> print(render_dag(plan, "mermaid"))  # doctest: +SKIP
>>> render_dag(plan, "png", "dag.png")  # doctest: +SKIP

PNG and SVG are drawn with matplotlib and a networkx layout: no graphviz needed.

Colours by status: cached = green, will run = amber, stale = red.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import atomic_path, write_text_atomic
from runway_for_ml.errors import RunwayError, did_you_mean

__all__ = ["FORMATS", "STATUS_COLOURS", "dag_table", "render_dag"]

FORMATS = ("text", "mermaid", "dot", "png", "svg")
STATUS_COLOURS = {"cached": "#4caf50", "will run": "#ffb300", "stale": "#e53935"}
_RICH_STYLES = {"cached": "green", "will run": "yellow", "stale": "red"}


def render_dag(plan: Sequence[Any], fmt: str = "text", path: str | Path | None = None) -> str | None:
    """Render ``plan`` (a list of :class:`~runway_for_ml.pipeline.runner.NodePlan`) as ``fmt``.

    Text formats return the text (and also write it to ``path`` when given); ``png``/``svg`` write
    ``path`` (required) and return None.
    """
    if fmt not in FORMATS:
        raise RunwayError(
            f"unknown DAG format '{fmt}'{did_you_mean(fmt, FORMATS)}", hint=f"use one of {', '.join(FORMATS)}"
        )
    if fmt in ("png", "svg"):
        if path is None:
            raise RunwayError(f"rendering the DAG as {fmt} needs an output file", hint="pass -o dag." + fmt)
        _draw(plan, Path(path), fmt)
        return None
    text = {"text": _text, "mermaid": _mermaid, "dot": _dot}[fmt](plan)
    if path is not None:
        write_text_atomic(Path(path), text)
    return text


def dag_table(plan: Sequence[Any]) -> Any:
    """A rich Table of the plan: node, transform, inputs, status, reasons."""
    from rich.table import Table

    table = Table(title="data pipeline", title_justify="left")
    for column in ("node", "transform", "inputs", "status", "why"):
        table.add_column(column, overflow="fold")
    for p in plan:
        style = _RICH_STYLES.get(p.status, "")
        table.add_row(
            p.node,
            p.transform,
            ", ".join(p.inputs) or "-",
            f"[{style}]{p.status}[/{style}]" if style else p.status,
            "; ".join(p.reasons),
        )
    return table


def _text(plan: Sequence[Any]) -> str:
    from rich.console import Console

    console = Console(record=True, width=140, color_system=None, file=io.StringIO())
    console.print(dag_table(plan))
    return console.export_text()


def _ids(plan: Sequence[Any]) -> dict[str, str]:
    # Node keys contain ':' and other characters Mermaid/dot identifiers dislike.
    return {p.node: f"n{i}" for i, p in enumerate(plan)}


def _label(p: Any) -> str:
    why = f"\n{'; '.join(p.reasons)}" if p.status == "stale" and p.reasons else ""
    return f"{p.node}\n{p.transform}\n[{p.status}]{why}"


def _mermaid(plan: Sequence[Any]) -> str:
    ids = _ids(plan)
    lines = ["flowchart TD"]
    for p in plan:
        label = _label(p).replace('"', "'").replace("\n", "<br/>")
        lines.append(f'    {ids[p.node]}["{label}"]:::{p.status.replace(" ", "_")}')
    for p in plan:
        lines.extend(f"    {ids[u]} --> {ids[p.node]}" for u in p.inputs if u in ids)
    for status, colour in STATUS_COLOURS.items():
        lines.append(f"    classDef {status.replace(' ', '_')} fill:{colour},stroke:#333,color:#000")
    return "\n".join(lines) + "\n"


def _dot(plan: Sequence[Any]) -> str:
    ids = _ids(plan)
    lines = [
        "digraph data_pipeline {",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for p in plan:
        label = _label(p).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'    {ids[p.node]} [label="{label}", fillcolor="{STATUS_COLOURS.get(p.status, "#ffffff")}"];')
    for p in plan:
        lines.extend(f"    {ids[u]} -> {ids[p.node]};" for u in p.inputs if u in ids)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _draw(plan: Sequence[Any], path: Path, fmt: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display needed
    import matplotlib.pyplot as plt
    import networkx as nx
    from matplotlib.patches import Patch

    graph = nx.DiGraph()
    for p in plan:
        graph.add_node(p.node)
    for p in plan:
        graph.add_edges_from((u, p.node) for u in p.inputs if u in graph)
    # Layers = longest path from a source, drawn top to bottom.
    for node in nx.topological_sort(graph):
        preds = list(graph.predecessors(node))
        graph.nodes[node]["layer"] = 1 + max(graph.nodes[u]["layer"] for u in preds) if preds else 0
    pos = nx.multipartite_layout(graph, subset_key="layer", align="horizontal", scale=1.0) if plan else {}
    pos = {n: (x, -y) for n, (x, y) in pos.items()}  # layer 0 at the top
    layers = max((graph.nodes[n]["layer"] for n in graph), default=0) + 1
    widest = max((sum(1 for n in graph if graph.nodes[n]["layer"] == k) for k in range(layers)), default=1)
    fig, ax = plt.subplots(figsize=(max(6.0, 3.2 * widest), max(3.0, 1.6 * layers)))
    by_node = {p.node: p for p in plan}
    nx.draw_networkx_edges(graph, pos, ax=ax, arrows=True, arrowsize=14, node_size=3000, edge_color="#555")
    for node, (x, y) in pos.items():
        p = by_node[node]
        ax.text(
            x,
            y,
            f"{p.node}\n{p.transform}\n{p.status}"
            + (f"\n{_short('; '.join(p.reasons))}" if p.status == "stale" else ""),
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": STATUS_COLOURS.get(p.status, "#fff"), "edgecolor": "#333"},
        )
    ax.legend(
        handles=[Patch(facecolor=c, edgecolor="#333", label=s) for s, c in STATUS_COLOURS.items()],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
    )
    ax.margins(0.25, 0.25)
    ax.set_axis_off()
    fig.tight_layout()
    try:
        atomic_path(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120), suffix="." + fmt)
    finally:
        plt.close(fig)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
