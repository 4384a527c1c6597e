"""Write a config as formatted jsonnet, with ``//`` comments above chosen keys (``runway migrate``'s output).

Keys are bare when they are identifiers (quoted otherwise), strings single-quoted, two-space indents,
a trailing comma after every item of a multi-line object or list, short lists of scalars on one line.
The text evaluates (with jsonnet) to exactly the data it was made from.

>>> text, used = render_jsonnet({"train": {"batch_size": 8, "val_batch_size": 8}},
...                             {"train.val_batch_size": ["train.batch_size = 8: the validation batch"]})
>>> print(text)
{
  train: {
    batch_size: 8,
    // train.batch_size = 8: the validation batch
    val_batch_size: 8,
  },
}
>>> used
{'train.val_batch_size'}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["render_jsonnet"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = frozenset(
    [
        "assert",
        "else",
        "error",
        "false",
        "for",
        "function",
        "if",
        "import",
        "importstr",
        "importbin",
        "in",
        "local",
        "null",
        "self",
        "super",
        "tailstrict",
        "then",
        "true",
    ]
)
_INLINE_WIDTH = 80


def render_jsonnet(data: Any, comments: Mapping[str, list[str]] | None = None) -> tuple[str, set[str]]:
    """``data`` as jsonnet text, and the dotted paths of ``comments`` that found their key."""
    used: set[str] = set()
    lines: list[str] = []
    _value(data, "", 0, lines, dict(comments or {}), used, prefix="", suffix="")
    return "\n".join(lines), used


def _key(key: str) -> str:
    return key if _IDENTIFIER.match(key) and key not in _KEYWORDS else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are jsonnet's; only the quote character differs.
    inner = json.dumps(text)[1:-1].replace('\\"', '"').replace("'", "\\'")
    return f"'{inner}'"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)


def _inline(value: Any) -> str | None:
    """A list of scalars (or an empty container) on one line, when short enough."""
    if isinstance(value, (dict, list)) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        text = "[" + ", ".join(_scalar(v) for v in value) + "]"
        return text if len(text) <= _INLINE_WIDTH else None
    if not isinstance(value, (dict, list)):
        return _scalar(value)
    return None


def _value(
    value: Any,
    path: str,
    depth: int,
    lines: list[str],
    comments: dict[str, list[str]],
    used: set[str],
    prefix: str,
    suffix: str,
) -> None:
    pad = "  " * depth
    inline = _inline(value)
    if inline is not None:
        lines.append(f"{pad}{prefix}{inline}{suffix}")
        return
    if isinstance(value, dict):
        lines.append(f"{pad}{prefix}{{")
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            for note in comments.get(child, []):
                lines.append(f"{pad}  // {_one_line(note)}")
                used.add(child)
            _value(item, child, depth + 1, lines, comments, used, f"{_key(str(key))}: ", ",")
        lines.append(f"{pad}}}{suffix}")
        return
    lines.append(f"{pad}{prefix}[")
    for i, item in enumerate(value):
        _value(item, f"{path}.{i}", depth + 1, lines, comments, used, "", ",")
    lines.append(f"{pad}]{suffix}")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
