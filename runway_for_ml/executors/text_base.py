"""``HFTextExecutor``: what the built-in text executors share.

It builds the ``transformers`` model of ``executor.model_config`` (see ``hf_models.py``), finds the
tokenizer, pads batches dynamically, wraps the model with LoRA adapters when ``train.lora`` asks for
them, and after training writes ``<version>/train/hf_model/`` with ``save_pretrained`` (model and
tokenizer, adapters merged; the adapters alone in ``hf_model/adapter/``) so that plain
``transformers`` loads the result.

The tokenizer is found by the experiment's data module (``experiment/datamodule.py``:
``tokenizer_source`` walks the pipeline graph by transform class) and given as ``tokenizer=``; an
executor built directly without one loads ``model_config.tokenizer_config`` or, for a pretrained
model, ``model_config.model_version``'s own tokenizer.

Models built from a config take ``vocab_size`` / ``pad_token_id`` (and for seq2seq the decoder start
and end tokens) from that tokenizer, so the config does not have to repeat them.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from runway_for_ml.errors import ConfigError, RunwayError, check_keys, did_you_mean
from runway_for_ml.executors.base import BaseExecutor, default_collate
from runway_for_ml.executors.hf_models import HF_MODEL_KEYS, build_hf_model, hf_model_config
from runway_for_ml.executors.lora import apply_lora, check_target_modules, is_peft, lora_settings
from runway_for_ml.pipeline.graph import PipelineGraph
from runway_for_ml.pipeline.tokenize import HFDatasetTokenizeTransform, load_tokenizer

__all__ = ["HF_MODEL_DIR", "HFTextExecutor", "pad_collate", "tokenize_kwargs"]

HF_MODEL_DIR = "hf_model"
_TEXT_KEYS = ("tokenizer_node", "tokenizer_config", "input_columns", "label_column", "text_column")


def _pad_value(column: str, pad_token_id: int) -> int:
    if column == "labels" or column.endswith("_labels"):
        return -100  # ignored by the loss
    if "attention_mask" in column or column.endswith("token_type_ids") or "mask" in column:
        return 0
    return pad_token_id


def _is_token_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray)) and (
        len(value) == 0 or (isinstance(value[0], (int, np.integer)) and not isinstance(value[0], bool))
    )


def _trim_widths(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Columns padded to a fixed length upstream (``padding: 'max_length'``) -> the batch's longest real length.

    A column ``X_attention_mask`` (or ``attention_mask``) tells the real length of the token columns
    ``X`` / ``X_input_ids`` (``input_ids``, ``token_type_ids``); positions beyond every row's mask are
    padding the model ignores, so cutting them gives the same outputs for less work.
    """
    widths: dict[str, int] = {}
    for mask_key in rows[0]:
        if not mask_key.endswith("attention_mask") or not _is_token_list(rows[0][mask_key]):
            continue
        longest = 0
        for row in rows:
            mask = row[mask_key]
            nonzero = np.flatnonzero(np.asarray(mask))
            longest = max(longest, int(nonzero[-1]) + 1 if len(nonzero) else 0)
        prefix = mask_key[: -len("attention_mask")].rstrip("_")
        group = [mask_key, f"{prefix}_input_ids", prefix] if prefix else [mask_key, "input_ids", "token_type_ids"]
        for key in group:
            if key in rows[0]:
                widths[key] = max(longest, 1)
    return widths


def pad_collate(rows: Sequence[Mapping[str, Any]], pad_token_id: int = 0) -> dict[str, Any]:
    """Like ``default_collate``, but lists of token ids of different lengths are right-padded.

    ``labels`` pad with -100 (ignored by the loss), masks with 0, ids with ``pad_token_id``.

    >>> pad_collate([{"input_ids": [5, 6, 7], "labels": [1]}, {"input_ids": [5], "labels": [2, 3]}])["labels"]
    tensor([[   1, -100],
            [   2,    3]])
    """
    if not rows:
        return {}
    batch: dict[str, Any] = {}
    trim = _trim_widths(rows)
    for key in rows[0]:
        values = [row[key] for row in rows]
        if _is_token_list(values[0]) and all(_is_token_list(v) for v in values):
            width = min(max(len(v) for v in values), trim.get(key, 1 << 30))
            array = np.full((len(values), width), _pad_value(key, pad_token_id), dtype=np.int64)
            for i, v in enumerate(values):
                array[i, : min(len(v), width)] = v[:width]
            batch[key] = torch.from_numpy(array)
        else:
            batch[key] = default_collate([{key: v} for v in values])[key]
    return batch


