"""Atomic file writes: a file appears complete or not at all.

Every result runway writes (manifests, configs, metrics, predictions, reports, DAG pictures) goes
through a temporary file in the same folder and ``os.replace``, so a crash, a full disk or a reader in
another process never sees half a file. ``fsync=True`` also flushes the data (and the rename) to disk
before returning, for files that must survive a power loss or a node failure (cache entries).

>>> import tempfile; folder = Path(tempfile.mkdtemp())
>>> write_json_atomic(folder / "m.json", {"status": "completed"})
>>> (folder / "m.json").read_text()
'{\\n  "status": "completed"\\n}\\n'
>>> write_text_exclusive(folder / "m.json", "x")
Traceback (most recent call last):
FileExistsError: ...
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_path",
    "default_file_mode",
    "json_default",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
    "write_text_exclusive",
]


def default_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the current umask (``0o644`` usually).

    ``mkstemp`` creates ``0o600`` files; results should be as readable as any file the user writes.
    """
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_atomic(path: Path, fill: Callable[[IO[bytes]], None], *, fsync: bool) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the data itself is already on disk
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    _write_atomic(path, lambda fh: fh.write(data), fsync=fsync)


def write_text_atomic(path: Path, text: str, *, fsync: bool = False, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode(encoding), fsync=fsync)


def write_json_atomic(path: Path, data: Any, *, fsync: bool = False, indent: int | None = 2) -> None:
    """Write ``data`` as JSON (indented, newline-terminated) to ``path`` atomically.

    Paths, numpy / torch scalars, sets and tuples are converted (see :func:`json_default`).
    """
    # One write of the whole text: json.dump() would issue a write per token.
    text = json.dumps(data, indent=indent, default=json_default) + "\n"
    write_text_atomic(path, text, fsync=fsync)


def write_text_exclusive(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Create ``path`` with ``text``, complete, only if no file of that name exists (``FileExistsError``).

    The text is written to a temp file that is then hard-linked into place: ``link()`` fails when the
    name exists, so of two concurrent writers exactly one succeeds and the file is never half-written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode(encoding))
        os.chmod(tmp, default_file_mode())
        os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_path(path: Path, write: Callable[[Path], None], *, suffix: str = "") -> None:
    """Let ``write(tmp)`` produce a file by name (e.g. ``figure.savefig``), then move it to ``path`` atomically.

    ``suffix`` keeps the extension libraries look at to choose a format (``".png"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for the values runway writes: paths, numpy / torch scalars, sets, tuples."""
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)
