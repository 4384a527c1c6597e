"""RunwayDataModule (issue 16): splits, batch sizes, sampler, collate and tokenizer discovery apart from the model."""

from __future__ import annotations

import pytest
import torch

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.executors.prediction import predict_batches
from runway_for_ml.experiment.datamodule import RunwayDataModule, tokenizer_source
from runway_for_ml.pipeline.graph import PipelineGraph
from runway_for_ml.pipeline.tokenize import HFDatasetTokenizeTransform
from runway_for_ml.pipeline.transform import register_transform_functor

ROWS = [{"x": [float(i), 1.0], "y": 2.0 * i, "name": f"r{i}"} for i in range(10)]
DATA = {"train": ROWS, "validation": ROWS[:6], "test": ROWS[:7]}


def _dm(train: dict, test: dict | None = None, data: dict | None = None, seed: int = 0) -> RunwayDataModule:
    config = {"meta": {"seed": seed}, "train": train, "executor": {}}
    if test is not None:
        config["test"] = test
    return RunwayDataModule(config, DATA if data is None else data)


def test_each_loader_reads_its_own_batch_size() -> None:
    dm = _dm({"batch_size": 4, "val_batch_size": 3}, {"batch_size": 5})
    assert dm.train_dataloader().batch_size == 4
    assert dm.val_dataloader().batch_size == 3
    assert dm.test_dataloader().batch_size == 5
    assert dm.predict_dataloader().batch_size == 5
    assert dm.predict_dataloader(ROWS[:3], batch_size=2).batch_size == 2  # a dataset, this call's size


def test_validation_and_test_default_to_the_training_batch_size() -> None:
    dm = _dm({"batch_size": 4})
    assert dm.val_dataloader().batch_size == 4
    assert dm.test_dataloader().batch_size == 4
    bare = _dm({})  # no batch size anywhere: the one default of the typed config (train.batch_size = 32)
    assert bare.val_dataloader().batch_size == bare.predict_dataloader().batch_size == 32


def test_a_bad_val_batch_size_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"train.val_batch_size: expected an integer >= 1 or null, found 0"):
        _dm({"batch_size": 4, "val_batch_size": 0})


def test_split_aliases_missing_splits_and_seeded_shuffle() -> None:
    dm = _dm({"batch_size": 4}, data={"train": ROWS, "val": ROWS[:6], "test": ROWS[:7]})
    assert len(dm.val_dataloader().dataset) == 6  # "val" is accepted for "validation"
    assert _dm({}, data={"train": ROWS}).val_dataloader() == []  # no validation: Lightning skips it
    with pytest.raises(RunwayError, match=r"no 'tset' split.*did you mean 'test'.*available splits: test, train, val"):
        dm.loader("tset")

    def order(module: RunwayDataModule, epoch: int) -> list[str]:
        loader = module.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return [name for batch in loader for name in batch["name"]]

    again = _dm({"batch_size": 4}, data={"train": ROWS})
    assert order(dm, 0) == order(again, 0)
    assert order(dm, 0) != order(dm, 1)
    assert sorted(order(dm, 1)) == sorted(r["name"] for r in ROWS)
    assert order(_dm({"batch_size": 4}, data={"train": ROWS}, seed=1), 0) != order(dm, 0)


def test_the_loaders_batch_with_the_given_collate() -> None:
    dm = _dm({"batch_size": 4})
    assert dm.train_dataloader().collate_fn([ROWS[0]])["x"].dtype == torch.float32  # default_collate
    dm.collate_fn = lambda rows: {"n": len(rows)}
    assert next(iter(dm.test_dataloader())) == {"n": 4}


class _Doubler(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(2, 3)

    def on_predict_start(self) -> None: ...

    def on_predict_end(self) -> None: ...

    def predict_step(self, batch, batch_idx):
        return {"prediction": self.net(batch["x"]).argmax(-1), "grad": torch.is_grad_enabled()}

    def embed_step(self, batch):
        return self.net(batch["x"])


def test_one_prediction_function_restores_the_mode_and_gives_embeddings() -> None:
    model = _Doubler().train()
    loader = _dm({"batch_size": 4}).predict_dataloader("test")
    outs = list(predict_batches(model, loader, embed=True))
    assert [len(o["prediction"]) for o in outs] == [4, 3]
    assert [o["embedding"].shape for o in outs] == [(4, 3), (3, 3)]
    assert not any(o["grad"] for o in outs) and model.training  # no gradients; train mode restored


@register_transform_functor
class _TokenizeForTest(HFDatasetTokenizeTransform):
    """A subclass under another name: found by its class, not by the transform name."""


def _tokenizer_config(tokenize: dict) -> dict:
    return {
        "executor": {"model_config": {}},
        "train": {"data_node": "output:Tokenize"},
        "data_pipeline": {
            "transforms": {
                "input:Load": {"transform_name": "LoadSklearnDigits"},
                "process:Tokenizer": {"transform_name": "LoadSklearnDigits"},
                "output:Tokenize": tokenize,
            }
        },
    }


def test_the_tokenizer_is_found_upstream_of_the_training_data_by_transform_class(tmp_path) -> None:
    cfg = _tokenizer_config(
        {
            "transform_name": "_TokenizeForTest",
            "input_node": ["input:Load", "process:Tokenizer"],
            "setup_kwargs": {"tokenize_fields_list": ["text"]},
        }
    )
    graph = PipelineGraph.from_config(cfg["data_pipeline"])
    assert [n.id for n in graph.upstream(["output:Tokenize"], HFDatasetTokenizeTransform)] == ["output:Tokenize"]
    assert [n.id for n in graph.upstream(["output:Tokenize"])] == ["output:Tokenize", "input:Load", "process:Tokenizer"]
    assert tokenizer_source(cfg) == ("node", "process:Tokenizer")
    cfg = _tokenizer_config(
        {
            "transform_name": "_TokenizeForTest",
            "input_node": "input:Load",
            "setup_kwargs": {"tokenize_fields_list": ["text"], "tokenizer_config": {"version_name": str(tmp_path)}},
        }
    )
    assert tokenizer_source(cfg) == ("config", {"version_name": str(tmp_path)})
    cfg["executor"]["model_config"] = {"tokenizer_node": "process:Tokenizer"}  # the explicit key wins
    assert tokenizer_source(cfg) == ("node", "process:Tokenizer")
    cfg = _tokenizer_config(
        {"transform_name": "SelectColumns", "input_node": "input:Load", "setup_kwargs": {"columns": ["label"]}}
    )
    assert tokenizer_source(cfg) is None
