"""Headless Chromium for the page tests: where it is, when to skip, and the flags every test starts it with.

Importable from any test module (``tests/`` is on ``sys.path`` through the root ``conftest.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

# Skipped without chromium, except under CI=true, where `make test` has installed it.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true", reason="chromium is not installed (make test installs it)"
)


def headless_args(profile: Path) -> list[str]:
    """Chromium and the flags of a quiet, offline headless run with its own profile folder."""
    assert CHROMIUM is not None, "make test installs chromium"
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]
