"""``embed_step``: the penultimate layer by default (BaseExecutor), and in ClassificationExecutor."""

from __future__ import annotations

import pytest
import torch

from runway_for_ml.errors import RunwayError
from runway_for_ml.executors import BaseExecutor, build_executor


class TwoLayer(BaseExecutor):
    def __init__(self, config, data=None, model_config=None, **init_kwargs):
        super().__init__(config, data, model_config, **init_kwargs)
        self.hidden = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
        self.head = torch.nn.Linear(3, 2)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return {"prediction": self.head(self.hidden(batch["x"])).argmax(-1)}


class NoLinear(BaseExecutor):
    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return {"prediction": batch["x"].sum(-1)}


def test_default_embed_step_is_the_input_of_the_last_linear_layer() -> None:
    torch.manual_seed(0)
    executor = TwoLayer({"meta": {"seed": 0}})
    x = torch.randn(5, 4)
    vectors = executor.embed_step({"x": x})
    torch.testing.assert_close(vectors, executor.hidden(x))
    # The hook is removed afterwards: a second call gives the same, not two captures.
    torch.testing.assert_close(executor.embed_step({"x": x}), vectors)
    assert not executor.head._forward_pre_hooks


def test_default_embed_step_without_a_linear_layer_says_to_override_it() -> None:
    with pytest.raises(RunwayError, match="override embed_step"):
        NoLinear({"meta": {"seed": 0}}).embed_step({"x": torch.ones(2, 3)})


def test_classification_executor_embeds_with_its_last_hidden_layer() -> None:
    config = {
        "meta": {"seed": 0},
        "executor": {
            "ExecutorClass": "ClassificationExecutor",
            "model_config": {"input_dim": 64, "hidden_dims": [32, 8], "num_classes": 10, "dropout": 0.5},
        },
    }
    executor = build_executor(config).eval()
    batch = {"pixels": torch.randn(6, 64)}
    vectors = executor.embed_step(batch)
    assert vectors.shape == (6, 8)
    assert (vectors >= 0).all()  # after the last hidden ReLU
    # The same as the generic default (the input of the final nn.Linear).
    torch.testing.assert_close(vectors, BaseExecutor.embed_step(executor, batch))
