"""Executors: Lightning modules configured from the runway config.

``BaseExecutor`` is the class to derive from; ``register_executor`` makes a subclass selectable by
``executor.ExecutorClass``; ``ClassificationExecutor`` is a ready-made MLP/CNN classifier.

>>> from runway_for_ml.executors import get_executor_class
>>> get_executor_class("ClassificationExecutor").__name__
'ClassificationExecutor'
"""

from runway_for_ml.executors.base import (
    EXECUTORS,
    BaseExecutor,
    build_executor,
    default_collate,
    get_executor_class,
    register_executor,
)
from runway_for_ml.executors.classification import ClassificationExecutor
from runway_for_ml.executors.optim import build_optimizer, build_scheduler
from runway_for_ml.executors.text import CausalLMExecutor, Seq2SeqExecutor, SequenceClassificationExecutor

__all__ = [
    "EXECUTORS",
    "BaseExecutor",
    "CausalLMExecutor",
    "ClassificationExecutor",
    "Seq2SeqExecutor",
    "SequenceClassificationExecutor",
    "build_executor",
    "build_optimizer",
    "build_scheduler",
    "default_collate",
    "get_executor_class",
    "register_executor",
]
