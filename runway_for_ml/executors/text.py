"""Built-in ``transformers`` text executors: sequence classification, seq2seq generation, causal LM.

::

    executor: {
      ExecutorClass: 'SequenceClassificationExecutor',
      model_config: {
        ModelClass: 'BertForSequenceClassification', train_from_scratch: true,
        ConfigClass: 'BertConfig', config_kwargs: { hidden_size: 128, num_hidden_layers: 2, ... },
        label_column: 'label', text_column: 'review',
      },
    },
    test: { generation_kwargs: { num_beams: 4, max_new_tokens: 8 } },   // generative executors only

``predict_step`` records, per sample, the input text, the reference and the prediction (a label name
for the classifier, decoded text for the generators); ``embed_step`` returns pooled hidden states.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torchmetrics

from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.executors.base import register_executor
from runway_for_ml.executors.text_base import HFTextExecutor, tokenize_kwargs

__all__ = ["CausalLMExecutor", "Seq2SeqExecutor", "SequenceClassificationExecutor"]


def _labels_of(dataset: Any, column: str) -> list[Any] | None:
    try:
        return list(dataset[column])
    except (KeyError, TypeError, ValueError):
        return None


@register_executor
class SequenceClassificationExecutor(HFTextExecutor):
    """Classify token sequences with a ``...ForSequenceClassification`` model.

    ``model_config``: ``label_column`` (default ``label``: class indices or strings), ``label_names``
    (default: the ``ClassLabel`` names of the data, else the sorted string labels), ``num_labels``.
    ``predict_step`` returns ``prediction`` / ``target`` (class indices, as the metrics and the confusion
    matrix expect), ``predicted_label`` / ``target_label`` (their names), ``probabilities`` and ``text``.
    ``serve_step({"text": ...})`` classifies raw text with the tokenizer settings of training.
    """

    task_type = "SEQ_CLS"
    extra_keys = ("label_names", "num_labels")

    def __init__(self, config: Mapping[str, Any], data: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        # The label set must be known before the model (its head) is built.
        self._data_for_labels: Mapping[str, Any] = data if data is not None else {}
        mc = kwargs.get("model_config") or (dict(config).get("executor") or {}).get("model_config") or {}
        self.label_column: str = mc.get("label_column", "label")
        self.label_names: list[Any] | None = self._find_label_names(mc, dict(config))
        super().__init__(config, data, **kwargs)
        n = self.num_labels
        self.val_accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=max(n, 2))
        self._label_index = {name: i for i, name in enumerate(self.label_names or [])}

    @classmethod
    def empty_overrides(cls, model_config: Mapping[str, Any]) -> dict[str, Any]:
        names = model_config.get("label_names")
        return {"num_labels": int(model_config.get("num_labels") or (len(names) if names else 2))}

    def _find_label_names(self, mc: Mapping[str, Any], config: Mapping[str, Any]) -> list[Any] | None:
        if mc.get("label_names"):
            return list(mc["label_names"])
        # At inference (Experiment.load_model, serving) ``data`` is the training splits, loaded lazily:
        # the names are the training data's.
        for split in ("train", *self._data_for_labels):
            dataset = self._data_for_labels.get(split)
            if dataset is None:
                continue
            feature = getattr(dataset, "features", {}).get(self.label_column) if hasattr(dataset, "features") else None
            if getattr(feature, "names", None):
                return list(feature.names)
            values = _labels_of(dataset, self.label_column)
            if values and isinstance(values[0], str):
                return sorted(set(values))
        return None

    @property
    def num_labels(self) -> int:
        if self.label_names:
            return len(self.label_names)
        if self.model_config.get("num_labels"):
            return int(self.model_config["num_labels"])
        for dataset in self._data_for_labels.values():
            values = _labels_of(dataset, self.label_column)
            if values:
                return max(2, int(max(values)) + 1)
        return 2

    def model_overrides(self) -> dict[str, Any]:
        out = super().model_overrides()
        out["num_labels"] = self.num_labels
        if self.label_names:
            out["id2label"] = {i: str(name) for i, name in enumerate(self.label_names)}
            out["label2id"] = {str(name): i for i, name in enumerate(self.label_names)}
        return out

    def _targets(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if self.label_column not in batch:
            raise ConfigError(
                f"the batch has no label column '{self.label_column}'{did_you_mean(self.label_column, list(batch))}; "
                f"columns: {', '.join(batch)}",
                hint="set executor.model_config.label_column",
            )
        values = batch[self.label_column]
        if isinstance(values, torch.Tensor):
            return values.long()
        try:
            return torch.tensor([self._label_index[v] for v in values], dtype=torch.long)
        except KeyError as exc:
            raise RunwayError(
                f"label {exc.args[0]!r} is not one of executor.model_config.label_names {self.label_names}"
            ) from exc

    def forward(self, **inputs: Any) -> Any:
        return self.model(**inputs)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        target = self._targets(batch)
        loss = self.model(**self.model_inputs(batch), labels=target).loss
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(target))
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        target = self._targets(batch)
        out = self.model(**self.model_inputs(batch), labels=target)
        self.val_accuracy.update(out.logits, target)
        self.log("val_loss", out.loss, prog_bar=True, batch_size=len(target))
        self.log(
            "val_accuracy", self.val_accuracy, prog_bar=True, batch_size=len(target), metric_attribute="val_accuracy"
        )

    def _name(self, index: int) -> Any:
        return self.label_names[index] if self.label_names else index

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        logits = self.inference_model()(**self.model_inputs(batch)).logits
        probabilities = torch.softmax(logits.float(), dim=-1)
        prediction = probabilities.argmax(dim=-1)
        out: dict[str, Any] = {
            "text": self.input_texts(batch),
            "prediction": prediction,
            "predicted_label": [self._name(i) for i in prediction.tolist()],
            "probabilities": probabilities,
        }
        if self.label_column in batch:
            target = self._targets(batch)
            out["target"] = target
            out["target_label"] = [self._name(i) for i in target.tolist()]
        return out

    def embed_step(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Mean of the encoder's last hidden states over the real tokens: ``[B, hidden_size]``."""
        inputs = self.model_inputs(batch)
        out = self.inference_model()(**inputs, output_hidden_states=True)
        return self.mean_pool(out.hidden_states[-1], inputs.get("attention_mask"))

    def serve_step(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """``{"text": str | [str]}`` -> ``{"label", "probabilities"}`` (one dict, or lists for a list of texts).

        ``{"texts": [[str, ...], ...]}`` (the ``embed`` command: one array of texts per request) ->
        ``{"embeddings": [[vector, ...], ...]}``, the vectors of ``embed_step`` (mean of the last hidden states).
        """
        if "texts" in inputs and "text" not in inputs:
            return {"embeddings": self._serve_embeddings(inputs["texts"])}
        if "text" not in inputs:
            raise RunwayError(f"{type(self).__name__} serves a 'text' input; got {', '.join(inputs) or 'nothing'}")
        texts = inputs["text"]
        single = isinstance(texts, str)
        encoded = self._serve_encode([texts] if single else list(texts))
        with self._eval_mode():
            logits = self.inference_model()(**encoded).logits
        probabilities = torch.softmax(logits.float(), dim=-1).cpu().tolist()
        labels = [self._name(int(np.argmax(p))) for p in probabilities]
        if single:
            return {"label": labels[0], "probabilities": probabilities[0]}
        return {"label": labels, "probabilities": probabilities}

    def _serve_encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise served texts with the tokenize node's settings (dynamic padding), on the model's device."""
        if self.tokenizer is None:
            raise RunwayError(f"{type(self).__name__} has no tokenizer to read text with")
        if getattr(self, "_serve_tokenize_kwargs", None) is None:  # the graph is read once, not per request
            self._serve_tokenize_kwargs = {
                k: v for k, v in tokenize_kwargs(self.config).items() if k not in ("padding", "return_tensors")
            }
        kwargs = self._serve_tokenize_kwargs
        encoded = self.tokenizer(texts, padding=True, return_tensors="pt", **kwargs)
        names = self.model_config.get("input_columns") or ("input_ids", "attention_mask", "token_type_ids")
        return {k: v.to(self.device) for k, v in encoded.items() if k in names}

    def _serve_embeddings(self, groups: Any) -> list[list[list[float]]]:
        """One list of vectors per request: all the requests' texts go through the model in one batch."""
        groups = [[g] if isinstance(g, str) else list(g) for g in groups]
        flat = [t for g in groups for t in g]
        vectors: list[list[float]] = []
        if flat:
            encoded = self._serve_encode(flat)
            with self._eval_mode():
                out = self.inference_model()(**encoded, output_hidden_states=True)
            vectors = self.mean_pool(out.hidden_states[-1], encoded.get("attention_mask")).float().cpu().tolist()
        answers, start = [], 0
        for group in groups:
            answers.append(vectors[start : start + len(group)])
            start += len(group)
        return answers


class _GenerativeExecutor(HFTextExecutor):
    """Shared parts of the seq2seq and causal LM executors: loss on ``labels``, generation at inference."""

    generative = True
    extra_keys = ("target_text_column", "max_new_tokens")

    def generation_kwargs(self) -> dict[str, Any]:
        """``test.generation_kwargs`` over the defaults (``max_new_tokens``: model_config's or 32)."""
        kwargs: dict[str, Any] = {"max_new_tokens": int(self.model_config.get("max_new_tokens", 32))}
        kwargs.update(self.test_config.get("generation_kwargs") or {})
        tok = self.tokenizer
        if tok is not None:
            kwargs.setdefault("pad_token_id", self.pad_token_id)
            eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
            if eos is not None:
                kwargs.setdefault("eos_token_id", eos)
        return kwargs

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.model(**self.model_inputs(batch), labels=self.labels(batch)).loss
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(batch["input_ids"]))
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        loss = self.model(**self.model_inputs(batch), labels=self.labels(batch)).loss
        self.log("val_loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))

    def labels(self, batch: Mapping[str, Any]) -> torch.Tensor:
        column = self.label_column
        if column not in batch:
            raise ConfigError(
                f"the batch has no '{column}' column{did_you_mean(column, list(batch))}; columns: {', '.join(batch)}",
                hint="tokenize the target text into 'labels' (rename_col_dict: {target_input_ids: 'labels'}) "
                "or set executor.model_config.label_column",
            )
        labels = batch[column]
        mask = batch.get(f"{column}_attention_mask")
        if isinstance(mask, torch.Tensor) and mask.shape == labels.shape:
            # Targets padded with the pad id upstream: padding must not count in the loss.
            labels = labels.masked_fill(mask == 0, -100)
        return labels

    @property
    def label_column(self) -> str:
        return self.model_config.get("label_column", "labels")

    def references(self, batch: Mapping[str, Any]) -> list[str] | None:
        column = self.model_config.get("target_text_column")
        if column and column in batch:
            return [str(t) for t in batch[column]]
        if self.label_column in batch:
            return self.decode(batch[self.label_column])
        return None

    def scratch_token_ids(self, *keys: str) -> dict[str, int] | None:
        """Training from scratch with a tokenizer: its ids for ``keys`` (eos falls back to sep, bos to cls) that
        ``config_kwargs`` does not set; ``None`` otherwise."""
        tok = self.tokenizer
        if tok is None or not self.model_config.get("train_from_scratch"):
            return None
        given = self.model_config.get("config_kwargs") or {}
        ids = {
            "eos_token_id": tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id,
            "bos_token_id": tok.bos_token_id if tok.bos_token_id is not None else tok.cls_token_id,
        }
        return {key: int(ids[key]) for key in keys if ids[key] is not None and key not in given}

    def prediction_record(self, batch: Mapping[str, Any], input_text: Any, prediction: Any) -> dict[str, Any]:
        """What ``predict_step`` returns: the inputs and generated texts, with the references when the batch has them."""
        out: dict[str, Any] = {"input_text": input_text, "prediction": prediction}
        references = self.references(batch)
        if references is not None:
            out["target"] = references
        return out


@register_executor
class Seq2SeqExecutor(_GenerativeExecutor):
    """Text-to-text with an encoder-decoder (``T5ForConditionalGeneration``, ``BartForConditionalGeneration``).

    Trains on ``input_ids`` -> ``labels``; ``predict_step`` runs ``model.generate`` with
    ``test.generation_kwargs`` and returns ``input_text``, ``target`` (the reference text) and
    ``prediction`` (the decoded generation).
    """

    task_type = "SEQ_2_SEQ_LM"

    def model_overrides(self) -> dict[str, Any]:
        out = super().model_overrides()
        scratch = self.scratch_token_ids("eos_token_id")
        if scratch is not None:
            out.update(scratch)
            if "decoder_start_token_id" not in (self.model_config.get("config_kwargs") or {}):
                out["decoder_start_token_id"] = self.pad_token_id
        return out

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        inputs = self.model_inputs(batch)
        generated = self.inference_model().generate(**inputs, **self.generation_kwargs())
        return self.prediction_record(batch, self.input_texts(batch), self.decode(generated))

    def embed_step(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Mean of the encoder output over the real tokens: ``[B, d_model]``."""
        inputs = self.model_inputs(batch)
        encoder = self.inference_model().get_encoder()
        hidden = encoder(**{k: v for k, v in inputs.items() if k != "token_type_ids"}).last_hidden_state
        return self.mean_pool(hidden, inputs.get("attention_mask"))


@register_executor
class CausalLMExecutor(_GenerativeExecutor):
    """A decoder-only language model (``GPT2LMHeadModel``, ``LlamaForCausalLM`` ...).

    Trains on ``input_ids`` with ``labels`` (default: the input ids, padding ignored). At inference it
    continues ``prompt_column`` (token ids of the prompt, default ``input_ids``) with ``model.generate``
    and records the prompt text, the continuation (``prediction``) and the reference text when known.
    """

    task_type = "CAUSAL_LM"
    extra_keys = (*_GenerativeExecutor.extra_keys, "prompt_column")

    def labels(self, batch: Mapping[str, Any]) -> torch.Tensor:
        # A language model predicts its own input: labels are the input ids unless label_column says otherwise.
        if "label_column" in self.model_config:
            return super().labels(batch)
        labels = batch["input_ids"].clone()
        if "attention_mask" in batch:
            labels[batch["attention_mask"] == 0] = -100
        return labels

    def references(self, batch: Mapping[str, Any]) -> list[str] | None:
        column = self.model_config.get("target_text_column")
        return [str(t) for t in batch[column]] if column and column in batch else None

    def model_overrides(self) -> dict[str, Any]:
        out = super().model_overrides()
        out.update(self.scratch_token_ids("eos_token_id", "bos_token_id") or {})
        return out

    def _left_padded(self, ids: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        # Decoder-only models continue the last position: prompts are aligned to the right.
        if mask is None:
            mask = (ids != self.pad_token_id).long() if self.tokenizer is not None else torch.ones_like(ids)
        lengths = mask.sum(dim=1)
        width = int(lengths.max().item()) if len(lengths) else 0
        out_ids = torch.full((ids.shape[0], width), self.pad_token_id, dtype=ids.dtype, device=ids.device)
        out_mask = torch.zeros((ids.shape[0], width), dtype=mask.dtype, device=ids.device)
        for i, n in enumerate(lengths.tolist()):
            if n:
                out_ids[i, width - n :] = ids[i][mask[i].bool()]
                out_mask[i, width - n :] = 1
        return out_ids, out_mask

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        column = self.model_config.get("prompt_column", "input_ids")
        if column not in batch:
            raise ConfigError(
                f"the batch has no prompt column '{column}'{did_you_mean(column, list(batch))}",
                hint="set executor.model_config.prompt_column to the token ids of the prompts",
            )
        mask_column = column.replace("input_ids", "attention_mask")
        ids, mask = self._left_padded(batch[column], batch.get(mask_column))
        generated = self.inference_model().generate(input_ids=ids, attention_mask=mask, **self.generation_kwargs())
        return self.prediction_record(batch, self.decode(ids), self.decode(generated[:, ids.shape[1] :]))

    def embed_step(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Mean of the last hidden states over the real tokens: ``[B, hidden_size]``."""
        inputs = self.model_inputs(batch)
        out = self.inference_model()(**inputs, output_hidden_states=True)
        return self.mean_pool(out.hidden_states[-1], inputs.get("attention_mask"))
