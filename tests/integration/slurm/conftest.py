"""Fixtures of the SLURM tests: the local cluster, a project inside it, job helpers.

``slurm_cluster``: the local SLURM cluster of ``scripts/local-slurm.sh``.

When the cluster is down, tests marked ``slurm`` skip with a message saying how to start it, except
under ``CI=true`` where they fail: CI must exercise the real cluster.

``two_node_cluster``: the same cluster with (at least) two usable nodes; when it has fewer, it starts the
two-node cluster (``scripts/local-slurm.sh start --nodes 2``, which waits for running jobs first), and
skips (fails under ``CI=true``) when that is not possible.

``project`` (prepared, one per module) and ``unprepared_project`` (one per test) run with the cwd
inside them and cancel their jobs at the end; ``jobs.submit`` / ``jobs.wait`` submit and follow jobs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_HINT = "start it with: bash scripts/local-slurm.sh start"
TWO_NODE_HINT = "start it with: bash scripts/local-slurm.sh start --nodes 2"
SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "local-slurm.sh"


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


def usable_nodes() -> list[str]:
    """Names of the cluster's nodes that can run jobs now (idle, mix, alloc, completing)."""
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = [line.split() for line in out.splitlines() if len(line.split()) == 2]
    return sorted({name for name, state in rows if state.startswith(("idle", "mix", "alloc", "comp"))})


@pytest.fixture(scope="session")
def two_node_cluster() -> list[str]:
    """The two usable nodes' names; starts the two-node local cluster when there are fewer (see module doc)."""
    problem = None if len(usable_nodes()) >= 2 else "fewer than two usable nodes"
    if problem and os.geteuid() == 0 and SCRIPT.is_file() and shutil.which("bash"):
        start = subprocess.run(
            ["bash", str(SCRIPT), "start", "--nodes", "2"], capture_output=True, text=True, timeout=900, check=False
        )
        problem = (
            None if len(usable_nodes()) >= 2 else f"`local-slurm.sh start --nodes 2` failed: {start.stderr[-800:]}"
        )
    problem = problem or _cluster_problem()
    if problem is None:
        return usable_nodes()[:2]
    message = f"two-node SLURM cluster not available: {problem}; {TWO_NODE_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: multi-node tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def wandb_offline():
    """W&B offline and silent for the module, whatever the shell says (restored afterwards)."""
    old = {k: os.environ.get(k) for k in ("WANDB_MODE", "WANDB_SILENT")}
    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true")
    yield
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class SlurmJobs:
    """Submit runway commands and follow their jobs (the helpers every SLURM test needs)."""

    @staticmethod
    def submit(argv: list[str]) -> tuple[str, Path | None]:
        """Run a runway command that submits one job; return (job id, version folder) from the registry."""
        from runway_for_ml.cli.main import main
        from runway_for_ml.launcher.jobs import list_jobs

        experiments = Path.cwd() / "experiments"
        before = {r.job_id for r in list_jobs(experiments)}
        assert main(argv) == 0
        (record,) = [r for r in list_jobs(experiments) if r.job_id not in before]
        return record.job_id, Path(record.version_dir) if record.version_dir else None

    @staticmethod
    def wait(job_ids: list[str], timeout: float, until: set[str] | None = None) -> dict[str, str]:
        """Poll until every job is in ``until`` (default: finished); fail after ``timeout`` seconds."""
        from runway_for_ml.launcher.jobs import FINISHED_STATES, job_states

        until = FINISHED_STATES if until is None else until
        deadline = time.time() + timeout
        while True:
            states = {j: s.state for j, s in job_states(job_ids).items()}
            if all(s in until for s in states.values()):
                return states
            if time.time() > deadline:
                pytest.fail(f"jobs not in {sorted(until)} after {timeout}s: {states}")
            time.sleep(1)

    @staticmethod
    def cancel_all(root: Path) -> None:
        """Cancel every job the project submitted: never leave jobs behind on the cluster."""
        from runway_for_ml.launcher.jobs import list_jobs

        ids = [r.job_id for r in list_jobs(root / "experiments")]
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, check=False)


@pytest.fixture(scope="session")
def jobs() -> SlurmJobs:
    return SlurmJobs()


@contextlib.contextmanager
def inside(root: Path) -> Iterator[Path]:
    """cwd in ``root`` for the block; the project's jobs are cancelled when it ends."""
    previous = Path.cwd()
    os.chdir(root)
    try:
        yield root
    finally:
        SlurmJobs.cancel_all(root)
        os.chdir(previous)


@pytest.fixture(scope="module")
def project(tmp_path_factory, slurm_cluster, wandb_offline, new_project):
    """A fresh project (runway init) with its data prepared once; cwd inside it for the module."""
    with inside(new_project(tmp_path_factory.mktemp("slurm") / "proj", prepare=True)) as root:
        yield root


@pytest.fixture
def unprepared_project(tmp_path, slurm_cluster, wandb_offline, new_project):
    """A fresh project whose data was never prepared; cwd inside it for the test."""
    with inside(new_project(tmp_path / "proj")) as root:
        yield root
