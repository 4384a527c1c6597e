"""The ``slurm_cluster`` fixture: the local SLURM cluster of ``scripts/local-slurm.sh``.

When the cluster is down, tests marked ``slurm`` skip with a message saying how to start it, except
under ``CI=true`` where they fail: CI must exercise the real cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

START_HINT = "start it with: bash scripts/local-slurm.sh start"


def _cluster_problem() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "SLURM commands (sbatch, sinfo) are not installed"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10, check=False)
        if "UP" not in ping.stdout:
            return "slurmctld does not answer (scontrol ping)"
        nodes = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"SLURM does not answer: {exc}"
    states = nodes.stdout.split()
    # "comp" (completing: a job just ended or was cancelled) is a passing state of a working node.
    if not any(s.startswith(("idle", "mix", "alloc", "comp")) for s in states):
        return f"no usable node (sinfo states: {states or 'none'})"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """Skip (or fail under CI=true) unless the local SLURM cluster is up."""
    problem = _cluster_problem()
    if problem is None:
        return
    message = f"local SLURM cluster not available: {problem}; {START_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: slurm tests must run)")
    pytest.skip(message)
