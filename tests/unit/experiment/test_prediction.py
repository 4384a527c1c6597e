"""predict_rows (issue 16): the one prediction loop over a split or a dataset, nothing swapped into the executor."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from runway_for_ml.executors import BaseExecutor
from runway_for_ml.experiment.datamodule import RunwayDataModule
from runway_for_ml.experiment.prediction import LoadedModel, predict_rows

ROWS = [{"x": [float(i), 1.0], "y": i % 2} for i in range(9)]
CONFIG = {
    "meta": {"seed": 0},
    "train": {"batch_size": 4, "trainer_paras": {"enable_progress_bar": False}},
    "test": {"batch_size": 4},
    "executor": {},
}


class Linear(BaseExecutor):
    def __init__(self, config, data=None, model_config=None, **init_kwargs):
        super().__init__(config, data, model_config, **init_kwargs)
        self.net = torch.nn.Linear(2, 2)

    def predict_step(self, batch, batch_idx):
        return {
            "prediction": self.net(batch["x"]).argmax(-1),
            "target": batch["y"],
            "rows": [len(batch["y"])] * len(batch["y"]),
        }


class OwnLoader(Linear):
    """Written before the data module: its own predict_dataloader(split) over self.data."""

    def predict_dataloader(self, split="test"):
        return DataLoader(self.data[split], batch_size=2, collate_fn=self.collate_fn)


def _model(cls: type) -> LoadedModel:
    executor = cls(CONFIG, {"test": ROWS})
    return LoadedModel(executor, RunwayDataModule(CONFIG, {"test": ROWS}, collate_fn=executor.collate_fn))


def test_a_split_and_the_same_rows_as_a_dataset_give_the_same_predictions() -> None:
    model = _model(Linear)
    data, config = model.executor.data, repr(model.executor.config)
    by_name = predict_rows(model, "test").rows
    given = predict_rows(model, ROWS[:5], batch_size=2).rows
    assert [r["index"] for r in by_name] == list(range(9)) and by_name[0]["rows"] == 4  # test.batch_size
    assert [r["prediction"] for r in given] == [r["prediction"] for r in by_name[:5]] and given[0]["rows"] == 2
    assert model.executor.data is data and repr(model.executor.config) == config  # nothing swapped
    assert model.executor.training  # eval mode only during the call


def test_an_executor_with_its_own_predict_dataloader_keeps_it_for_split_names() -> None:
    model = _model(OwnLoader)
    assert predict_rows(model, "test").rows[0]["rows"] == 2  # its loader's batch size, not test.batch_size
    assert predict_rows(model, ROWS[:4]).rows[0]["rows"] == 4  # a dataset: the data module's loader
