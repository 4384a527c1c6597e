"""Multi-process training (DDP): which process writes, which version folder a worker joins, the rendezvous.

Global rank 0 writes (version folders, manifests, results); rank 0 exports ``RUNWAY_VERSION_DIR``
before ``trainer.fit`` so the ranks Lightning starts by re-running the command line (local
``strategy=ddp``) train in the same folder. Under SLURM every task is started by ``srun`` with the same
``--in-version`` and gets its rank from ``SLURM_PROCID``; Lightning's ``SLURMEnvironment`` takes
``MASTER_ADDR`` from the first host of ``SLURM_JOB_NODELIST`` (resolvable from every node).

:func:`ddp_strategy` turns a DDP strategy name (``ddp``, ``ddp_find_unused_parameters_true``, ...) into
Lightning's ``DDPStrategy`` with two additions: the rendezvous is bounded by ``train.ddp_timeout_s``
(default 600 s), and when it times out the error names the node(s) whose ranks did not join (each rank
leaves a small marker in ``<version>/train/ddp/`` before it joins); once every rank joined, rank 0
knows each rank's node (``rank_nodes``), which the manifest records.

>>> os.environ.get("LOCAL_RANK") is None and global_rank() == 0  # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError

__all__ = [
    "DEFAULT_DDP_TIMEOUT_S",
    "VERSION_DIR_ENV",
    "collect_rng_states",
    "ddp_strategy",
    "ddp_worker_version_dir",
    "expand_nodelist",
    "exported_version_dir",
    "global_rank",
    "node_name",
    "restore_rng_states",
    "rng_state_callback",
    "worker_version_dir",
]

#: ``train.ddp_timeout_s`` when the config does not set it.
DEFAULT_DDP_TIMEOUT_S = 600

# Set by rank 0 while it fits; inherited by the DDP ranks Lightning launches by re-running the command.
VERSION_DIR_ENV = "RUNWAY_VERSION_DIR"
# Rank variables of Lightning's subprocess launcher / torchrun (RANK, LOCAL_RANK, NODE_RANK) and of srun.
_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK")


def global_rank() -> int:
    """This process's rank in a multi-process training, from the environment (0 when not distributed).

    Any non-zero rank variable (``RANK``, ``SLURM_PROCID``, ``NODE_RANK``, ``LOCAL_RANK``) makes this a
    worker: only the process where all of them are 0 (or unset) writes manifests and reports.
    """
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def ddp_worker_version_dir() -> Path | None:
    """The version folder a DDP worker (rank > 0) started by re-running the command must train in.

    ``None`` in rank 0 and outside distributed training: the command then runs normally.
    """
    value = os.environ.get(VERSION_DIR_ENV)
    if not value or global_rank() == 0:
        return None
    return Path(value)


def worker_version_dir(in_version: str | Path | None) -> Path | None:
    """For a rank > 0: the version folder to join (``RUNWAY_VERSION_DIR``, else ``--in-version``); ``None`` in rank 0.

    A worker that knows neither would train in a second folder: that is a RunwayError.
    """
    rank = global_rank()
    if rank == 0:
        return None
    worker_dir = ddp_worker_version_dir()
    if worker_dir is None and in_version:
        worker_dir = Path(in_version)
    if worker_dir is None:
        raise RunwayError(
            f"this process is distributed rank {rank} but does not know rank 0's version folder "
            f"(neither {VERSION_DIR_ENV} nor --in-version is set); it would train in a second folder",
            hint="start multi-process training through runway-train itself (trainer_paras.devices/strategy) "
            "or with --slurm (slurm.tasks_per_node = devices)",
        )
    return worker_dir


@contextlib.contextmanager
def exported_version_dir(version_dir: Path) -> Iterator[None]:
    """Export ``RUNWAY_VERSION_DIR`` for the duration of a fit (restored afterwards)."""
    previous = os.environ.get(VERSION_DIR_ENV)
    os.environ[VERSION_DIR_ENV] = str(version_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(VERSION_DIR_ENV, None)
        else:
            os.environ[VERSION_DIR_ENV] = previous


# ----------------------------------------------------------------------------- nodes and the rendezvous


def node_name() -> str:
    """This process's node: SLURM's name for it (``SLURMD_NODENAME``), else the host name."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def expand_nodelist(nodelist: str) -> list[str]:
    """SLURM's compressed host list in order: ``"n[1-3,5],gpu07"`` -> ``["n1", "n2", "n3", "n5", "gpu07"]``.

    >>> expand_nodelist("runway-n[1-2]")
    ['runway-n1', 'runway-n2']
    >>> expand_nodelist("a[01-02,07],b")
    ['a01', 'a02', 'a07', 'b']
    """
    hosts: list[str] = []
    for prefix, ranges, plain in re.findall(r"([^,\[]+)\[([^\]]+)\]|([^,\[\]]+)", nodelist):
        if plain:
            hosts.append(plain.strip())
            continue
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            if not high:
                hosts.append(prefix + low)
                continue
            width = len(low)
            hosts.extend(f"{prefix}{i:0{width}d}" for i in range(int(low), int(high) + 1))
    return [h for h in hosts if h]


