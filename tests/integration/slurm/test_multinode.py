"""Two-node DDP on a real SLURM cluster: the local cluster of ``scripts/local-slurm.sh start --nodes 2``.

Each node (runway-n1, runway-n2) is a slurmd in its own network and UTS namespace, so ranks on different
nodes have different host names and addresses and talk gloo over the bridge; ``MASTER_ADDR`` is the first
node of ``SLURM_JOB_NODELIST``, resolved through /etc/hosts.

The module's jobs run one after another (each takes every CPU of the cluster):

1. the issue's job, ``runway-run digits --slurm --wait`` with 2 nodes x 2 tasks, through the real entry
   point on an empty data cache: world size 4 over both nodes, one version folder / checkpoint set /
   metrics file / W&B run written by global rank 0, the rank -> node map in the manifest, the data
   pipeline computed once, test accuracy >= 0.95;
2. the same job requeued (``scontrol requeue``) after its first epoch: every rank resumes from
   ``last.ckpt`` in the same folder, the same W&B run id, and final metrics equal to job 1's;
3. a job whose second node never starts its tasks: the rendezvous fails after ``train.ddp_timeout_s``
   with a message naming that node, instead of hanging until the time limit.

Geometry errors and ``--dry-run`` need no running job: they are refused / printed before anything is queued.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runway_for_ml.cli.main import main
from runway_for_ml.experiment.manifest import read_manifest
from runway_for_ml.launcher.jobs import FINISHED_STATES, job_states, list_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

BIN = Path(sys.executable).parent
GEOMETRY = [
    "slurm.nodes=2",
    "slurm.tasks_per_node=2",
    "train.trainer_paras.num_nodes=2",
    "train.trainer_paras.devices=2",
    "train.trainer_paras.strategy=ddp",
    "train.trainer_paras.accelerator=cpu",
]
# Small but real: all 1797 digits, 3 short epochs (8 rows per rank and step: 32 per optimizer step).
SMALL = [
    "train.batch_size=8",
    "train.optimizer_config.optimizer_params.lr=0.01",
    "train.trainer_paras.max_epochs=3",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    "train.early_stopping=null",
    'meta.logger_enable=["csv","wandb"]',
]
COUNTED = [
    "data_pipeline.transforms.input:LoadDigits.transform_name=CountedLoadDigits",
    "data_pipeline.transforms.process:Split.transform_name=CountedSplit",
    "data_pipeline.transforms.output:Normalised.transform_name=CountedStandardize",
]
# Data transforms that log every computation (node, pid, SLURM rank) to compute_log.txt in the project.
COUNTED_TRANSFORMS = """
import os
import time
from pathlib import Path

from data_processing.data_transforms import StandardizeColumn

from runway_for_ml import register_transform_functor
from runway_for_ml.pipeline.builtin_transforms import LoadSklearnDigits, SplitHFDataset

LOG = Path(__file__).resolve().parents[1] / "compute_log.txt"


def _record(name):
    with open(LOG, "a", encoding="utf-8") as fh:  # one short append per line: atomic
        fh.write(f"{name} {os.getpid()} {os.environ.get('SLURM_PROCID', '-')} {os.environ.get('SLURMD_NODENAME', '-')}\\n")


@register_transform_functor
class CountedLoadDigits(LoadSklearnDigits):
    def _call(self, data):
        time.sleep(3)  # the other ranks arrive while it is computed, and wait on the cache's lock
        out = super()._call(data)
        _record("input")
        return out


@register_transform_functor
class CountedSplit(SplitHFDataset):
    def _call(self, data):
        out = super()._call(data)
        _record("split")
        return out


@register_transform_functor
class CountedStandardize(StandardizeColumn):
    def _call(self, data):
        out = super()._call(data)
        _record("output")
        return out
