"""Submission overhead of `runway-train … --slurm` vs calling submitit directly (target <= 1.5x).

Needs the local SLURM cluster (bash scripts/local-slurm.sh start). In one process, after one warm-up
of each path (so both have their modules imported), it measures the time to a job id of

1. one job: ``runway train digits --slurm`` (load + validate the config, create the version folder,
   write the manifest and the job registry, submit) vs loading the same config file and calling
   ``submitit.SlurmExecutor.submit`` with the same sbatch parameters;
2. a 16-point sweep: ``runway train digits --slurm --sweep …`` (16 validated version folders, one job
   array) vs loading the config and 16 submits in ``executor.batch()`` (one job array).

It also prints, for information, the cold wall time of the ``runway-train`` process (interpreter start
and the import of the project's torch code for validation) next to a cold plain-submitit script.
Every submitted job is cancelled at once. Exit code 1 when a ratio exceeds the target.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

TARGET = 1.5
REPEATS = 5
SWEEP_POINTS = 16


def _cluster_up() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return False
    return any(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split())


def _quiet(fn, *args):
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        return fn(*args)


def _noop() -> int:
    return 0


def main() -> int:
    if not _cluster_up():
        print("local SLURM cluster is not up; start it with: bash scripts/local-slurm.sh start")
        return 2
    os.environ.setdefault("WANDB_MODE", "offline")
    from runway_for_ml.cli.main import main as runway
    from runway_for_ml.config import load_config
    from runway_for_ml.launcher.jobs import list_jobs
    from runway_for_ml.launcher.slurm import sbatch_parameters

    tmp = Path(tempfile.mkdtemp(prefix="bench_slurm_"))
    project = tmp / "proj"
    assert _quiet(runway, ["init", str(project)]) == 0
    os.chdir(project)
    opts = ["--opts", "slurm.time_min=1", "train.trainer_paras.max_epochs=1"]
    params = sbatch_parameters({"time_min": 1}, trainer_paras={"devices": 1}, job_name="bench")
    submitted: list[str] = []

    def runway_single() -> float:
        start = time.perf_counter()
        assert _quiet(runway, ["train", "digits", "--slurm", *opts]) == 0
        return time.perf_counter() - start

    config_path = project / "configs" / "experiments" / "digits.jsonnet"
    config_opts = opts[1:]

    def direct_executor(folder: Path):
        # What a user calling submitit directly does: read the experiment config, submit with its values.
        import submitit

        config = load_config(config_path, config_opts)
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**{**params, "time": config.data["slurm"]["time_min"]})
        return executor

    def submitit_single() -> float:
        start = time.perf_counter()
        executor = direct_executor(tmp / "direct" / "%j")
        job = executor.submit(_noop)
        submitted.append(str(job.job_id))
        return time.perf_counter() - start

    values = ",".join(str(1e-3 * (i + 1)) for i in range(SWEEP_POINTS))

    def runway_sweep() -> float:
        start = time.perf_counter()
        argv = ["train", "digits", "--slurm", "--sweep", f"train.optimizer_config.optimizer_params.lr={values}", *opts]
        assert _quiet(runway, argv) == 0
        return time.perf_counter() - start

    def submitit_sweep() -> float:
        start = time.perf_counter()
        executor = direct_executor(tmp / "direct_array" / "%j")
        with executor.batch():
            jobs = [executor.submit(_noop) for _ in range(SWEEP_POINTS)]
        submitted.extend(str(j.job_id) for j in jobs)
        return time.perf_counter() - start

    try:
        results = {}
        for name, ours, theirs, repeats in (
            ("one job", runway_single, submitit_single, REPEATS),
            (f"{SWEEP_POINTS}-point sweep", runway_sweep, submitit_sweep, 3),
        ):
            ours(), theirs()  # warm-up: imports, first sbatch
            a = [ours() for _ in range(repeats)]
            b = [theirs() for _ in range(repeats)]
            results[name] = (statistics.median(a), statistics.median(b))
        cold_runway, cold_submitit = _cold(project)
    finally:
        ids = [r.job_id for r in list_jobs(project / "experiments")] + submitted
        subprocess.run(["scancel", *{i.split("_")[0] for i in ids}], capture_output=True, check=False)

    failed = False
    print(f"{'submission to job id':<24}{'runway':>12}{'submitit':>12}{'ratio':>8}  target <= {TARGET}x")
    for name, (ours_s, theirs_s) in results.items():
        ratio = ours_s / theirs_s
        ok = ratio <= TARGET
        failed |= not ok
        print(f"{name:<24}{ours_s * 1000:>10.0f}ms{theirs_s * 1000:>10.0f}ms{ratio:>7.2f}x  {'PASS' if ok else 'FAIL'}")
    print(
        f"(info) cold processes: runway-train --slurm {cold_runway:.1f}s vs plain submitit script {cold_submitit:.1f}s; "
        "the difference is the interpreter importing the project's torch code to validate the config"
    )
    return 1 if failed else 0


def _cold(project: Path) -> tuple[float, float]:
    bin_dir = Path(sys.executable).parent
    start = time.perf_counter()
    subprocess.run(
        [str(bin_dir / "runway-train"), "digits", "--slurm", "--opts", "slurm.time_min=1"],
        cwd=project,
        capture_output=True,
        check=True,
    )
    cold_runway = time.perf_counter() - start
    script = (
        "import submitit\n"
        f"ex = submitit.SlurmExecutor(folder={str(project / 'cold' / '%j')!r})\n"
        "ex.update_parameters(time=1, nodes=1)\n"
        "print(ex.submit(print, 'x').job_id)\n"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    cold_submitit = time.perf_counter() - start
    subprocess.run(["scancel", out.stdout.strip()], capture_output=True, check=False)
    return cold_runway, cold_submitit


if __name__ == "__main__":
    sys.exit(main())
