"""Where a command's output goes: its result on stdout, everything else on stderr.

``name=$(runway-infer digits test)`` must capture only the run name, and ``runway-run … > results.txt``
only the results table. While a model trains or predicts, whatever is written to stdout (Lightning's
progress bar and model summary, prints in the user's executor) is sent to stderr instead, where the
``[data]`` lines and the warnings already go.

Tables go through :func:`rich_console`: on a terminal as wide as the terminal, in a pipe or a file as
wide as their content (rich would otherwise wrap them at 80 columns, mid-word), and never narrower
than their title.

>>> with work_on_stderr():  # doctest: +SKIP
...     metrics = train_in_version(version_dir)
>>> print(version_dir.name)  # the command's result, on stdout  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from runway_for_ml.progress import is_terminal

__all__ = ["PIPE_WIDTH", "rich_console", "work_on_stderr"]

# Width of a console that is not a terminal: wide enough for any table, which rich then sizes from
# its content (tables do not expand), so nothing wraps in a log or a pipe.
PIPE_WIDTH = 1000


def rich_console(*, stderr: bool = False, **kwargs: Any) -> Any:
    """A rich ``Console`` for a command's tables (stdout, or stderr with ``stderr=True``).

    Not a terminal: as wide as the content needs. A table's width is at least its title's, so
    a title is never wrapped either.
    """
    from rich.console import Console
    from rich.table import Table

    class _Console(Console):
        def print(self, *objects: Any, **print_kwargs: Any) -> None:
            for obj in objects:
                if isinstance(obj, Table) and isinstance(obj.title, str):
                    from rich.text import Text

                    title = Text.from_markup(obj.title).cell_len
                    obj.min_width = max(obj.min_width or 0, min(title, self.width))
            super().print(*objects, **print_kwargs)

    if "width" not in kwargs and not is_terminal(sys.stderr if stderr else sys.stdout):
        kwargs["width"] = PIPE_WIDTH
    return _Console(stderr=stderr, **kwargs)


@contextlib.contextmanager
def work_on_stderr() -> Iterator[None]:
    """Send stdout to stderr for the duration (rich and tqdm look ``sys.stdout`` up when they write)."""
    sys.stdout.flush()
    with contextlib.redirect_stdout(sys.stderr):
        try:
            yield
        finally:
            sys.stderr.flush()
