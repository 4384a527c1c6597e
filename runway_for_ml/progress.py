"""Plain progress lines for logs: what a long command prints when stderr is not a terminal.

Under SLURM, ``nohup``, CI or ``2> log`` a live progress bar prints nothing useful (rich redraws in
place, and only the final frame reaches a file). There, commands write plain lines instead, like HF
``Trainer`` and tqdm do in a log: one at each milestone (an epoch's end) and, in between, one at least
every :func:`progress_interval` seconds (30 s; ``RUNWAY_PROGRESS_INTERVAL`` changes it)::

    [train] epoch 1/5: step 120/500 (24%) | 3.21 it/s | elapsed 00:37 | ETA 01:58 | loss=0.412

:class:`PlainProgress` is the one writer: training (``experiment/trainer.py``), ``runway prepare``,
``embed``, ``bench`` and ``search`` use it. On a terminal it stays silent (``enabled=None``) and the
command's own live display is used.

>>> import io
>>> out = io.StringIO()
>>> bar = PlainProgress("embed", total=4, unit="batch", stream=out, enabled=True, interval=0)
>>> bar.update(2)
>>> out.getvalue().split(" | ")[0]
'[embed] 2/4 batch (50%)'
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

__all__ = [
    "PROGRESS_INTERVAL_ENV",
    "Heartbeat",
    "Heartbeats",
    "PlainProgress",
    "format_duration",
    "is_terminal",
    "plain_progress_wanted",
    "progress_interval",
]

PROGRESS_INTERVAL_ENV = "RUNWAY_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0


def progress_interval() -> float:
    """Seconds between two plain progress lines: ``RUNWAY_PROGRESS_INTERVAL`` or 30."""
    raw = os.environ.get(PROGRESS_INTERVAL_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 and math.isfinite(value) else DEFAULT_INTERVAL


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: ``sys.stderr``) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or file-like without isatty
        return False


def plain_progress_wanted(stream: IO[str] | None = None) -> bool:
    """Plain lines instead of a live bar: when the stream (default ``sys.stderr``) is not a terminal.

    A notebook's stream is no terminal either, but it shows live bars: there the bars stay.
    """
    stream = sys.stderr if stream is None else stream
    if type(stream).__module__.startswith("ipykernel"):
        return False
    return not is_terminal(stream)


def format_duration(seconds: float | None) -> str:
    """``75`` -> ``01:15``; ``3725`` -> ``1:02:05``; unknown -> ``?``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _format_value(value: Any) -> str:
    if hasattr(value, "item"):  # a 0-d tensor or numpy scalar
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class PlainProgress:
    """Counts steps of one task and writes a plain line at most every ``interval`` seconds.

    ``label`` prefixes each line (``[train]``); ``total`` may be unknown (``None``). ``enabled=None``
    writes only when ``stream`` is not a terminal. ``update`` / ``set`` write when the interval has
    passed since the last line; ``write_line`` writes now (an epoch's end); ``close`` writes the final
    line unless the last one already said the same.

    >>> import io
    >>> out = io.StringIO()
    >>> with PlainProgress("bench", total=2, unit="req", stream=out, enabled=True, interval=3600) as bar:
    ...     bar.update(2, p50_ms=3.0)
    >>> out.getvalue().startswith("[bench] 2/2 req (100%)")
    True
    """

    def __init__(
        self,
        label: str,
        total: int | float | None = None,
        *,
        unit: str = "it",
        stream: IO[str] | None = None,
        interval: float | None = None,
        enabled: bool | None = None,
        prefix: str = "",
    ) -> None:
        self.label = label
        self.total = total if total is None or (isinstance(total, (int, float)) and math.isfinite(total)) else None
        self.unit = unit
        self.stream = stream
        self.interval = progress_interval() if interval is None else float(interval)
        self.enabled = plain_progress_wanted(self._out) if enabled is None else enabled
        self.prefix = prefix
        self.count: float = 0
        self.postfix: dict[str, Any] = {}
        self.started = time.monotonic()
        self._last_line_at = self.started
        self._last_count: float | None = None
        self._lock = threading.Lock()

    @property
    def _out(self) -> IO[str]:
        return sys.stderr if self.stream is None else self.stream  # looked up late: tests and redirects swap it

    def reset(self, total: int | float | None = None, *, prefix: str | None = None) -> None:
        """Start counting again (a new epoch): count 0, the clock restarted."""
        with self._lock:
            self.total = total
            if prefix is not None:
                self.prefix = prefix
            self.count = 0
            self.postfix = {}
            self.started = self._last_line_at = time.monotonic()
            self._last_count = None

    def update(self, n: float = 1, **postfix: Any) -> None:
        """Advance by ``n``; write a line when ``interval`` seconds passed since the last one."""
        self.set(self.count + n, **postfix)

    def set(self, count: float, **postfix: Any) -> None:
        """Set the count (e.g. a batch index + 1); write a line when the interval has passed."""
        with self._lock:
            self.count = count
            self.postfix.update(postfix)
            due = self.enabled and time.monotonic() - self._last_line_at >= self.interval
        if due:
            self.write_line()

    def rate(self) -> float | None:
        """Steps per second since the start (``None`` before the first step)."""
        elapsed = time.monotonic() - self.started
        return self.count / elapsed if self.count and elapsed > 0 else None

    def line(self, **extra: Any) -> str:
        """The current progress line, e.g. ``[embed] 120/500 batch (24%) | 3.21 batch/s | elapsed 00:37 | ETA 01:58``."""
        elapsed = time.monotonic() - self.started
        rate = self.rate()
        count = int(self.count) if float(self.count).is_integer() else round(self.count, 2)
        head = f"[{self.label}] {self.prefix + ': ' if self.prefix else ''}"
        if self.total:
            head += f"{count}/{int(self.total)} {self.unit} ({min(100, int(100 * self.count / self.total))}%)"
        else:
            head += f"{count} {self.unit}"
        parts = [head]
        if rate is not None:
            parts.append(f"{rate:.3g} {self.unit}/s" if rate >= 1 else f"{1 / rate:.3g} s/{self.unit}")
        parts.append(f"elapsed {format_duration(elapsed)}")
        if self.total and rate:
            parts.append(f"ETA {format_duration(max(0.0, self.total - self.count) / rate)}")
        values = {**self.postfix, **extra}
        if values:
            parts.append(" ".join(f"{k}={_format_value(v)}" for k, v in values.items()))
        return " | ".join(parts)

    def write_line(self, **extra: Any) -> None:
        """Write the current line now (when enabled)."""
        if not self.enabled:
            return
        with self._lock:
            text = self.line(**extra)
            self._last_line_at = time.monotonic()
            self._last_count = self.count
        try:
            self._out.write(text + "\n")
            self._out.flush()
        except (OSError, ValueError):  # a closed log must not stop the work
            pass

    def close(self, **extra: Any) -> None:
        """The final line (skipped when nothing moved since the last one and nothing new is said)."""
        if self._last_count != self.count or extra:
            self.write_line(**extra)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