"""


@pytest.fixture(scope="module")
def mn_project(tmp_path_factory, slurm_cluster, two_node_cluster, wandb_offline, new_project, jobs):
    """A fresh project on an empty cache, with counting transforms; cwd inside it; its jobs cancelled at the end."""
    root = new_project(tmp_path_factory.mktemp("multinode") / "proj")
    (root / "data_processing" / "counted_transforms.py").write_text(COUNTED_TRANSFORMS)
    previous = Path.cwd()
    os.chdir(root)
    try:
        yield root
    finally:
        jobs.cancel_all(root)
        os.chdir(previous)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RANK", "LOCAL_RANK", "NODE_RANK"))}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true")
    return env


def _runway(root: Path, command: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """A real ``runway-<command>`` process in ``root`` (what a user types)."""
    return subprocess.run(
        [str(BIN / f"runway-{command}"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def _task_logs(version_dir: Path, job_id: str, kind: str = "out") -> dict[int, str]:
    """Each task's log of ``job_id`` by global rank (submitit's ``<job>_<rank>_log.<kind>``)."""
    out = {}
    for path in (version_dir / "slurm").rglob(f"{job_id}_*_log.{kind}"):
        rank = path.name[len(job_id) + 1 :].split("_", 1)[0]
        if rank.isdigit():
            out[int(rank)] = path.read_text(errors="replace")
    return out


def _only_version(root: Path, before: set[str]) -> Path:
    new = sorted(p for p in (root / "experiments").glob("digits_V*") if p.name not in before)
    assert len(new) == 1, f"one version folder per job, found {[p.name for p in new]}"
    return new[0]


def _versions(root: Path) -> set[str]:
    return {p.name for p in (root / "experiments").glob("digits_V*")}


@pytest.fixture(scope="module")
def reference_run(mn_project):
    """Job 1: the issue's command (runway-run, 2 nodes x 2 tasks) through the real entry point."""
    root = mn_project
    before = _versions(root)
    proc = _runway(root, "run", "digits", "--slurm", "--wait", "--opts", *GEOMETRY, *SMALL, *COUNTED)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, _only_version(root, before)


