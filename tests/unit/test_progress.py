"""Plain progress lines (runway_for_ml.progress): format, interval, terminal detection, heartbeats."""

from __future__ import annotations

import io
import re
import time

import pytest

from runway_for_ml.progress import (
    PROGRESS_INTERVAL_ENV,
    Heartbeat,
    Heartbeats,
    PlainProgress,
    format_duration,
    plain_progress_wanted,
    progress_interval,
)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_INTERVAL_ENV, raising=False)
    assert progress_interval() == 30.0
    monkeypatch.setenv(PROGRESS_INTERVAL_ENV, "0.5")
    assert progress_interval() == 0.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(PROGRESS_INTERVAL_ENV, bad)
        assert progress_interval() == 30.0


def test_a_line_has_step_total_rate_elapsed_eta_and_values() -> None:
    out = io.StringIO()
    bar = PlainProgress("train", total=10, unit="step", stream=out, enabled=True, interval=0, prefix="epoch 1/2")
    time.sleep(0.01)
    bar.update(4, loss=0.41234)
    line = out.getvalue().strip()
    assert re.fullmatch(
        r"\[train\] epoch 1/2: 4/10 step \(40%\) \| [\d.]+ step/s \| elapsed 00:00 \| ETA \d\d:\d\d \| loss=0\.4123",
        line,
    ), line


def test_lines_wait_for_the_interval_and_close_writes_the_last() -> None:
    out = io.StringIO()
    bar = PlainProgress("embed", total=3, unit="batch", stream=out, enabled=True, interval=3600)
    bar.update(1)
    bar.update(1)
    assert out.getvalue() == ""  # the interval has not passed
    bar.update(1)
    bar.close()
    assert out.getvalue().startswith("[embed] 3/3 batch (100%)") and out.getvalue().count("\n") == 1
    bar.close()  # nothing new: no second line
    assert out.getvalue().count("\n") == 1


def test_silent_on_a_terminal_unless_asked() -> None:
    tty = _Tty()
    assert not plain_progress_wanted(tty) and plain_progress_wanted(io.StringIO())
    bar = PlainProgress("bench", total=2, stream=tty, interval=0)
    bar.update(2)
    bar.close()
    assert tty.getvalue() == ""


def test_unknown_total_and_slow_rates() -> None:
    out = io.StringIO()
    bar = PlainProgress("search", unit="trial", stream=out, enabled=True, interval=0)
    bar.started -= 120  # two minutes per trial
    bar.update(1, best=0.9)
    assert "1 trial | 120 s/trial | elapsed 02:00 | best=0.9" in out.getvalue()
    assert "ETA" not in out.getvalue()


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 75, 3725, None, float("inf"))] == ["00:00", "01:15", "1:02:05", "?", "?"]


def test_heartbeat_writes_while_the_block_runs() -> None:
    out = io.StringIO()
    with Heartbeat("data", "process:Split", stream=out, enabled=True, interval=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(
        re.fullmatch(r"\[data\] process:Split: still running \| elapsed \d\d:\d\d", x) for x in lines
    )
    time.sleep(0.15)
    assert out.getvalue().splitlines() == lines  # stopped with the block


def test_heartbeats_by_key() -> None:
    out = io.StringIO()
    beats = Heartbeats("data", stream=out, enabled=True)
    beats.start("input:Load")
    beats.stop("input:Load")
    beats.start("a")
    beats.start("b")
    beats.stop_all()
    assert beats._running == {}