class Heartbeat:
    """While a blocking step runs, write ``[label] <what>: still running | elapsed 01:30`` every interval.

    For work that cannot report steps (one data-pipeline node, a server warming up). A daemon thread;
    ``stop`` (or leaving the ``with`` block) ends it. Silent on a terminal unless ``enabled=True``.

    >>> import io
    >>> with Heartbeat("data", "process:Split", stream=io.StringIO(), enabled=False):
    ...     pass
    """

    def __init__(
        self,
        label: str,
        what: str,
        *,
        stream: IO[str] | None = None,
        interval: float | None = None,
        enabled: bool | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.progress = PlainProgress(label, stream=stream, interval=interval, enabled=enabled, prefix=what)
        self.details = dict(details or {})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        if self.progress.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="runway-heartbeat", daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        wait = max(self.progress.interval, 0.05)
        while not self._stop.wait(wait):
            elapsed = format_duration(time.monotonic() - self.progress.started)
            head = f"[{self.progress.label}] {self.progress.prefix}: still running | elapsed {elapsed}"
            tail = " ".join(f"{k}={_format_value(v)}" for k, v in self.details.items())
            try:
                out = self.progress._out
                out.write(head + (f" | {tail}" if tail else "") + "\n")
                out.flush()
            except (OSError, ValueError):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Heartbeats:
    """Named :class:`Heartbeat` s of one label: ``start(key)`` when a step begins, ``stop(key)`` when it ends.

    For callbacks that hear "node X started" and "node X finished" (``runway prepare``'s data nodes).

    >>> beats = Heartbeats("data", enabled=False)
    >>> beats.start("process:Split"); beats.stop("process:Split")
    """

    def __init__(self, label: str, *, stream: IO[str] | None = None, enabled: bool | None = None) -> None:
        self.label = label
        self.stream = stream
        self.enabled = enabled
        self._running: dict[str, Heartbeat] = {}

    def start(self, key: str, what: str | None = None) -> None:
        self.stop(key)
        self._running[key] = Heartbeat(self.label, what or key, stream=self.stream, enabled=self.enabled).start()

    def stop(self, key: str) -> None:
        beat = self._running.pop(key, None)
        if beat is not None:
            beat.stop()

    def stop_all(self) -> None:
        for key in list(self._running):
            self.stop(key)
