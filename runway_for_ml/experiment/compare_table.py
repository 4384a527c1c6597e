"""The table of the ``runway compare`` page: one row per version, sortable, the best value of each metric in bold.

>>> table_html(compare_versions(dirs), Path("."))  # doctest: +SKIP
'<div class="scroll"><table class="sortable" id="versions">...'
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from runway_for_ml.experiment.curves import metric_direction

__all__ = ["format_value", "table_html"]


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _cell(value: Any, *, css: str = "", shown: str | None = None) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    sort = "" if value is None else (f"{value:.7g}" if numeric else format_value(value))
    classes = " ".join(c for c in (css, "n" if numeric else "") if c)
    text = format_value(value) if shown is None else shown
    # The sort key (data-v) is written only where it differs from the text shown (the sorter reads either).
    key = "" if sort == text else f' data-v="{html.escape(sort)}"'
    css_attr = f' class="{classes}"' if classes else ""
    return f"<td{key}{css_attr}>{html.escape(text)}</td>"


def _best_of(values: list[Any], direction: str) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) < 2:
        return None
    return (min if direction == "min" else max)(numbers)


def table_html(data: dict[str, Any], page_dir: Path) -> str:
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
