"""Process settings of a run: torch threads (``train.torch_num_threads``) and Lightning's inapplicable hints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["apply_thread_settings", "quiet_lightning"]


def apply_thread_settings(config: Mapping[str, Any]) -> None:
    """Apply ``train.torch_num_threads`` (small models on busy CPUs run fastest with 1 thread)."""
    threads = (config.get("train") or {}).get("torch_num_threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


# Lightning messages that do not apply to runs started by runway: the srun hint (runway's SLURM jobs
# are launched by submitit, which sets up the tasks itself), an advertisement, and a deprecation inside
# Lightning's own code. Everything else Lightning says is kept.
_NOISE_WARNINGS = (
    r"The `srun` command is available on your system",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
_NOISE_INFO = ("💡 Tip:", "Loading `train_dataloader` to estimate number of stepping batches")


class _DropNoise:
    def filter(self, record: Any) -> bool:
        return not str(record.getMessage()).startswith(_NOISE_INFO)


def quiet_lightning() -> None:
    """Silence Lightning's hints that do not apply to runway runs (idempotent)."""
    import logging
    import warnings

    for pattern in _NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
