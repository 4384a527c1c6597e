"""BaseExecutor: registry lookup, dataloaders from config, collate, configure_optimizers through a real Trainer."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.executors import (
    BaseExecutor,
    ClassificationExecutor,
    build_executor,
    default_collate,
    get_executor_class,
    register_executor,
)
from runway_for_ml.executors.base import wants_tokenizer
from runway_for_ml.experiment.datamodule import RunwayDataModule


@register_executor
class TinyRegressionExecutor(BaseExecutor):
    """A 2 -> 1 linear model; the smallest user executor."""

    def __init__(self, config, data=None, model_config=None, **init_kwargs):
        super().__init__(config, data, model_config, **init_kwargs)
        self.net = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.mse_loss(self.net(batch["x"]).squeeze(-1), batch["y"])
        self.log("train_loss", loss)
        return loss

    def predict_step(self, batch, batch_idx):
        return {"prediction": self.net(batch["x"]).squeeze(-1), "target": batch["y"]}


ROWS = [{"x": [float(i), 1.0], "y": 2.0 * i, "name": f"r{i}"} for i in range(10)]


def _config(**train):
    return {"meta": {"seed": 0}, "train": {"batch_size": 4, **train}, "test": {"batch_size": 5}, "executor": {}}


def test_registry_and_dotted_path_lookup():
    assert get_executor_class("TinyRegressionExecutor") is TinyRegressionExecutor
    assert get_executor_class("runway_for_ml.executors.ClassificationExecutor") is ClassificationExecutor
    with pytest.raises(
        RunwayError, match=r"unknown executor 'ClasificationExecutor'.*did you mean 'ClassificationExecutor'"
    ):
        get_executor_class("ClasificationExecutor")
    with pytest.raises(ConfigError, match="not a LightningModule"):
        get_executor_class("runway_for_ml.executors.default_collate")
    with pytest.raises(ConfigError, match="ExecutorClass is missing"):
        build_executor({"executor": {}})


def test_build_executor_passes_model_config_and_init_kwargs():
    config = {
        "executor": {"ExecutorClass": "TinyRegressionExecutor", "model_config": {"a": 1}, "init_kwargs": {"b": 2}}
    }
    executor = build_executor(config, {"train": ROWS})
    assert executor.model_config == {"a": 1}
    assert executor.init_kwargs == {"b": 2}
    assert executor.hparams["config"]["executor"]["init_kwargs"] == {"b": 2}
    assert executor.hparams["b"] == 2 and executor.hparams["model_config"] == {"a": 1}


def test_load_from_checkpoint_rebuilds_the_executor(tmp_path):
    config = {**_config(), "executor": {"ExecutorClass": "TinyRegressionExecutor", "init_kwargs": {"b": 2}}}
    executor = build_executor(config, {"train": ROWS})
    datamodule = RunwayDataModule(config, {"train": ROWS}, collate_fn=executor.collate_fn)
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(executor, datamodule=datamodule)
    trainer.save_checkpoint(tmp_path / "x.ckpt")
    loaded = TinyRegressionExecutor.load_from_checkpoint(tmp_path / "x.ckpt", data={"test": ROWS})
    assert loaded.init_kwargs == {"b": 2} and loaded.config["meta"]["seed"] == 0
    assert torch.equal(loaded.net.weight, executor.net.weight)
    assert len(loaded.data["test"]) == len(ROWS)


def test_collate_makes_tensors_of_numbers_and_keeps_strings():
    batch = default_collate(ROWS[:3])
    assert batch["x"].dtype == torch.float32 and batch["x"].shape == (3, 2)
    assert batch["y"].tolist() == [0.0, 2.0, 4.0]
    assert batch["name"] == ["r0", "r1", "r2"]
    ragged = default_collate([{"ids": [1, 2]}, {"ids": [3]}])
    assert ragged["ids"] == [[1, 2], [3]]
    assert default_collate([{"i": 1}, {"i": 2}])["i"].dtype == torch.int64


def test_configure_optimizers_through_trainer_uses_estimated_steps(tmp_path):
    optimizer_config = {
        "optimizer_name": "SGD",
        "optimizer_params": {"lr": 0.1},
        "scheduler": "linear",
        "scheduler_params": {"num_warmup_steps": 1},
    }
    config = _config(optimizer_config=optimizer_config)
    executor = TinyRegressionExecutor(config, {"train": ROWS})
    datamodule = RunwayDataModule(config, {"train": ROWS}, collate_fn=executor.collate_fn)
    seen = []

    class RecordLr(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    trainer = pl.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[RecordLr()],
    )
    trainer.fit(executor, datamodule=datamodule)
    assert isinstance(trainer.optimizers[0], torch.optim.SGD)
    # 10 rows / batch 4 = 3 steps per epoch, 6 in total: warm-up 1 step, then linear decay over 5.
    assert seen == pytest.approx([0.05, 0.1, 0.08, 0.06, 0.04, 0.02])
    outputs = trainer.predict(executor, dataloaders=datamodule.predict_dataloader("train"))
    assert [len(o["prediction"]) for o in outputs] == [5, 5]


def test_log_metrics_flattens_per_class_values():
    logged = {}

    class Capture(TinyRegressionExecutor):
        def log(self, name, value, **kwargs):
            logged[name] = value

    Capture(_config()).log_metrics({"f1": [0.5, 1.0], "acc": torch.tensor(0.75), "cm": [[1, 2], [3, 4]]}, prefix="val_")
    assert logged == {"val_f1_0": 0.5, "val_f1_1": 1.0, "val_acc": 0.75}


def test_wants_tokenizer_follows_kwargs_to_the_base_class():
    class WithTokenizer(BaseExecutor):
        def __init__(self, config, data=None, model_config=None, tokenizer=None, **kwargs):
            super().__init__(config, data, model_config, **kwargs)

    class PassesKwargsOn(WithTokenizer):  # like SequenceClassificationExecutor(config, data=None, **kwargs)
        def __init__(self, config, data=None, **kwargs):
            super().__init__(config, data, **kwargs)

    class Closed(WithTokenizer):
        def __init__(self, config, data=None, model_config=None):
            super().__init__(config, data, model_config)

    assert wants_tokenizer(WithTokenizer) and wants_tokenizer(PassesKwargsOn)
    assert not wants_tokenizer(Closed) and not wants_tokenizer(TinyRegressionExecutor)