def test_two_node_job_trains_over_both_nodes_and_writes_once(mn_project, reference_run):
    proc, version_dir = reference_run
    manifest = read_manifest(version_dir)
    assert manifest["status"] == "completed", manifest.get("error")
    job_id = manifest["slurm"]["job_id"]
    assert f"job {job_id}: COMPLETED" in proc.stdout

    # World size 4 over two nodes, ranks in blocks of two (srun's block distribution).
    ddp = manifest["ddp"]
    assert manifest["world_size"] == 4 and ddp["world_size"] == 4
    assert ddp["backend"] == "gloo"
    assert ddp["nodes"] == ["runway-n1", "runway-n2"]
    assert ddp["rank_nodes"] == {"0": "runway-n1", "1": "runway-n1", "2": "runway-n2", "3": "runway-n2"}
    # One task per process, launched by srun: four task logs, each on its node, with its SLURM rank.
    outs = _task_logs(version_dir, job_id)
    assert sorted(outs) == [0, 1, 2, 3]
    for rank, text in outs.items():
        assert f"global_rank={rank}(4)" in text and f"hostname={ddp['rank_nodes'][str(rank)]}" in text, text[:600]

    # Written once, by global rank 0 (on runway-n1): the folder, checkpoints, metrics file, logger run.
    train = version_dir / "train"
    names = sorted(p.name for p in (train / "checkpoints").iterdir())
    assert len(names) == 2 and names[0].startswith("best-epoch=") and names[1] == "last.ckpt", names
    assert len(list((train / "logs").rglob("metrics.csv"))) == 1
    runs = [d for d in (train / "logs" / "wandb").glob("offline-run-*") if d.is_dir()]
    assert len(runs) == 1, runs
    assert manifest["slurm"]["node"] == "runway-n1" and manifest["pid"]
    assert not (train / "ddp").exists(), "the rendezvous markers are removed once every rank joined"
    # Only rank 0 inferred and reported.
    assert "predictions saved" in outs[0] + _task_logs(version_dir, job_id, "err").get(0, "")
    assert all("predictions saved" not in outs[r] for r in (1, 2, 3))

    # Each epoch ran every rank on a quarter of the training split (DistributedSampler), 3 epochs.
    per_rank = -(-manifest["splits"]["train"] // 4)
    assert manifest["global_step"] == 3 * -(-per_rank // 8)

    # The trained model is good: test accuracy after runway-run.
    metrics = json.loads((version_dir / "infer-test" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.95, metrics["accuracy"]


def test_data_pipeline_runs_once_per_job(mn_project, reference_run):
    # On an empty cache, one rank computed each node; the three others waited on its lock and loaded it.
    lines = [line.split() for line in (mn_project / "compute_log.txt").read_text().splitlines()]
    assert sorted(name for name, *_ in lines) == ["input", "output", "split"], lines
    assert len({pid for _, pid, *_ in lines}) == 1, lines
    _, version_dir = reference_run
    job_id = read_manifest(version_dir)["slurm"]["job_id"]
    errs = _task_logs(version_dir, job_id, "err")
    outs = _task_logs(version_dir, job_id, "out")
    cached = [r for r in range(4) if "output:Normalised: cached" in errs.get(r, "") + outs.get(r, "")]
    assert len(cached) == 3, {r: (errs.get(r, "") + outs.get(r, ""))[-400:] for r in range(4)}


def test_scontrol_requeue_resumes_every_rank_with_the_same_metrics(mn_project, reference_run, jobs):
    root = mn_project
    _, reference_dir = reference_run
    before = _versions(root)
    job_id, version_dir = jobs.submit(["run", "digits", "--slurm", "--opts", *GEOMETRY, *SMALL, *COUNTED])
    assert version_dir.name not in before
    last = version_dir / "train" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.is_file():  # the end of the first epoch
        assert time.time() < deadline, f"no checkpoint after 240s: {job_states([job_id])}"
        state = job_states([job_id])[job_id].state
        assert state not in FINISHED_STATES, f"job ended ({state}) before it could be requeued"
        time.sleep(0.3)
    subprocess.run(["scontrol", "requeue", job_id], check=True, capture_output=True)

    assert jobs.wait([job_id], timeout=300)[job_id] == "COMPLETED"
    manifest = read_manifest(version_dir)
    assert manifest["status"] == "completed", manifest.get("error")
    assert manifest["slurm"]["requeue_count"] == 1
    assert manifest["resumed_from"] == "train/checkpoints/last.ckpt"
    assert manifest["ddp"]["world_size"] == 4 and manifest["ddp"]["nodes"] == ["runway-n1", "runway-n2"]
    assert _versions(root) - before == {version_dir.name}, "the requeued job trains in the same version folder"
    # Every rank of the second run resumed from last.ckpt, on its node.
    errs = _task_logs(version_dir, job_id, "err")
    for rank in range(4):
        line = f"[train] rank {rank} on {manifest['ddp']['rank_nodes'][str(rank)]}: resuming from train/checkpoints/last.ckpt"
        assert line in errs[rank], f"rank {rank} did not resume: {errs[rank][-800:]}"
    # One W&B run id for the whole version, resumed rather than restarted.
    run_dirs = [d for d in (version_dir / "train" / "logs" / "wandb").glob("offline-run-*") if d.is_dir()]
    assert len({d.name.rsplit("-", 1)[-1] for d in run_dirs}) == 1, run_dirs
    # The same numbers as the uninterrupted job with the same seed.
    reference = read_manifest(reference_dir)["final_metrics"]
    for key in ("val_loss", "val_accuracy", "train_loss_epoch", "best_model_score"):
        assert manifest["final_metrics"][key] == pytest.approx(reference[key], rel=1e-5, abs=1e-7), key
    assert manifest["global_step"] == read_manifest(reference_dir)["global_step"]


def test_stuck_rendezvous_fails_in_bounded_time_naming_the_node(mn_project, jobs, tmp_path):
    # One rank per node; runway-n2 never starts its task (its "python" hangs): rank 1 never reaches the rendezvous.
    wrapper = tmp_path / "python-hangs-on-n2"
    wrapper.write_text(
        '#!/bin/sh\n[ "$SLURMD_NODENAME" = runway-n2 ] && exec sleep 600\n' + f'exec "{sys.executable}" "$@"\n'
    )
    wrapper.chmod(0o755)
    started = time.time()
    one_per_node = [
        "train.trainer_paras.num_nodes=2",
        "train.trainer_paras.devices=1",
        "train.trainer_paras.strategy=ddp",
        "train.trainer_paras.accelerator=cpu",
    ]
    job_id, version_dir = jobs.submit(
        [
            "train",
            "digits",
            "--slurm",
            "--opts",
            *one_per_node,
            *SMALL,
            f"slurm.python={wrapper}",
            "train.ddp_timeout_s=15",
        ]
    )
    assert jobs.wait([job_id], timeout=240)[job_id] == "FAILED"
    elapsed = time.time() - started
    text = "".join(_task_logs(version_dir, job_id, "err").values())
    assert "did not complete within train.ddp_timeout_s=15 s" in text, text[-3000:]
    assert "node runway-n2 did not join (rank 1)" in text, text[-3000:]
    # Bounded: the 600 s sleepers were ended by srun (--kill-on-bad-exit) once rank 0 gave up.
    assert elapsed < 200, elapsed
    manifest = read_manifest(version_dir)
    if manifest.get("status") == "failed":  # rank 0 records it unless srun ended it first
        assert "runway-n2" in (manifest.get("error") or "")


def test_bad_geometry_is_refused_before_queueing(mn_project, capsys):
    root = mn_project
    before_versions, before_jobs = _versions(root), {r.job_id for r in list_jobs(root / "experiments")}
    cases = [
        # 2 x 2 SLURM tasks for a 1 x 2 Trainer
        (["slurm.nodes=2", "slurm.tasks_per_node=2", "train.trainer_paras.devices=2"], "slurm.nodes", "num_nodes"),
        (
            ["train.trainer_paras.num_nodes=2", "train.trainer_paras.devices=2", "slurm.tasks_per_node=1"],
            "slurm.tasks_per_node",
            "train.trainer_paras.devices",
        ),
        (
            [*GEOMETRY[2:], "train.trainer_paras.accelerator=gpu", "slurm.gpus_per_node=1"],
            "slurm.gpus_per_node",
            "train.trainer_paras.devices",
        ),
        ([*GEOMETRY, "slurm.use_srun=false"], "slurm.use_srun", "train.trainer_paras.strategy"),
    ]
    for opts, key_a, key_b in cases:
        capsys.readouterr()
        assert main(["train", "digits", "--slurm", "--opts", *SMALL, *opts]) == 2, opts
        err = capsys.readouterr().err
        assert key_a in err and key_b in err and "hint: set" in err, err
    assert _versions(root) == before_versions, "a refused job leaves no version folder"
    assert {r.job_id for r in list_jobs(root / "experiments")} == before_jobs, "nothing was queued"


def test_dry_run_prints_the_script_and_the_srun_line(mn_project, capsys):
    root = mn_project
    before_versions = _versions(root)
    ids_before = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    for command in ("train", "run"):
        capsys.readouterr()
        assert main([command, "digits", "--slurm", "--dry-run", "--opts", *GEOMETRY, *SMALL]) == 0
        out = capsys.readouterr().out
        assert "#SBATCH --nodes=2" in out and "#SBATCH --ntasks-per-node=2" in out
        srun_lines = [line for line in out.splitlines() if line.startswith("srun ")]
        assert srun_lines and "--kill-on-bad-exit=1" in srun_lines[0] and "submitit.core._submit" in srun_lines[0]
        assert f"runway {command} digits --in-version" in out and "nothing was submitted" in out
    assert _versions(root) == before_versions, "a dry run leaves no version folder"
    ids_after = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    assert set(ids_after) <= set(ids_before), "a dry run queues nothing"
