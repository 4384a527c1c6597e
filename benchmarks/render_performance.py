"""Write ``docs/performance.md`` from ``benchmarks/results.json`` (what ``make bench`` recorded).

Run:  .venv/bin/python benchmarks/render_performance.py [--results FILE] [--out docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

INTRO = """\
# Performance

Every figure below was measured by a script in [`benchmarks/`](../benchmarks) and recorded in
`benchmarks/results.json`; this page is generated from that file by
`python benchmarks/render_performance.py` (`make bench` runs every benchmark and then this script).
Do not edit it by hand; other pages link here instead of repeating numbers.

How to read it:

- **anchor**: what the figure is measured against, configured the way its own users run it.
- **spread**: min and max over the rounds (rounds run in rotating order, both sides warmed up). Where
  the spreads of two sides overlap, the benchmark says "parity" rather than a speed-up.
- **result**: PASS / MISS against the target; "-" where a figure is context without a target.
- **machine**: cores and the 1-minute load average when the benchmark recorded its first and last figure. These runs were
  made on a small machine shared with other jobs: absolute times follow the load, ratios much less.
  A figure that got worse once its baseline was configured fairly is kept here as measured.

Re-run one benchmark with `.venv/bin/python benchmarks/bench_NAME.py` (each takes `--help`), all of
them with `make bench`.
"""


def _fmt(value: object, unit: str = "") -> str:
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text}{(' ' + unit) if unit and unit != 'x' else unit}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(data: dict) -> str:
    lines = [INTRO]
    benches = data.get("benchmarks", {})
    if not benches:
        lines.append("\nNo results recorded yet: run `make bench`.\n")
    for name in sorted(benches):
        bench = benches[name]
        m = bench.get("machine", {})
        load = m.get("load_average") or ["?"]
        load_end = m.get("load_average_end") or load
        lines.append(f"\n## {name}\n")
        lines.append(
            f"`benchmarks/{name}.py` · {m.get('date', '?')} · {m.get('cores', '?')} cores ({m.get('cpu', '?')}), "
            f"1-min load average {load[0]} at its first figure, {load_end[0]} at its last · Python {m.get('python', '?')}\n"
        )
        if bench.get("status") == "skipped":
            lines.append(f"Skipped: {bench.get('reason', '')}\n")
            continue
        lines.append("| figure | value | spread (min-max) | anchor | target | result |")
        lines.append("|---|---|---|---|---|---|")
        for f in bench.get("figures", []):
            unit = f.get("unit", "")
            spread = f.get("spread")
            spread_text = f"{_fmt(spread[0], unit)} - {_fmt(spread[1], unit)}" if spread else "-"
            result = {True: "PASS", False: "**MISS**", None: "-"}[f.get("passed")]
            figure = f["figure"] + (f" ({f['note']})" if f.get("note") else "")
            lines.append(
                f"| {_cell(figure)} | {_fmt(f['value'], unit)} | {spread_text} | {_cell(f.get('anchor') or '-')} "
                f"| {_cell(f.get('target') or '-')} | {result} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    data = json.loads(args.results.read_text()) if args.results.exists() else {}
    args.out.write_text(render(data))
    print(f"wrote {args.out} from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
