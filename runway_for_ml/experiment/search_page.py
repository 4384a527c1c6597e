"""``search.html``: one self-contained page per study, readable offline.

Optuna's own plotly figures (optimization history, parallel coordinates, parameter importances,
intermediate values) with plotly.js inlined once, then a table of the trials. No chart code of ours,
no CDN, no server.

>>> write_search_page(study, study_dir, rows=rows, best=best, info=info)  # doctest: +SKIP
PosixPath('experiments/digits_search_S0/search.html')
"""

from __future__ import annotations

import html
import json
import warnings
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic

__all__ = ["PAGE", "write_search_page"]

PAGE = "search.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.complete td.state { color: #176b2c; } tr.pruned td.state { color: #8a6d00; } tr.fail td.state { color: #b00020; }
.note { color: #666; font-style: italic; } .best { background: #eef7ee; }
"""


def _figures(study: Any) -> list[tuple[str, Any, str | None]]:
    """``(title, figure or None, why not)`` for each of Optuna's plots."""
    from optuna import visualization as vis

    out: list[tuple[str, Any, str | None]] = []
    for title, make in (
        ("Optimization history", vis.plot_optimization_history),
        ("Parallel coordinates", vis.plot_parallel_coordinate),
        ("Parameter importances", vis.plot_param_importances),
        ("Intermediate values (pruning)", vis.plot_intermediate_values),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append((title, make(study), None))
        except Exception as exc:  # e.g. importances need two completed trials with different params
            out.append((title, None, f"not available yet: {exc}"))
    return out


def write_search_page(
    study: Any, study_dir: Path, *, rows: list[dict[str, Any]], best: dict[str, Any], info: dict[str, Any]
) -> Path:
    """Write ``<study_dir>/search.html`` and return its path."""
    import plotly.io as pio

    parts: list[str] = []
    inlined = False
    for index, (title, figure, why) in enumerate(_figures(study)):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if figure is None:
            parts.append(f'<p class="note">{html.escape(str(why))}</p>')
            continue
        figure.update_layout(height=420)
        parts.append(
            pio.to_html(
                figure,
                include_plotlyjs=not inlined,  # plotly.js once, inlined: the page works offline
                full_html=False,
                div_id=f"figure-{index}",
                config={"displaylogo": False},
            )
        )
        inlined = True
    if not inlined:  # no figure at all: still a valid page
        parts.append('<p class="note">no figures yet</p>')
    title = f"runway search {info.get('study', study_dir.name)}"
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>",
            '<body data-ready="1">',
            f"<h1>{html.escape(title)}</h1>",
            _summary(best, info),
            *parts,
            "<h2>Trials</h2>",
            _table(rows, best, info),
            "</body></html>",
        ]
    )
    path = Path(study_dir) / PAGE
    write_text_atomic(path, page)
    return path


def _summary(best: dict[str, Any], info: dict[str, Any]) -> str:
    search = info.get("search") or {}
    lines = [
        f"experiment <b>{html.escape(str(info.get('experiment')))}</b>, "
        f"{html.escape(str(search.get('direction')))} <b>{html.escape(str(search.get('metric')))}</b>, "
        f"sampler {html.escape(str(search.get('sampler')))}, pruner {html.escape(str(search.get('pruner')))}",
        f"{best.get('finished')} of {best.get('trials')} trials finished "
        f"({best.get('complete')} complete, {best.get('pruned')} pruned)",
    ]
    top = best.get("best")
    if top:
        lines.append(
            f"best: trial {top['trial']} (<b>{html.escape(str(top['version']))}</b>) "
            f"{html.escape(str(search.get('metric')))} = {top['value']:.6g}, params "
            f"<code>{html.escape(json.dumps(top['params']))}</code>"
        )
    return "<p>" + "<br>".join(lines) + "</p>"


def _table(rows: list[dict[str, Any]], best: dict[str, Any], info: dict[str, Any]) -> str:
    keys = list((info.get("search") or {}).get("space") or {})
    metric = (info.get("search") or {}).get("metric", "value")
    head = ["trial", "state", metric, "version", *keys, "epochs", "seconds", "retry of"]
    best_trial = (best.get("best") or {}).get("trial")
    out = [
        '<table id="trials"><thead><tr>'
        + "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
        + "</tr></thead><tbody>"
    ]
    for row in rows:
        css = row["state"] + (" best" if row["trial"] == best_trial else "")
        cells = [
            f'<td class="num">{row["trial"]}</td>',
            f'<td class="state">{html.escape(row["state"])}</td>',
            f'<td class="num">{_cell(row["value"])}</td>',
            f"<td>{html.escape(str(row['version'] or ''))}</td>",
            *[f'<td class="num">{html.escape(_cell(row["params"].get(k)))}</td>' for k in keys],
            f'<td class="num">{row["epochs_reported"]}</td>',
            f'<td class="num">{"" if row["seconds"] is None else row["seconds"]}</td>',
            f'<td class="num">{"" if row["retry_of"] is None else row["retry_of"]}</td>',
        ]
        out.append(f'<tr class="{css}" data-trial="{row["trial"]}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)
