"""Where a command's output goes: its result on stdout, everything else on stderr.

``name=$(runway-infer digits test)`` must capture only the run name, and ``runway-run … > results.txt``
only the results table. While a model trains or predicts, whatever is written to stdout (Lightning's
progress bar and model summary, prints in the user's executor) is sent to stderr instead, where the
``[data]`` lines and the warnings already go.

>>> with work_on_stderr():  # doctest: +SKIP
...     metrics = train_in_version(version_dir)
>>> print(version_dir.name)  # the command's result, on stdout  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

__all__ = ["work_on_stderr"]


@contextlib.contextmanager
def work_on_stderr() -> Iterator[None]:
    """Send stdout to stderr for the duration (rich and tqdm look ``sys.stdout`` up when they write)."""
    sys.stdout.flush()
    with contextlib.redirect_stdout(sys.stderr):
        try:
            yield
        finally:
            sys.stderr.flush()
