"""Training a tokenizer on the project's own text: the built-in ``TrainTokenizer`` transform.

A WordPiece (BERT-style), BPE or Unigram (T5/SentencePiece-style) tokenizer is trained with the
``tokenizers`` library on text columns of one split and returned as a
``transformers.PreTrainedTokenizerFast``: ``tokenizer.save_pretrained(folder)`` writes a folder that
``AutoTokenizer.from_pretrained(folder)`` loads. Its output is a cached node like any other, so the
tokenizer is versioned with the data it was trained on.

    "process:TrainTokenizer": {
      input_node: "process:Split",
      transform_name: "TrainTokenizer",
      setup_kwargs: { model: "wordpiece", vocab_size: 8000, text_columns: ["review"], split: "train" },
    },
    "process:Tokenize": {
      input_node: ["process:Split", "process:TrainTokenizer"],
      transform_name: "HFDatasetTokenizeTransform",
      ...
    }

Special tokens: WordPiece uses ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4) and adds ``[CLS] ... [SEP]``
around a sequence; BPE and Unigram use ``<pad> </s> <unk>`` (ids 0-2, the T5 layout) and append ``</s>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.pipeline.datatypes import is_dataset, is_dataset_dict
from runway_for_ml.pipeline.transform import BaseTransform, register_transform_functor

__all__ = ["MODELS", "TrainTokenizer"]

MODELS = ("wordpiece", "bpe", "unigram")
_TEMPLATES = ("auto", "bert", "eos", "none")


@register_transform_functor
class TrainTokenizer(BaseTransform):
    """Train a WordPiece / BPE / Unigram tokenizer on text columns of one split.

    setup_kwargs:
        model: ``wordpiece`` | ``bpe`` | ``unigram`` (default wordpiece).
        vocab_size: target vocabulary size, special tokens included (default 8000).
        text_columns: column(s) whose text is used (default ``["text"]``).
        split: the split trained on when the input is a ``DatasetDict`` (default ``train``).
        min_frequency: WordPiece/BPE: drop rarer pieces (default 2).
        lowercase: lower-case the text first (default true).
        template: ``bert`` ([CLS] x [SEP]), ``eos`` (x </s>), ``none``; ``auto``: bert for wordpiece,
            eos otherwise.
        model_max_length: the tokenizer's ``model_max_length`` (default 512).
        max_rows: train on the first rows only (default: all).
    """

    VERSION = "1"

    def setup(
        self,
        model: str = "wordpiece",
        vocab_size: int = 8000,
        text_columns: Sequence[str] | str = ("text",),
        split: str = "train",
        min_frequency: int = 2,
        lowercase: bool = True,
        template: str = "auto",
        model_max_length: int = 512,
        max_rows: int | None = None,
    ) -> None:
        model = str(model).lower()
        if model not in MODELS:
            raise RunwayError(
                f"model: unknown tokenizer model '{model}'{did_you_mean(model, MODELS)}; use one of {', '.join(MODELS)}"
            )
        if template not in _TEMPLATES:
            raise RunwayError(
                f"template: unknown '{template}'{did_you_mean(template, _TEMPLATES)}; use one of {', '.join(_TEMPLATES)}"
            )
        if int(vocab_size) < 10:
            raise RunwayError(f"vocab_size must be at least 10, got {vocab_size}")
        self.model = model
        self.vocab_size = int(vocab_size)
        self.text_columns = [text_columns] if isinstance(text_columns, str) else list(text_columns)
        if not self.text_columns:
            raise RunwayError("text_columns is empty: name the column(s) holding the training text")
        self.split = split
        self.min_frequency = int(min_frequency)
        self.lowercase = bool(lowercase)
        self.template = ("bert" if model == "wordpiece" else "eos") if template == "auto" else template
        self.model_max_length = int(model_max_length)
        self.max_rows = max_rows

    def _check_input(self, data: Any) -> None:
        if is_dataset_dict(data):
            if self.split not in data:
                raise RunwayError(
                    f"split '{self.split}' is not a split of the input{did_you_mean(self.split, list(data))}; "
                    f"splits: {', '.join(data)}"
                )
            columns = data[self.split].column_names
        elif is_dataset(data):
            columns = data.column_names
        else:
            raise RunwayError(f"TrainTokenizer expects a Dataset or DatasetDict, got {type(data).__name__}")
        missing = [c for c in self.text_columns if c not in columns]
        if missing:
            raise RunwayError(
                f"text_columns names '{missing[0]}', which is not a column{did_you_mean(missing[0], columns)}; "
                f"the columns are: {', '.join(columns)}"
            )

    def _texts(self, ds: Any) -> Iterator[list[str]]:
        if self.max_rows is not None:
            ds = ds.select(range(min(int(self.max_rows), len(ds))))
        for batch in ds.select_columns(self.text_columns).iter(batch_size=1000):
            for column in self.text_columns:
                yield [t for t in batch[column] if t]

    def _call(self, data: Any) -> Any:
        from transformers import PreTrainedTokenizerFast

        ds = data[self.split] if is_dataset_dict(data) else data
        tok, trainer, specials = self._untrained()
        tok.train_from_iterator(self._texts(ds), trainer=trainer)
        self._add_template(tok, specials)
        names = {
            "pad": "pad_token",
            "unk": "unk_token",
            "cls": "cls_token",
            "sep": "sep_token",
            "mask": "mask_token",
            "eos": "eos_token",
        }
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            model_max_length=self.model_max_length,
            **{names[k]: v for k, v in specials.items()},
        )

    def _untrained(self) -> tuple[Any, Any, dict[str, str]]:
        """The empty tokenizer of ``model``, its trainer and its special tokens by role."""
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        if self.model == "wordpiece":
            specials = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
            tok = Tokenizer(models.WordPiece(unk_token=specials["unk"]))
            tok.normalizer = normalizers.BertNormalizer(lowercase=self.lowercase)
            tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            tok.decoder = decoders.WordPiece()
            trainer = trainers.WordPieceTrainer(
                vocab_size=self.vocab_size,
                min_frequency=self.min_frequency,
                special_tokens=list(specials.values()),
                show_progress=False,
            )
        else:
            specials = {"pad": "<pad>", "eos": "</s>", "unk": "<unk>"}
            norm = [normalizers.NFKC()] + ([normalizers.Lowercase()] if self.lowercase else [])
            if self.model == "bpe":
                tok = Tokenizer(models.BPE(unk_token=specials["unk"]))
                trainer = trainers.BpeTrainer(
                    vocab_size=self.vocab_size,
                    min_frequency=self.min_frequency,
                    special_tokens=list(specials.values()),
                    show_progress=False,
                )
            else:
                tok = Tokenizer(models.Unigram())
                trainer = trainers.UnigramTrainer(
                    vocab_size=self.vocab_size,
                    special_tokens=list(specials.values()),
                    unk_token=specials["unk"],
                    show_progress=False,
                )
            tok.normalizer = normalizers.Sequence(norm)
            tok.pre_tokenizer = pre_tokenizers.Metaspace()
            tok.decoder = decoders.Metaspace()
        return tok, trainer, specials

    def _add_template(self, tok: Any, specials: dict[str, str]) -> None:
        """The post-processor of ``template``: [CLS] A [SEP] (bert), A </s> (eos) or none."""
        from tokenizers import processors

        if self.template == "bert":
            cls_token, sep_token = specials.get("cls", "[CLS]"), specials.get("sep", "[SEP]")
            self._need_tokens(tok, [cls_token, sep_token])
            tok.post_processor = processors.TemplateProcessing(
                single=f"{cls_token} $A {sep_token}",
                pair=f"{cls_token} $A {sep_token} $B:1 {sep_token}:1",
                special_tokens=[(cls_token, tok.token_to_id(cls_token)), (sep_token, tok.token_to_id(sep_token))],
            )
        elif self.template == "eos":
            eos = specials.get("eos", specials.get("sep"))
            self._need_tokens(tok, [eos])
            tok.post_processor = processors.TemplateProcessing(
                single=f"$A {eos}", pair=f"$A {eos} $B:1 {eos}:1", special_tokens=[(eos, tok.token_to_id(eos))]
            )

    @staticmethod
    def _need_tokens(tok: Any, tokens: list[str]) -> None:
        missing = [t for t in tokens if tok.token_to_id(t) is None]
        if missing:
            raise RunwayError(f"the trained vocabulary lacks the special token(s) {missing}; raise vocab_size")
