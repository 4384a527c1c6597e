"""``report.html`` of an experiment version: summary, metrics, training curves, confusion matrix, DAG.

The report is one self-contained HTML file (pictures embedded as base64 / inline SVG) in the version
folder, so it can be mailed or attached to a paper draft as is.

>>> build_report(Path("experiments/digits_V0"))  # doctest: +SKIP
PosixPath('experiments/digits_V0/report.html')
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.layout import REPORT_NAME, VersionDir
from runway_for_ml.experiment.listing import read_metrics
from runway_for_ml.pipeline.render import render_dag

__all__ = ["REPORT_NAME", "build_report", "read_training_curves"]


def read_training_curves(version_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """``{metric: [(step, value), ...]}`` from the CSV logger's ``metrics.csv`` files of a version."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(VersionDir(version_dir).logs_dir.rglob("metrics.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                step = _num(row.get("step"))
                if step is None:
                    continue
                for key, raw in row.items():
                    if key in ("step", "epoch") or key is None:
                        continue
                    value = _num(raw)
                    if value is not None:
                        curves.setdefault(key, []).append((step, value))
    return {k: sorted(v) for k, v in curves.items()}


def _num(text: Any) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _curves_png(curves: dict[str, list[tuple[float, float]]]) -> bytes | None:
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = {k: v for k, v in curves.items() if "loss" in k}
    others = {k: v for k, v in curves.items() if "loss" not in k and not k.startswith(("lr", "learning_rate"))}
    panels = [(title, group) for title, group in (("loss", losses), ("metrics", others)) if group]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    try:
        for ax, (title, group) in zip(axes[0], panels, strict=False):
            for name, points in sorted(group.items()):
                xs, ys = zip(*points, strict=False)
                ax.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3, label=name)
            ax.set_title(title)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _dag_svg(config: dict[str, Any], project_root: Path | None) -> str | None:
    """The pipeline DAG as inline SVG (node statuses as of now), or None when it cannot be drawn."""
    try:
        from runway_for_ml.experiment.checks import import_project_code
        from runway_for_ml.experiment.data import pipeline_for
        from runway_for_ml.experiment.sections import data_source

        import_project_code(config, project_root)
        pipeline = pipeline_for(config, project_root)
        nodes = sorted({ref["node"] for ref in data_source(config, "train").values()})
        plan = pipeline.plan(nodes)
        fd, tmp = tempfile.mkstemp(suffix=".svg")
        os.close(fd)
        try:
            render_dag(plan, "svg", tmp)
            text = Path(tmp).read_text(encoding="utf-8")
        finally:
            Path(tmp).unlink(missing_ok=True)
        # Drop the XML prologue so the SVG can sit inside HTML.
        start = text.find("<svg")
        return text[start:] if start >= 0 else None
    except Exception as exc:  # the report must not fail a finished run
        return f"<p>DAG picture unavailable: {html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>"


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(json.dumps(value) if isinstance(value, (list, dict)) else str(value))


def _table(rows: Any, headers: tuple[str, str] | None = None, *, code: bool = False) -> list[str]:
    """An HTML table of ``(key, value)`` rows (``headers`` as the first row; ``code`` for monospace values)."""
    out = ["<table>"]
    if headers:
        out.append(f"<tr><th>{html.escape(headers[0])}</th><th>{html.escape(headers[1])}</th></tr>")
    for key, value in rows:
        shown = f"<code>{html.escape(str(value))}</code>" if code else _fmt(value)
        cell = "th" if headers is None else "td"
        out.append(f"<tr><{cell}>{html.escape(str(key))}</{cell}><td>{shown}</td></tr>")
    out.append("</table>")
    return out


