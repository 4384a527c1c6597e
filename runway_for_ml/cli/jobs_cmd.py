"""``runway jobs [VERSION] [--log] [--json]``: the SLURM jobs runway submitted and their states.

Examples::

    runway jobs                      # every job: version, job id, state, elapsed, last log line
    runway jobs digits_V3 --log      # the stdout and stderr of that version's jobs
    runway jobs --json               # machine-readable rows

A job that FAILED (or was cancelled, timed out, ran out of memory) is followed by the tail of its stderr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from runway_for_ml.cli.output import rich_console
from runway_for_ml.experiment.layout import experiments_dir
from runway_for_ml.experiment.names import require_project_root

__all__ = ["add_arguments", "run"]

_TAIL_LINES = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        default=None,
        help="a version (digits_V3), an experiment, a sweep (digits_0) or a job id; default: all jobs",
    )
    parser.add_argument("--log", action="store_true", help="print the stdout and stderr of the job(s)")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")


def _experiments_root() -> Path:

    return experiments_dir(require_project_root())


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.launcher.jobs import FAILED_STATES, job_states, list_jobs, record_to_dict, require_records

    root = _experiments_root()
    records = require_records(list_jobs(root), args.target, root)
    states = job_states([r.job_id for r in records], records)
    if args.json:
        rows = [record_to_dict(r, states.get(r.job_id)) for r in records]
        for row in rows:
            row["stderr_tail"] = _stderr_tail(row["stderr"]) if row["state"] in FAILED_STATES else []
        print(json.dumps(rows, indent=2))
        return 0
    if args.log:
        return _print_logs(records)
    from rich.table import Table

    console = rich_console(highlight=False)
    if not records:
        console.print(f"no SLURM jobs submitted from this project yet ({root}/.jobs is empty)")
        return 0
    table = Table(title="SLURM jobs", title_justify="left")
    for column in ("version", "job id", "command", "state", "elapsed", "last log line"):
        table.add_column(column, overflow="fold" if column == "last log line" else "ellipsis")
    colours = {"COMPLETED": "green", "RUNNING": "cyan", "PENDING": "yellow", "REQUEUED": "yellow"}
    for record in records:
        state = states[record.job_id]
        colour = "red" if state.state in FAILED_STATES else colours.get(state.state, "")
        last = _last_line(record)
        table.add_row(
            record.version or "-",
            record.job_id,
            record.command,
            f"[{colour}]{state.state}[/{colour}]" if colour else state.state,
            state.elapsed or "-",
            (last[0][:120] if last else ""),
        )
    console.print(table)
    for record in records:
        if states[record.job_id].state in FAILED_STATES:
            console.print(
                f"\n[red]{states[record.job_id].state}[/red] job {record.job_id} ({record.version or record.command}); "
                f"stderr tail ({record.stderr}):"
            )
            for line in _stderr_tail(record.stderr) or ["(empty)"]:
                console.print("  " + line, markup=False)
    return 0


def _stderr_tail(path: str) -> list[str]:
    """runway's own error message (``error:`` / ``hint:`` lines) if any, then the last lines of stderr."""
    from runway_for_ml.launcher.jobs import tail

    lines = tail(path, 200)
    errors = [line for line in lines if line.startswith(("error:", "  hint:"))][-4:]
    last = lines[-_TAIL_LINES:]
    return errors + (["..."] if errors and last else []) + [line for line in last if line not in errors]


def _last_line(record) -> list[str]:
    """The command's own last output line (submitit's bookkeeping lines are skipped)."""
    from runway_for_ml.launcher.jobs import tail

    for path in (record.stdout, record.stderr):
        # Skip submitit's bookkeeping and table borders: show the last line that says something.
        lines = [line for line in tail(path, 20) if not line.startswith("submitit ") and any(c.isalnum() for c in line)]
        if lines:
            return lines[-1:]
    return []


def _print_logs(records: list) -> int:
    import sys

    for record in records:
        for label, path in (("stdout", record.stdout), ("stderr", record.stderr)):
            print(f"===== job {record.job_id} {record.version or ''} {label}: {path}")
            try:
                sys.stdout.write(Path(path).read_text(encoding="utf-8", errors="replace"))
            except FileNotFoundError:
                print("(not written yet: the job has not started)")
            sys.stdout.flush()
    return 0
