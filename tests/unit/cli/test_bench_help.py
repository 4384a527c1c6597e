"""`runway bench --help` shows every default, and says that --requests may be raised."""

from __future__ import annotations

import argparse

from runway_for_ml.cli import bench_cmd


def test_every_bench_option_with_a_default_says_it() -> None:
    parser = argparse.ArgumentParser(prog="runway bench")
    bench_cmd.add_arguments(parser)
    missing = [
        action.option_strings[-1]
        for action in parser._actions
        if action.option_strings
        and action.default not in (None, False, argparse.SUPPRESS)
        and "default" not in (action.help or "")
        and not (action.help or "").startswith(str(action.default))  # "auto (GPU when present), cpu, ..."
    ]
    assert missing == []
    requests = next(a for a in parser._actions if "--requests" in a.option_strings)
    assert "default: 400" in requests.help and "20 x its concurrency" in requests.help