def tokenize_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``tokenize_kwargs`` of the tokenize node feeding the training data (for ``serve_step``).

    The node is found through the pipeline graph by its transform class (``HFDatasetTokenizeTransform``
    or a subclass), nearest to ``train.data_node`` / ``train.splits`` first.
    """
    if not config.get("data_pipeline"):
        return {"truncation": True}
    graph = PipelineGraph.from_config(config.get("data_pipeline"))
    train = config.get("train") or {}
    starts = [train["data_node"]] if train.get("data_node") else []
    starts += [ref if isinstance(ref, str) else ref.get("node") for ref in (train.get("splits") or {}).values()]
    for spec in graph.upstream([s for s in starts if s in graph.nodes], HFDatasetTokenizeTransform):
        tc = spec.setup_kwargs.get("tokenizer_config") or {}
        if tc.get("tokenize_kwargs"):
            return dict(tc["tokenize_kwargs"])
    return {"truncation": True}


class HFTextExecutor(BaseExecutor):
    """Base of the ``transformers`` text executors (sequence classification, seq2seq, causal LM).

    Subclasses set ``task_type`` (peft's name of the task), ``extra_keys`` (their own
    ``model_config`` keys) and implement ``model_overrides`` / the Lightning steps.

    ``tokenizer=``: the ``transformers`` tokenizer the data module found (or one passed directly, e.g. in tests).
    """

    task_type: ClassVar[str] = ""
    extra_keys: ClassVar[tuple[str, ...]] = ()
    generative: ClassVar[bool] = False

    def __init__(
        self,
        config: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | None = None,
        tokenizer: Any = None,
        **init_kwargs: Any,
    ) -> None:
        super().__init__(config, data, model_config, **init_kwargs)
        type(self).validate_config(
            {**self.config, "executor": {**(self.config.get("executor") or {}), "model_config": self.model_config}},
            deep=False,
        )
        self.tokenizer = tokenizer if tokenizer is not None else self._tokenizer_from_model_config()
        model = build_hf_model(self.model_config, self.model_overrides())
        # from_pretrained returns the model in eval mode; Lightning keeps module modes as it finds them,
        # so a pretrained model would fine-tune without dropout.
        model.train()
        self._resize_embeddings(model)
        self.lora = lora_settings(self.config)
        self.model = apply_lora(model, self.lora, self.task_type) if self.lora else model
        self._merged_for_inference = False

    # ------------------------------------------------------------ validation

    @classmethod
    def model_config_keys(cls) -> tuple[str, ...]:
        return (*HF_MODEL_KEYS, *_TEXT_KEYS, *cls.extra_keys)

    @classmethod
    def validate_config(cls, config: Mapping[str, Any], *, deep: bool = True) -> None:
        """Check ``executor.model_config``, ``train.lora`` and ``test.generation_kwargs`` before any work.

        ``deep`` also resolves the classes, the pretrained folder and LoRA's target modules (the model
        is built on the ``meta`` device: no weights, milliseconds). Raises :class:`ConfigError`.
        """
        mc = (config.get("executor") or {}).get("model_config") or {}
        check_keys(mc, cls.model_config_keys(), "executor.model_config", hint=f"keys of {cls.__name__}")
        hf_model_config(mc)
        generation = (config.get("test") or {}).get("generation_kwargs")
        if generation and not cls.generative:
            raise ConfigError(
                f"test.generation_kwargs is set but {cls.__name__} does not generate text (it classifies)",
                hint="remove test.generation_kwargs, or use Seq2SeqExecutor / CausalLMExecutor for generation",
            )
        if generation is not None:
            cls._check_generation_kwargs(generation)
        node = mc.get("tokenizer_node")
        transforms = (config.get("data_pipeline") or {}).get("transforms") or {}
        if node and transforms and node not in transforms:
            raise ConfigError(
                f"executor.model_config.tokenizer_node: '{node}' is not a node of data_pipeline.transforms"
                f"{did_you_mean(node, transforms)}",
                hint=f"nodes: {', '.join(transforms)}",
            )
        settings = lora_settings(config)
        if not deep:
            return
        if settings and settings.get("target_modules"):
            check_target_modules(build_hf_model(mc, cls.empty_overrides(mc), empty=True), settings)
        else:
            build_hf_model(mc, cls.empty_overrides(mc), empty=True)

    @classmethod
    def empty_overrides(cls, model_config: Mapping[str, Any]) -> dict[str, Any]:
        """Config attributes needed to build the architecture without data (validation only)."""
        return {}

    @classmethod
    def _check_generation_kwargs(cls, kwargs: Any) -> None:
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"test.generation_kwargs: expected an object, found {kwargs!r}")
        from transformers import GenerationConfig

        known = [k for k in vars(GenerationConfig()) if not k.startswith("_")]
        check_keys(kwargs, known, "test.generation_kwargs", hint="arguments of model.generate (GenerationConfig)")

    # ------------------------------------------------------------ tokenizer

    def _tokenizer_from_model_config(self) -> Any:
        """Without ``tokenizer=``: ``model_config.tokenizer_config``, else a pretrained model's own tokenizer."""
        mc = self.model_config
        tc = mc.get("tokenizer_config")
        if not tc and mc.get("model_version") and not mc.get("train_from_scratch"):
            tc = {"version_name": mc["model_version"]}
        if not tc:
            return None
        # The same loader as the tokenize node, so ids, added tokens and padding match the data.
        return load_tokenizer(
            {"version_name": tc} if isinstance(tc, str) else dict(tc), "executor.model_config.tokenizer_config"
        )

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        return int(tok.pad_token_id) if tok is not None and tok.pad_token_id is not None else 0

    def model_overrides(self) -> dict[str, Any]:
        """Config attributes taken from the tokenizer / data (``vocab_size``, ``pad_token_id`` ...)."""
        tok = self.tokenizer
        if tok is None or not self.model_config.get("train_from_scratch"):
            return {}
        out: dict[str, Any] = {"pad_token_id": self.pad_token_id}
        given = (self.model_config.get("config_kwargs") or {}).get("vocab_size")
        if given is not None and int(given) < len(tok):
            raise ConfigError(
                f"executor.model_config.config_kwargs.vocab_size={given} is smaller than the tokenizer's {len(tok)} tokens",
                hint="remove vocab_size: it is taken from the tokenizer",
            )
        out["vocab_size"] = int(given or len(tok))
        return out

    def _resize_embeddings(self, model: Any) -> None:
        tok = self.tokenizer
        if tok is None or not hasattr(model, "get_input_embeddings"):
            return
        embeddings = model.get_input_embeddings()
        if embeddings is not None and embeddings.weight.shape[0] < len(tok):
            model.resize_token_embeddings(len(tok))

    def decode(self, ids: Any) -> list[str]:
        """Token ids (``[B, T]``, -100 allowed) -> texts without special tokens."""
        if self.tokenizer is None:
            raise RunwayError(
                f"{type(self).__name__} has no tokenizer to decode with",
                hint="set executor.model_config.tokenizer_config",
            )
        array = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
        array = np.where(array < 0, self.pad_token_id, array)
        return [text.strip() for text in self.tokenizer.batch_decode(array.tolist(), skip_special_tokens=True)]

    # ------------------------------------------------------------ batches

    def collate_fn(self, rows: Sequence[Any]) -> Any:
        return pad_collate(rows, self.pad_token_id)

    def model_inputs(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The batch columns given to the model (``input_columns``, default input_ids / attention_mask / token_type_ids)."""
        names = self.model_config.get("input_columns") or ("input_ids", "attention_mask", "token_type_ids")
        inputs = {name: batch[name] for name in names if name in batch}
        if "input_ids" not in inputs and "input_ids" in names:
            raise ConfigError(
                f"the batch has no 'input_ids' column{did_you_mean('input_ids', list(batch))}; columns: {', '.join(batch)}",
                hint="tokenize the text with HFDatasetTokenizeTransform and rename its columns to input_ids / "
                "attention_mask (rename_col_dict), or set executor.model_config.input_columns",
            )
        return inputs

    def input_texts(self, batch: Mapping[str, Any]) -> list[str]:
        """The input text of each sample: ``text_column`` when the batch has it, else decoded ``input_ids``."""
        column = self.model_config.get("text_column")
        if column and column in batch:
            return [str(t) for t in batch[column]]
        return self.decode(batch["input_ids"]) if self.tokenizer is not None else [""] * len(batch["input_ids"])

    # ------------------------------------------------------------ lifecycle

    def inference_model(self) -> Any:
        """The model for inference: with LoRA and ``test.merge_lora`` (default true), adapters merged once."""
        if (
            self.lora
            and is_peft(self.model)
            and self.test_config.get("merge_lora", True)
            and not self._merged_for_inference
        ):
            self.model = self.model.merge_and_unload()
            self._merged_for_inference = True
        return self.model

    def on_predict_start(self) -> None:
        self.inference_model()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.lora:
            # The adapter weights are in state_dict; their settings travel with them.
            checkpoint["runway_lora"] = {k: v for k, v in self.lora.items() if not k.startswith("_")}

    def on_fit_end(self) -> None:
        trainer = self.trainer
        if trainer.is_global_zero and trainer.default_root_dir:
            self.save_hf_model(Path(trainer.default_root_dir) / HF_MODEL_DIR, self._best_checkpoint())

    def _best_checkpoint(self) -> str | None:
        callback = getattr(self.trainer, "checkpoint_callback", None)
        path = getattr(callback, "best_model_path", "") or ""
        return path if path and Path(path).is_file() else None

    def save_hf_model(self, target: Path, checkpoint: str | None = None) -> Path:
        """``save_pretrained`` the model (weights of ``checkpoint`` if given) and tokenizer into ``target``.

        LoRA adapters are merged into the saved model and also saved alone in ``target/adapter``.
        Written to a temporary folder and renamed, so ``target`` is whole or absent.
        """
        model = self.model
        if checkpoint is not None:
            state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
            model = copy.deepcopy(self.model)
            model.load_state_dict({k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")})
        target = Path(target)
        staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            if is_peft(model):
                model.save_pretrained(str(staging / "adapter"))
                model = (copy.deepcopy(model) if model is self.model else model).merge_and_unload()
            model.save_pretrained(str(staging))
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(str(staging))
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def mean_pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Average of the hidden states over the real (non-padding) tokens: ``[B, T, H] -> [B, H]``."""
        if attention_mask is None:
            return hidden.mean(dim=1)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    @contextlib.contextmanager
    def _eval_mode(self) -> Any:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)
