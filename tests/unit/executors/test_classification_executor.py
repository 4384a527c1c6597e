"""ClassificationExecutor trains reproducibly, resumes exactly and predicts per-sample dicts.

The accuracy it reaches on digits is checked in tests/integration/test_classification_accuracy.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from runway_for_ml.errors import ConfigError
from runway_for_ml.executors import ClassificationExecutor, build_executor
from runway_for_ml.experiment.datamodule import RunwayDataModule


def test_same_seed_gives_identical_weights_and_other_seed_does_not(digits, make_config, fit_executor, tmp_path):
    small = {split: ds.select(range(128)) for split, ds in digits.items()}
    a, _ = fit_executor(make_config("mlp", seed=7), small, epochs=2, tmp_path=tmp_path)
    b, _ = fit_executor(make_config("mlp", seed=7), small, epochs=2, tmp_path=tmp_path)
    c, _ = fit_executor(make_config("mlp", seed=8), small, epochs=2, tmp_path=tmp_path)
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(wa, wb), name
    assert not torch.equal(a.net[0].weight, c.net[0].weight)


def test_resume_from_epoch_checkpoint_matches_uninterrupted_run(digits, make_config, fit_executor, tmp_path):
    small = {split: ds.select(range(96)) for split, ds in digits.items()}
    config = make_config("mlp", seed=3)
    full, _ = fit_executor(config, small, epochs=3, tmp_path=tmp_path / "full")

    class StopAfterTwoEpochs(pl.Callback):  # an interruption after epoch 2 of the same 3-epoch run
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch == 1:
                trainer.should_stop = True

    _, trainer = fit_executor(config, small, epochs=3, tmp_path=tmp_path / "part", callbacks=[StopAfterTwoEpochs()])
    assert trainer.current_epoch == 2
    ckpt = tmp_path / "part.ckpt"
    trainer.save_checkpoint(ckpt)
    # A fresh process would re-seed with some other state; the executor re-seeds every step anyway.
    torch.manual_seed(12345)
    resumed = build_executor(config, small)
    pl.Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        deterministic=True,
        default_root_dir=tmp_path / "resumed",
    ).fit(resumed, datamodule=RunwayDataModule(config, small, collate_fn=resumed.collate_fn), ckpt_path=ckpt)
    for (name, w_full), w_resumed in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(w_full, w_resumed), name


def test_predict_without_labels_and_bad_columns():
    executor = ClassificationExecutor(
        {"meta": {"seed": 0}}, model_config={"input_dim": 4, "num_classes": 3, "hidden_dims": []}
    )
    out = executor.predict_step({"pixels": torch.zeros(5, 4)}, 0)
    assert set(out) == {"prediction", "probabilities"}
    assert out["probabilities"].shape == (5, 3)
    with pytest.raises(ConfigError, match=r"no column 'label'.*did you mean 'labels'"):
        executor.training_step({"pixels": torch.zeros(2, 4), "labels": torch.zeros(2)}, 0)


def test_model_config_errors():
    with pytest.raises(ConfigError, match=r"executor.model_config.model: unknown model 'cnm'.*did you mean 'cnn'"):
        ClassificationExecutor({}, model_config={"model": "cnm"})
    with pytest.raises(ConfigError, match=r"executor.model_config.hiden_dims.*did you mean 'hidden_dims'"):
        ClassificationExecutor({}, model_config={"hiden_dims": [3]})
    with pytest.raises(ConfigError, match="not an even square"):
        ClassificationExecutor({}, model_config={"model": "cnn", "input_dim": 10})


def test_cnn_input_shape():
    executor = ClassificationExecutor({}, model_config={"model": "cnn", "input_dim": 64, "num_classes": 10})
    assert executor(torch.from_numpy(np.zeros((3, 64), dtype=np.float32))).shape == (3, 10)
