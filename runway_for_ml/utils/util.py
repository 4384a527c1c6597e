"""The original ``runway_for_ml.utils.util`` path.

``get_tokenizer(tokenizer_config)`` loads the tokenizer a ``tokenizer_config`` describes
(``class_name``, ``version_name``, ``from_pretrained_kwargs``, ``additional_tokens``), as before;
``batch_depad`` raises an ImportError (no equivalent here).
"""

from typing import Any

from runway_for_ml.original_paths import module_getattr
from runway_for_ml.pipeline.tokenize import load_tokenizer as get_tokenizer

__all__ = ["get_tokenizer"]


def __getattr__(name: str) -> Any:
    return module_getattr(__name__, name)