def _summary_section(manifest: dict[str, Any], version_name: str) -> list[str]:
    env = manifest.get("environment") or {}
    git = env.get("git") or {}
    summary = {
        "experiment": manifest.get("experiment"),
        "version": version_name,
        "status": manifest.get("status"),
        "parent experiment": manifest.get("parent_experiment"),
        "seed": manifest.get("seed"),
        "started": manifest.get("started_at"),
        "ended": manifest.get("ended_at"),
        "training seconds": manifest.get("train_seconds"),
        "host": env.get("host"),
        "git commit": (git.get("commit") or "")[:12] + (" (dirty)" if git.get("dirty") else "") if git else None,
        "overrides": ", ".join(f"{o['path']}={json.dumps(o['value'])}" for o in manifest.get("overrides") or [])
        or None,
    }
    return ["<h2>Summary</h2>", *_table((k, v) for k, v in summary.items() if v is not None)]


def _evaluation_sections(layout: VersionDir) -> list[str]:
    parts: list[str] = []
    for infer_dir in sorted(layout.infer_dirs(), key=lambda p: p.name):
        metrics = read_metrics(infer_dir)
        parts.append(f"<h2>Evaluation: {html.escape(infer_dir.name)}</h2>")
        if metrics:
            scalars = ((k, v) for k, v in metrics.items() if not isinstance(v, (list, dict)))
            parts += _table(scalars, ("metric", "value"))
        for png in sorted(infer_dir.glob("*.png")):
            parts.append(f"<h3>{html.escape(png.stem.replace('_', ' '))}</h3>" + _img(png.read_bytes(), png.stem))
    return parts


def _embedding_sections(layout: VersionDir) -> list[str]:
    # `runway embed` outputs: the projection picture, and a link to the interactive scatter beside it.
    parts: list[str] = []
    for embed_dir in sorted(p for p in layout.path.glob("embed-*") if (p / "projection.png").is_file()):
        parts.append(f"<h2>Embeddings: {html.escape(embed_dir.name)}</h2>")
        parts.append(_img((embed_dir / "projection.png").read_bytes(), f"{embed_dir.name} projection"))
        if (embed_dir / "projection.html").is_file():
            href = html.escape(f"{embed_dir.name}/projection.html")
            parts.append(f'<p><a href="{href}">interactive projection</a> (pan, zoom, hover to read examples)</p>')
    return parts


def _training_section(layout: VersionDir, manifest: dict[str, Any]) -> list[str]:
    parts = ["<h2>Training curves</h2>"]
    curves_png = _curves_png(read_training_curves(layout.path))
    parts.append(
        _img(curves_png, "training curves")
        if curves_png
        else "<p>No CSV logs (enable 'csv' in meta.logger_enable).</p>"
    )
    final = manifest.get("final_metrics") or {}
    if final:
        parts += _table(sorted(final.items()), ("final training metric", "value"))
    return parts


def _pipeline_section(config: dict[str, Any], manifest: dict[str, Any], project_root: Path | None) -> list[str]:
    parts = ["<h2>Data pipeline</h2>"]
    if config.get("data_pipeline"):
        parts.append(_dag_svg(config, project_root) or "<p>DAG picture unavailable.</p>")
        keys = manifest.get("data_nodes") or {}
        if keys:
            parts += _table(keys.items(), ("node", "cache key"), code=True)
    return parts


def build_report(version_dir: Path, project_root: Path | None = None) -> Path:
    """Write ``<version>/report.html`` (atomically) and return its path."""
    layout = VersionDir(version_dir)
    manifest = layout.manifest()
    try:
        config = layout.config_dict()
    except RunwayError:
        config = {}
    if project_root is None and manifest.get("project_root"):
        project_root = Path(manifest["project_root"])
    parts = [
        *_summary_section(manifest, layout.name),
        *_evaluation_sections(layout),
        *_embedding_sections(layout),
        *_training_section(layout, manifest),
        *_pipeline_section(config, manifest, project_root),
        "<h2>Resolved config</h2><details><summary>config.json</summary><pre>",
        html.escape(json.dumps(config, indent=2)),
        "</pre></details>",
    ]
    title = f"runway report: {layout.name}"
    document = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
        "th{background:#f4f4f4}img,svg{max-width:100%;height:auto}pre{background:#f8f8f8;padding:1em;overflow:auto}"
        f"</style></head><body><h1>{html.escape(title)}</h1>" + "\n".join(parts) + "</body></html>\n"
    )
    write_text_atomic(layout.report_path, document)
    return layout.report_path