def _expected_node(rank: int, processes_per_node: int) -> str:
    """Where ``rank`` should run: ``node <SLURM's name>`` of its block of tasks, else ``node rank N``."""
    node_rank = rank // max(1, processes_per_node)
    hosts = expand_nodelist(os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST") or "")
    if node_rank < len(hosts):
        return f"node {hosts[node_rank]}"
    return f"node rank {node_rank}"


def _attempt_key(main_port: int) -> str:
    """One rendezvous attempt: the SLURM job and restart (a requeued job is a new attempt), the port."""
    job = os.environ.get("SLURM_JOB_ID") or "local"
    return f"{job}-{os.environ.get('SLURM_RESTART_COUNT', '0')}-{main_port}"


def _write_marker(folder: Path, rank: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    info = {"rank": rank, "node": node_name(), "host": socket.gethostname(), "pid": os.getpid()}
    tmp = folder / f".rank-{rank}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(info))
    os.replace(tmp, folder / f"rank-{rank}.json")


def _joined_ranks(folder: Path) -> dict[int, str]:
    out: dict[int, str] = {}
    for path in folder.glob("rank-*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            info = json.loads(path.read_text())
            out[int(info["rank"])] = str(info["node"])
    return out


def missing_ranks_message(
    folder: Path, world_size: int, processes_per_node: int, timeout_s: float, this_rank: int
) -> str:
    """Which ranks (and nodes) did not reach the rendezvous within ``timeout_s``, from the markers in ``folder``."""
    joined = _joined_ranks(folder)
    missing = [r for r in range(world_size) if r not in joined]
    by_node: dict[str, list[int]] = {}
    for rank in missing:
        by_node.setdefault(_expected_node(rank, processes_per_node), []).append(rank)
    if by_node:
        nodes = "; ".join(
            f"{node} did not join (rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))})"
            for node, ranks in by_node.items()
        )
    else:  # every rank started but the connection itself failed (e.g. MASTER_ADDR not reachable)
        nodes = (
            f"all {world_size} ranks started (on {', '.join(sorted(set(joined.values())))}) but could not connect "
            f"to rank 0 at {os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        )
    return (
        f"the DDP rendezvous of {world_size} processes did not complete within train.ddp_timeout_s={timeout_s:g} s "
        f"(seen from rank {this_rank} on {node_name()}): {nodes}"
    )


@lru_cache(maxsize=1)
def _strategy_class() -> type:
    """Lightning's ``DDPStrategy`` with a rendezvous that reports the missing node (built on first use)."""
    from pytorch_lightning.strategies import DDPStrategy

    class RunwayDDPStrategy(DDPStrategy):
        """``DDPStrategy`` whose rendezvous is bounded by ``train.ddp_timeout_s`` and names who did not join."""

        def __init__(self, *args: Any, timeout_s: float, marker_root: str | None, **kwargs: Any) -> None:
            from datetime import timedelta

            super().__init__(*args, timeout=timedelta(seconds=timeout_s), **kwargs)
            self.timeout_s = float(timeout_s)
            self.marker_root = marker_root
            self.rank_nodes: dict[int, str] = {}

        def setup_distributed(self) -> None:
            self.set_world_ranks()
            assert self.cluster_environment is not None
            rank, world = self.global_rank, self.world_size
            folder = None
            if self.marker_root and world > 1:
                folder = Path(self.marker_root) / _attempt_key(self.cluster_environment.main_port)
                with contextlib.suppress(OSError):  # a marker only improves the message
                    _write_marker(folder, rank)
            started = time.monotonic()
            try:
                super().setup_distributed()
            except Exception as exc:
                elapsed = time.monotonic() - started
                if folder is None or not _is_timeout(exc, elapsed, self.timeout_s):
                    raise
                raise RunwayError(
                    missing_ranks_message(folder, world, self.num_processes, self.timeout_s, rank),
                    hint="check that every node of the job started its tasks (the node's log in the job's "
                    "slurm/ folder) and can reach rank 0's node; raise train.ddp_timeout_s for slow starts",
                ) from exc
            self.rank_nodes = self._gather_nodes()
            if folder is not None and rank == 0:
                shutil.rmtree(folder.parent, ignore_errors=True)  # every rank joined: the markers served

        def _gather_nodes(self) -> dict[int, str]:
            import torch.distributed as dist

            if not (dist.is_available() and dist.is_initialized()) or self.world_size <= 1:
                return {0: node_name()}
            gathered: list[Any] = [None] * self.world_size
            dist.all_gather_object(gathered, (self.global_rank, node_name()))
            return {int(r): str(n) for r, n in gathered}

    # Picklable by name (ddp_spawn pickles the trainer): module attribute through __getattr__ below.
    RunwayDDPStrategy.__module__ = __name__
    RunwayDDPStrategy.__qualname__ = "RunwayDDPStrategy"
    return RunwayDDPStrategy


def __getattr__(name: str) -> Any:
    if name == "RunwayDDPStrategy":
        return _strategy_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_timeout(exc: BaseException, elapsed: float, timeout_s: float) -> bool:
    text = str(exc).lower()
    return "timed out" in text or "timeout" in text or elapsed >= 0.9 * timeout_s


def ddp_timeout_s(train_cfg: Mapping[str, Any]) -> float:
    """``train.ddp_timeout_s`` (default :data:`DEFAULT_DDP_TIMEOUT_S`)."""
    value = train_cfg.get("ddp_timeout_s")
    return float(DEFAULT_DDP_TIMEOUT_S if value is None else value)


def ddp_strategy(trainer_kwargs: Mapping[str, Any], train_cfg: Mapping[str, Any], marker_root: Path | None) -> Any:
    """The strategy object for ``trainer_paras.strategy`` when it names a DDP strategy, else ``None``.

    ``ddp``, ``ddp_spawn``, ``ddp_find_unused_parameters_true``, ... (every name Lightning registers for
    ``DDPStrategy``) keep their own settings and get the bounded, reporting rendezvous; ``auto`` with
    several nodes or SLURM tasks becomes ``ddp`` (what Lightning would pick) with the same. Other strategies
    (FSDP, DeepSpeed, a strategy object) are left to Lightning.
    """
    strategy = trainer_kwargs.get("strategy", "auto")
    if not isinstance(strategy, str):
        return None
    from pytorch_lightning.strategies import DDPStrategy, StrategyRegistry

    if strategy == "auto":
        # Several nodes, or several SLURM tasks: Lightning would pick "ddp" (a notebook's ddp_fork never applies).
        nodes = trainer_kwargs.get("num_nodes", 1)
        tasks = os.environ.get("SLURM_NTASKS", "1")
        if not ((isinstance(nodes, int) and nodes > 1) or (tasks.isdigit() and int(tasks) > 1)):
            return None
        strategy = "ddp"
    if strategy not in StrategyRegistry or StrategyRegistry[strategy]["strategy"] is not DDPStrategy:
        return None
    params = dict(StrategyRegistry[strategy]["init_params"])
    return _strategy_class()(
        timeout_s=ddp_timeout_s(train_cfg), marker_root=str(marker_root) if marker_root else None, **params
    )


def rng_state_callback() -> Any:
    """A callback keeping torch / numpy / python RNG states in each checkpoint and restoring them on resume.

    Every rank is seeded alike and draws alike, so rank 0's states (the ones saved) hold for all ranks: a
    run resumed from ``last.ckpt`` after a requeue draws the same dropout masks and shuffles as a run
    that never stopped, and ends with the same metrics.
    """
    from pytorch_lightning.callbacks import Callback

    class RngState(Callback):
        def __init__(self) -> None:
            self._pending: dict[str, Any] | None = None

        @property
        def state_key(self) -> str:
            return "runway_rng_state"

        def state_dict(self) -> dict[str, Any]:
            return {"rng": collect_rng_states()}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            self._pending = state_dict.get("rng")

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            # After Lightning's own seeding and restore, before the first batch of the resumed epoch.
            if self._pending:
                restore_rng_states(self._pending)
                self._pending = None

    return RngState()


def collect_rng_states() -> dict[str, Any]:
    """torch / numpy / python RNG states as tensors, lists and tuples: loadable with ``weights_only=True``.

    (Lightning's own collector keeps numpy's state as an array, which a weights-only ``torch.load``, the
    default of a resume, refuses.)
    """
    import random

    import numpy as np
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [str(kind), [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }


def restore_rng_states(states: Mapping[str, Any]) -> None:
    """Set the RNG states saved by :func:`collect_rng_states` (missing parts are left alone)."""
    import random

    import numpy as np
    import torch

    if states.get("torch") is not None:
        torch.set_rng_state(states["torch"])
    if states.get("numpy") is not None:
        kind, keys, pos, has_gauss, cached = states["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    if states.get("python") is not None:
        version, internal, gauss = states["python"]
        random.setstate((version, tuple(internal), gauss))
