"""``runway migrate``: the data_pipeline section of an original config (nodes, loaders, the pre-DAG format)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runway_for_ml.config.migrate_rules import COMPAT_TRANSFORMS, WHY, MigratorBase

__all__ = ["DataPipelineSection"]


class DataPipelineSection(MigratorBase):
    """data_pipeline: its nodes (LoadHFDataset, the original's compat transforms), out_ops and loader settings."""

    def data_pipeline(self, key: str, dp: Any) -> None:
        if not isinstance(dp, Mapping):
            self.step("dropped", key, None, f"expected an object, found {dp!r}")
            return
        known = self._known("data_pipeline")
        for k, v in dp.items():
            path = f"data_pipeline.{k}"
            if k == "transforms" and isinstance(v, Mapping) and _is_pre_dag(v):
                self.pre_dag_transforms(path, v)
            elif k == "transforms" and isinstance(v, Mapping):
                for node, spec in v.items():
                    self.node(node, spec)
            elif k == "in_features":
                self.in_features(path, v)
            elif k == "dataloader_args":
                self.dataloader_args(path, v)
            elif k == "dataloaders_use_features":
                self.step(
                    "dropped",
                    path,
                    None,
                    "the executor receives every column of train.data_node's splits; to pass only these "
                    "columns, end the pipeline with a SelectColumns node {columns: [...]}",
                )
            elif k == "out_ops":
                self.out_ops(path, v)
            elif k in WHY and k not in known:
                self.step("dropped", path, None, WHY[k])
            elif k in known:
                self.keep(path, v)
            else:
                self.step("dropped", path, None, f"data_pipeline accepts {', '.join(sorted(known))}")

    def out_ops(self, path: str, value: Any) -> None:
        nodes = [value] if isinstance(value, str) else list(value or [])
        why = "`runway prepare` runs every output: node; the executor's input is train.data_node"
        if len(nodes) == 1 and "data_node" not in (self.old.get("train") or {}) and not self._use_data_node():
            self.move(path, "train.data_node", nodes[0], why, action="converted")
        else:
            self.step("dropped", path, None, why)

    def _use_data_node(self) -> Any:
        executor = self.old.get("executor") or {}
        return (executor.get("init_kwargs") or {}).get("use_data_node") if isinstance(executor, Mapping) else None

    def node(self, node: str, spec: Any) -> None:
        base = f"data_pipeline.transforms.{node}"
        if not isinstance(spec, Mapping):
            self.keep(base, spec)
            return
        spec = dict(spec)
        known = self._known("data_pipeline.transforms.*")
        out: dict[str, Any] = {}
        for k, v in spec.items():
            if k in known:
                out[k] = v
            else:
                self.step("dropped", f"{base}.{k}", None, f"a node accepts {', '.join(sorted(known))}")
        name = out.get("transform_name")
        kwargs = dict(out.get("setup_kwargs") or {})
        if name == "LoadHFDataset":
            kwargs = self.load_hf_dataset(base, kwargs)
        if name in _COMPAT_NODES:
            out["transform_name"] = f"{COMPAT_TRANSFORMS}.{name}"
            self.step("converted", f"{base}.transform_name", f"{base}.transform_name", _COMPAT_NODES[name])
        if name in ("SplitHFDatasetToTrainTestValidation", f"{COMPAT_TRANSFORMS}.SplitHFDatasetToTrainTestValidation"):
            self.split_seed(base, kwargs)
        if name == "HFDatasetTokenizeTransform" and isinstance(kwargs.get("tokenizer_config"), Mapping):
            kwargs["tokenizer_config"] = self.clean_tokenizer_config(
                f"{base}.setup_kwargs.tokenizer_config", kwargs["tokenizer_config"]
            )
        if "setup_kwargs" in out or kwargs:
            out["setup_kwargs"] = kwargs
        if name == "InsertBreakpoint":
            self.step(
                "todo",
                f"{base}.transform_name",
                None,
                "'InsertBreakpoint' stopped the original pipeline for a debugger: remove the node "
                "(use `runway dag` / inspect: true to look at a node's data)",
            )
        self.keep(base, out)

    def load_hf_dataset(self, base: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The original loaded ``load_dataset(f"{dataset_path}/{dataset_name}")``; here they are (path, config)."""
        where = f"{base}.setup_kwargs"
        name = kwargs.get("dataset_name")
        if "dataset_name" in kwargs and "dataset_path" in kwargs and kwargs["dataset_path"]:
            path = kwargs.pop("dataset_path")
            kwargs.pop("dataset_name")
            joined = f"{path}/{name}"
            kwargs = {"dataset_path": joined, **kwargs}
            why = (
                f"the original loaded load_dataset('{joined}') (dataset_path/dataset_name); here dataset_path "
                f"with dataset_name would mean load_dataset('{path}', '{name}'), another dataset"
            )
            self.step("converted", f"{where}.dataset_path", f"{where}.dataset_path", why)
            self.step("converted", f"{where}.dataset_name", f"{where}.dataset_path", why)
        elif "dataset_name" in kwargs:
            kwargs.pop("dataset_name")
            kwargs.pop("dataset_path", None)  # null or empty: the original ignored it
            kwargs = {"dataset_path": name, **kwargs}
            self.step(
                "renamed",
                f"{where}.dataset_name",
                f"{where}.dataset_path",
                f"the original loaded load_dataset('{name}'); here dataset_name is a hub config name",
            )
        if "fields" in kwargs:
            kwargs.pop("fields")
            self.step(
                "dropped", f"{where}.fields", None, "the original never used it (select columns with SelectColumns)"
            )
        return kwargs

    def split_seed(self, base: str, kwargs: Mapping[str, Any]) -> None:
        split_kwargs = kwargs.get("train_test_split_kwargs") or {}
        if isinstance(split_kwargs, Mapping) and split_kwargs.get("shuffle", True) and "seed" not in split_kwargs:
            self.step(
                "note",
                f"{base}.setup_kwargs.train_test_split_kwargs",
                None,
                "no seed: the original drew the rows from numpy's global random state at that moment; here the node "
                "is seeded from meta.seed and its name (the same rows on every run, not necessarily the original's); "
                "set train_test_split_kwargs.seed to choose them",
            )

    # ----------------------------------------------------------------- the pre-DAG pipeline format
    def pre_dag_transforms(self, path: str, transforms: Mapping[str, Any]) -> None:
        for split, steps in transforms.items():
            names = [s.get("name") for s in steps if isinstance(s, Mapping)] if isinstance(steps, list) else []
            self.step(
                "todo",
                f"{path}.{split}",
                None,
                f"not convertible: the pre-DAG format (a list of feature transforms per split: {names}) "
                "maps features (use_features -> out_features) that feature loaders produced, and the original "
                "itself replaced it by nodes 'role:name' (its DataPipeline reads only those); write the steps "
                "as nodes: {'input:Load': {transform_name, setup_kwargs}, 'process:X': {input_node: "
                "'input:Load', transform_name, ...}} and set train.data_node to the last one",
            )

    def in_features(self, path: str, value: Any) -> None:
        for i, feature in enumerate(value if isinstance(value, list) else [value]):
            loader = feature.get("feature_loader") if isinstance(feature, Mapping) else None
            loader_name = loader.get("name") if isinstance(loader, Mapping) else None
            self.step(
                "todo",
                f"{path}.{i}" if isinstance(value, list) else path,
                None,
                f"not convertible: feature loader {loader_name!r} fed the pre-DAG pipeline; here data comes "
                f"from an input: node: register {loader_name or 'the loader'} as a transform in data_processing/ "
                "(@register_transform_functor, its kwargs as setup_kwargs) and name it in an 'input:...' node",
            )

    def dataloader_args(self, path: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            self.step("dropped", path, None, f"expected an object per split, found {value!r}")
            return
        targets = {"train": "train.batch_size", "valid": "train.val_batch_size", "validation": "train.val_batch_size"}
        for split, args in value.items():
            if not isinstance(args, Mapping):
                self.step("dropped", f"{path}.{split}", None, f"expected an object, found {args!r}")
                continue
            for k, v in args.items():
                key = f"{path}.{split}.{k}"
                if k == "batch_size":
                    target = targets.get(split, "test.batch_size")
                    why = "the batch size of the " + ("training" if split == "train" else split) + " loader"
                    self.move(key, target, v, why, action="renamed")
                elif k == "num_workers":
                    self.move(key, "train.dataloader_workers", v, "the loaders' worker processes", action="renamed")
                elif k == "shuffle" and bool(v) == (split == "train"):
                    self.step("dropped", key, None, "the same here: the training loader shuffles, the others do not")
                elif k == "shuffle" and split == "train":
                    self.step(
                        "todo",
                        key,
                        None,
                        "the training loader always shuffles here; an executor that must "
                        "not shuffle overrides train_dataloader()",
                    )
                elif k == "shuffle":
                    self.step(
                        "dropped",
                        key,
                        None,
                        "evaluation loaders do not shuffle here (the order does not change a metric)",
                    )
                elif k == "sampler" and v is None:
                    self.step("dropped", key, None, "no sampler is the default")
                else:
                    self.step(
                        "todo",
                        key,
                        None,
                        f"not a setting here: an executor that needs DataLoader({k}=...) "
                        "overrides its *_dataloader() methods",
                    )

    def clean_tokenizer_config(self, path: str, tok: Any) -> Any:
        """Drop the original's Dataset.map options from ``tokenize_kwargs`` (runway always maps in batches)."""
        if not isinstance(tok, Mapping) or not isinstance(tok.get("tokenize_kwargs"), Mapping):
            return tok
        tok = dict(tok)
        tk = dict(tok["tokenize_kwargs"])
        for k in ("batched", "load_from_cache_file", "num_proc"):
            if k in tk:
                tk.pop(k)
                self.step(
                    "dropped",
                    f"{path}.tokenize_kwargs.{k}",
                    None,
                    "runway always maps in batches, without datasets' cache",
                )
        tok["tokenize_kwargs"] = tk
        return tok


def _is_pre_dag(transforms: Mapping[str, Any]) -> bool:
    """True for the original's first format: ``transforms: {train: [...], test: [...]}`` (no ``role:name`` nodes)."""
    return any(isinstance(v, list) for v in transforms.values())


# Original transforms kept with their behaviour, named by dotted path (see data_module.data_transforms).
_COMPAT_NODES = {
    "SplitHFDatasetToTrainTestValidation": "the original's two-step split, same rows in the same splits "
    "(SplitHFDataset, the native split, cuts differently); its setup_kwargs are unchanged",
    "DummyTransform": "the original's pass-through transform, named by its path here",
}
