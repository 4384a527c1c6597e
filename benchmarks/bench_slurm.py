"""Submission overhead of `runway-train … --slurm` vs calling submitit directly (target <= 1.5x).

Needs the local SLURM cluster (bash scripts/local-slurm.sh start). In one process, after warm-up runs
of each path (imports done, first sbatch made), it measures the time to a job id of

1. one job: ``runway train digits --slurm`` (load + validate the config, create the version folder,
   write the manifest and the job registry, submit) vs loading the same config file and calling
   ``submitit.SlurmExecutor.submit`` with the same sbatch parameters;
2. a 16-point sweep: ``runway train digits --slurm --sweep …`` (16 validated version folders, one job
   array, sweep state) vs loading the config and 16 submits in ``executor.batch()`` (one job array).

Both sides get the same sbatch parameters: those runway derives from the config, computed once before
timing. Both sides read the experiment config (a jsonnet evaluation); its time is printed separately,
with the figures it leaves. The project is a git repository, as a real one is: runway records its git
state in every version's manifest. Measurements are back-to-back pairs in alternating order (AB, BA,
…); the verdict is the median of the pairs' ratios, so a burst of load from other processes on this
small machine hits one pair, not the result. Each side's median and best-of time are printed too.
Every job is cancelled right after its measurement, so queued jobs do not start and take the CPUs.

It also prints, for information, the cold wall time of the ``runway-train`` process (interpreter start
and the import of the project's torch code for validation) next to a cold plain-submitit script.
Exit code 1 when a ratio exceeds the target.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from _results import record, skip

TARGET = 1.5
SINGLE_REPEATS = 15
SWEEP_REPEATS = 11
WARMUP = 2
COLD_REPEATS = 4
SWEEP_POINTS = 16


def _cluster_up() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return False
    # A node finishing another job ("comp") is up as well.
    return any(s.startswith(("idle", "mix", "alloc", "comp")) for s in out.stdout.split())


def _quiet(fn, *args):
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        return fn(*args)


def _noop() -> int:
    return 0


def _cancel(job_ids: list[str]) -> None:
    mains = sorted({str(j).split("_")[0] for j in job_ids})
    if mains:
        subprocess.run(["scancel", *mains], capture_output=True, check=False)


def _side_by_side(
    ours: Callable[[], object], theirs: Callable[[], object], repeats: int, cancel_new: Callable[[], None]
) -> tuple[list[float], list[float]]:
    """Time the two as back-to-back pairs, in alternating order (AB, BA, AB, …); untimed ``cancel_new()`` after each.

    Pair ``i`` of the two returned lists was measured within a fraction of a second, so the ratio of a
    pair is little affected by what else the machine is doing at that moment.
    """
    a: list[float] = []
    b: list[float] = []

    def timed(fn: Callable[[], object], out: list[float] | None) -> None:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        cancel_new()
        if out is not None:
            out.append(elapsed)

    for _ in range(WARMUP):
        timed(ours, None)
        timed(theirs, None)
    for i in range(repeats):
        pair = ((ours, a), (theirs, b)) if i % 2 == 0 else ((theirs, b), (ours, a))
        for fn, out in pair:
            timed(fn, out)
    return a, b


def main() -> int:
    if not _cluster_up():
        skip("bench_slurm", "no SLURM cluster is up; start the local one with: bash scripts/local-slurm.sh start")
    os.environ.setdefault("WANDB_MODE", "offline")
    import submitit

    from runway_for_ml.cli.main import main as runway
    from runway_for_ml.config import load_config
    from runway_for_ml.launcher.jobs import list_jobs
    from runway_for_ml.launcher.slurm import max_requeues, sbatch_parameters

    tmp = Path(tempfile.mkdtemp(prefix="bench_slurm_"))
    project = tmp / "proj"
    assert _quiet(runway, ["init", str(project)]) == 0
    os.chdir(project)
    # Like a real project, a git repository: runway records commit, diff and untracked files per version.
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "project"]):
        subprocess.run([*git, *args], cwd=project, capture_output=True, check=True)
    experiments = project / "experiments"
    opts = ["--opts", "slurm.time_min=1", "train.trainer_paras.max_epochs=1"]
    config_path = project / "configs" / "experiments" / "digits.jsonnet"
    config_opts = opts[1:]

    # The parameters runway submits with, derived once from the config: the direct side uses the same.
    reference = load_config(config_path, config_opts).data
    section = reference.get("slurm") or {}
    params = sbatch_parameters(section, trainer_paras=reference["train"].get("trainer_paras"), job_name="bench")
    timeouts = max_requeues(section)

    def direct_executor(folder: Path) -> submitit.SlurmExecutor:
        # What a user calling submitit directly does: read the experiment config, submit with its values.
        start = time.perf_counter()
        config = load_config(config_path, config_opts)
        load_times.append(time.perf_counter() - start)
        assert config.data["slurm"]["time_min"] == params["time"]
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=timeouts)
        executor.update_parameters(**params)
        return executor

    single_argv = ["train", "digits", "--slurm", *opts]
    values = ",".join(str(1e-3 * (i + 1)) for i in range(SWEEP_POINTS))
    sweep_argv = [
        "train",
        "digits",
        "--slurm",
        "--sweep",
        f"train.optimizer_config.optimizer_params.lr={values}",
        *opts,
    ]
    direct_ids: list[str] = []
    load_times: list[float] = []  # the direct side's config reads (runway's happen inside its command)
    cancelled: set[str] = set()

    def cancel_new() -> None:
        # Cancel what was just submitted so that no job starts and competes for the 2 CPUs.
        new = [j for j in [*(r.job_id for r in list_jobs(experiments)), *direct_ids] if j not in cancelled]
        _cancel(new)
        cancelled.update(new)

    def runway_single() -> None:
        assert _quiet(runway, single_argv) == 0

    def runway_sweep() -> None:
        assert _quiet(runway, sweep_argv) == 0

    def submitit_single() -> None:
        job = direct_executor(tmp / "direct" / "%j").submit(_noop)
        direct_ids.append(str(job.job_id))

    def submitit_sweep() -> None:
        executor = direct_executor(tmp / "direct_array" / "%j")
        with executor.batch():
            jobs = [executor.submit(_noop) for _ in range(SWEEP_POINTS)]
        direct_ids.extend(str(j.job_id) for j in jobs)

    results = {}
    load_avg = os.getloadavg()[0]
    try:
        results["one job"] = _side_by_side(runway_single, submitit_single, SINGLE_REPEATS, cancel_new)
        results[f"{SWEEP_POINTS}-point sweep"] = _side_by_side(runway_sweep, submitit_sweep, SWEEP_REPEATS, cancel_new)
        results["cold process, one job"] = _cold(project, {**params, "job_name": "bench-cold"})
    finally:
        cancel_new()

    failed = False
    print(
        f"{'submission to job id':<22}{'runway':>9}{'submitit':>10}{'ratio':>8}  target <= {TARGET}x  "
        f"(medians; ratio = median of {SINGLE_REPEATS}/{SWEEP_REPEATS} back-to-back pairs, alternating order)"
    )
    load_s = statistics.median(load_times)
    lines = []
    for name, (ours, theirs) in results.items():
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        ratio = statistics.median(o / t for o, t in zip(ours, theirs, strict=True))
        ok = ratio <= TARGET
        failed |= not ok
        record(
            "bench_slurm",
            f"{name}: runway / submitit",
            round(ratio, 3),
            unit="x",
            anchor="submitit called directly with the same parameters; median of back-to-back pair ratios",
            target=f"<= {TARGET}",
            passed=ok,
            spread=[
                round(min(o / t for o, t in zip(ours, theirs, strict=True)), 3),
                round(max(o / t for o, t in zip(ours, theirs, strict=True)), 3),
            ],
        )
        print(
            f"{name:<22}{ours_s * 1000:>7.0f}ms{theirs_s * 1000:>8.0f}ms{ratio:>7.2f}x  {'PASS' if ok else 'FAIL'}"
            f"  (best-of: {min(ours) * 1000:.0f} vs {min(theirs) * 1000:.0f} ms = {min(ours) / min(theirs):.2f}x)"
        )
        if not name.startswith("cold"):
            lines.append(f"{name} {(ours_s - load_s) * 1000:.0f} vs {(theirs_s - load_s) * 1000:.0f} ms")
    print(
        f"(info) both sides read and evaluate the jsonnet config (median {load_s * 1000:.0f} ms); "
        f"without it, runway vs submitit: {'; '.join(lines)}. Load average at start: {load_avg:.1f} on "
        f"{os.cpu_count()} CPUs; the project is a git repository, so runway records its git state."
    )
    print(
        "(info) 'cold process' runs whole fresh processes: `runway-train digits --slurm` vs a script that imports "
        "the project's training code (torch, Lightning), reads the same config and calls submitit with the same "
        "parameters; the in-process rows exclude interpreter start-up and imports."
    )
    return 1 if failed else 0


def _cold(project: Path, params: dict, repeats: int = COLD_REPEATS) -> tuple[list[float], list[float]]:
    """Whole fresh processes, in alternating pairs: ``runway-train --slurm`` vs a direct submitit script.

    The direct script does what a submitit user must do to submit training: import the training code
    it submits (the project's executor module: torch and Lightning), read the same config, and submit
    with the same sbatch parameters.
    """
    bin_dir = Path(sys.executable).parent
    config_path = project / "configs" / "experiments" / "digits.jsonnet"
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(project)!r})\n"
        "import submitit\n"
        "from runway_for_ml.config import load_config\n"
        "from executors import custom_executor as training_code\n"
        f"config = load_config({str(config_path)!r}, ['slurm.time_min=1']).data\n"
        f"ex = submitit.SlurmExecutor(folder={str(project / 'cold' / '%j')!r})\n"
        f"ex.update_parameters(**{params!r})\n"
        "print(ex.submit(training_code.DigitsExecutor, config).job_id)\n"
    )

    def runway_cold() -> None:
        subprocess.run(
            [str(bin_dir / "runway-train"), "digits", "--slurm", "--opts", "slurm.time_min=1"],
            cwd=project,
            capture_output=True,
            check=True,
        )

    def direct_cold() -> None:
        out = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=True)
        subprocess.run(["scancel", out.stdout.strip()], capture_output=True, check=False)

    ours: list[float] = []
    theirs: list[float] = []
    for i in range(repeats):
        pair = (
            ((runway_cold, ours), (direct_cold, theirs)) if i % 2 == 0 else ((direct_cold, theirs), (runway_cold, ours))
        )
        for fn, out in pair:
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return ours, theirs


if __name__ == "__main__":
    sys.exit(main())
