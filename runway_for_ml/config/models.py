"""The typed config: one pydantic model per framework section, each key with its type, range, default and doc.

``SECTION_MODELS`` is the one table of the framework's top-level sections (``meta``, ``data_pipeline``,
``executor``, ``train``, ``test``, ``eval``, ``slurm``, ``serve``). A later capability adds its own
section with :func:`register_section`; the config loader, ``runway config --schema`` and
``docs/config-reference.md`` pick it up from there::

    class SearchSection(SectionModel):
        trials: int = Field(20, ge=1, description="how many trials to run")

    register_section("search", SearchSection)

Sections marked ``extra="forbid"`` (the default of :class:`SectionModel`) refuse unknown keys with the
key path and a did-you-mean; :class:`PassThrough` sections (``train.trainer_paras``, ...) type-check the
keys runway knows and hand every other key unchanged to Lightning or the user's code. ``user`` is
free-form. Cross-section defaults (``train.val_batch_size`` and ``test.batch_size`` default to
``train.batch_size``) are filled by the root model (:mod:`runway_for_ml.config.schema`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_CACHE_DIR",
    "FREE_TOP_LEVEL",
    "SECTIONS",
    "SECTION_MODELS",
    "DataPipelineSection",
    "EvalSection",
    "ExecutorSection",
    "MetaSection",
    "NodeSection",
    "PassThrough",
    "SectionModel",
    "ServeSection",
    "SlurmSection",
    "TestSection",
    "TrainSection",
    "register_section",
]

DEFAULT_CACHE_DIR = "local_cache"


class SectionModel(BaseModel):
    """A framework section: unknown keys refused, values strictly typed (``true`` is not an integer)."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)


class PassThrough(BaseModel):
    """A section handed on to a library or user code: the keys runway knows are typed, others pass unchanged."""

    model_config = ConfigDict(extra="allow", strict=True, validate_default=False)


def _int(default: Any, ge: int | None, doc: str, **kw: Any) -> Any:
    return Field(default, ge=ge, description=doc, **kw)


_FRACTION_OR_COUNT = {"x-expected": "a fraction between 0.0 and 1.0 or a whole number of batches >= 0"}
#: A whole number of batches (>= 0) or a fraction of them (0.0 .. 1.0).
FractionOrCount = Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0, le=1)]
#: A number >= 0 / between 0 and 1 (an integer is a number too).
NonNegative = Annotated[int, Field(ge=0)] | Annotated[float, Field(ge=0)]
Ratio = Annotated[int, Field(ge=0, le=1)] | Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[int, Field(gt=0)] | Annotated[float, Field(gt=0)]


# ----------------------------------------------------------------------------- meta


class MetaSection(SectionModel):
    """``meta``: the experiment's name, seed, cache folder, loggers, user modules and launcher."""

    name: str | None = Field(None, description="a name for the experiment shown in logs (default: the file's name)")
    description: str | None = Field(None, description="free text describing the experiment")
    seed: int | None = Field(
        None, description="seed of training (null: 0) and of the pipeline's random transforms (null: unseeded)"
    )
    default_cache_dir: str = Field(
        DEFAULT_CACHE_DIR, description="the pipeline cache folder; a relative path is relative to the project root"
    )
    use_dummy_data: bool = Field(False, description="run the pipeline on the first dummy_data_rows rows only")
    dummy_data_rows: int = _int(100, 1, "rows kept per split when use_dummy_data is true")
    logger_enable: list[str] = Field(
        ["csv"], description="loggers of a training run: csv, tensorboard, wandb, mlflow (or your own registered ones)"
    )
    wandb: dict[str, Any] | None = Field(
        None, description="Weights & Biases settings (project, entity, mode, tags, ...; see docs/experiments.md)"
    )
    mlflow: dict[str, Any] | None = Field(
        None, description="MLflow settings (tracking_uri, experiment_name, tags, artifact_location; docs/loggers.md)"
    )
    user_modules: list[str] = Field([], description="extra Python modules to import (their @register_* run)")
    launcher: Literal["local", "slurm"] = Field("local", description="where runway-train/run/infer run by default")


# ----------------------------------------------------------------------------- data_pipeline


class NodeSection(SectionModel):
    """One node of the pipeline DAG (``data_pipeline.transforms.'role:name'``)."""

    transform_name: str = Field(description="a registered transform name or a dotted path to a transform class")
    setup_kwargs: dict[str, Any] | None = Field(None, description="keyword arguments of the transform's setup()")
    input_node: str | list[str] | None = Field(None, description="the node(s) whose output feeds this one")
    regenerate: bool = Field(False, description="recompute this node even when its output is cached")
    cache: bool = Field(True, description="keep this node's output in the cache")
    inspect: bool = Field(False, description="print a summary of this node's output when it is produced")
    description: str | None = Field(None, description="free text describing the node")


class DataPipelineSection(SectionModel):
    """``data_pipeline``: the DAG of data transforms, cached per node (docs/pipeline.md)."""

    name: str | None = Field(None, description="a name for the pipeline")
    description: str | None = Field(None, description="free text describing the pipeline")
    regenerate: bool = Field(False, description="recompute every node even when cached")
    transforms: dict[str, NodeSection] = Field({}, description="the DAG: nodes keyed 'role:name'")


# ----------------------------------------------------------------------------- executor


class ExecutorSection(SectionModel):
    """``executor``: the model (a registered executor) and its settings."""

    ExecutorClass: str | None = Field(None, description="the registered executor (a LightningModule) to train")
    init_kwargs: dict[str, Any] | None = Field(None, description="keyword arguments of the executor's __init__")
    model_config_: dict[str, Any] | None = Field(
        None, alias="model_config", description="the model's settings, read by the executor (free-form)"
    )

    model_config = ConfigDict(
        extra="forbid", strict=True, validate_default=False, populate_by_name=True, protected_namespaces=()
    )


# ----------------------------------------------------------------------------- train


class TrainerParas(PassThrough):
    """``train.trainer_paras``: Lightning ``Trainer`` arguments; the ones below are range-checked."""

    max_epochs: int | None = _int(None, -1, "epochs to train (-1: no limit)")
    min_epochs: int | None = _int(None, 0, "epochs to train at least")
    max_steps: int = _int(-1, -1, "optimizer steps to train (-1: no limit)")
    min_steps: int | None = _int(None, 0, "optimizer steps to train at least")
    num_nodes: int = _int(1, 1, "machines to train on (SLURM: slurm.nodes follows it)")
    log_every_n_steps: int | None = _int(None, 1, "how often training metrics are logged")
    accumulate_grad_batches: int = _int(1, 1, "batches whose gradients are summed per optimizer step")
    check_val_every_n_epoch: int | None = _int(None, 1, "validate every N epochs")
    num_sanity_val_steps: int | None = _int(None, -1, "validation batches run before training (-1: all)")
    gradient_clip_val: NonNegative | None = Field(None, description="clip gradients to this norm (null: off)")
    limit_train_batches: FractionOrCount | None = Field(
        None, description="train on a fraction or number of batches", json_schema_extra=_FRACTION_OR_COUNT
    )
    limit_val_batches: FractionOrCount | None = Field(
        None, description="validate on a fraction or number of batches", json_schema_extra=_FRACTION_OR_COUNT
    )
    limit_test_batches: FractionOrCount | None = Field(
        None, description="test on a fraction or number of batches", json_schema_extra=_FRACTION_OR_COUNT
    )
    limit_predict_batches: FractionOrCount | None = Field(
        None, description="predict on a fraction or number of batches", json_schema_extra=_FRACTION_OR_COUNT
    )


class CheckpointParas(PassThrough):
    """``train.model_checkpoint_callback_paras``: Lightning ``ModelCheckpoint`` arguments (not ``dirpath``)."""

    save_top_k: int = _int(1, -1, "best checkpoints kept (-1: all)")
    every_n_epochs: int | None = _int(None, 0, "save every N epochs")
    filename: str = Field("best-{epoch:02d}", description="checkpoint file name pattern")
    monitor: str | None = Field(None, description="the logged metric that decides 'best'")
    mode: Literal["min", "max"] = Field("min", description="whether a lower or higher monitored value is better")


class EarlyStoppingParas(PassThrough):
    """``train.early_stopping`` as an object: Lightning ``EarlyStopping`` arguments."""

    patience: int = _int(3, 0, "validations without improvement before stopping")
    monitor: str | None = Field(None, description="the logged metric to watch")


class SchedulerParams(PassThrough):
    """``train.optimizer_config.scheduler_params``: the schedule's arguments."""

    num_warmup_steps: int | None = _int(None, 0, "linear warm-up steps")
    num_training_steps: int | None = _int(None, 1, "steps of the schedule (default: the run's total)")
    warmup_ratio: Ratio = Field(0, description="warm-up as a fraction of the training steps")
    min_lr_ratio: Ratio = Field(0, description="the lowest learning rate, as a fraction of lr")
    num_cycles: NonNegative = Field(0.5, description="cosine cycles of the schedule")


class OptimizerConfig(PassThrough):
    """``train.optimizer_config``: names and arguments are checked by executors/optim.py."""

    optimizer_name: str | None = Field(None, description="a torch.optim optimizer, e.g. AdamW")
    optimizer_params: dict[str, Any] | None = Field(None, description="its arguments, e.g. {lr: 0.001}")
    scheduler: str | None = Field(None, description="a per-step learning-rate schedule, e.g. linear, cosine")
    scheduler_params: SchedulerParams | None = Field(None, description="the schedule's arguments")


class TrainSection(SectionModel):
    """``train``: data, batch sizes, Lightning Trainer, optimizer, checkpoints (docs/experiments.md)."""

    data_node: str | None = Field(None, description="the pipeline node whose DatasetDict feeds training")
    splits: dict[str, str | dict[str, Any]] | None = Field(
        None, description="instead of data_node: {split: node or {node, split}}"
    )
    batch_size: int = _int(32, 1, "rows per training batch")
    val_batch_size: int | None = _int(None, 1, "rows per validation batch (default: train.batch_size)")
    dataloader_workers: int = _int(0, 0, "DataLoader worker processes")
    torch_num_threads: int | None = _int(None, 1, "torch CPU threads (null: torch's default)")
    trainer_paras: TrainerParas = Field(TrainerParas(), description="Lightning Trainer arguments")
    ddp_timeout_s: Positive = Field(
        600, description="seconds a multi-process (DDP) rendezvous may take before failing, naming the missing node"
    )
    optimizer_config: OptimizerConfig | None = Field(None, description="optimizer and learning-rate schedule")
    model_checkpoint_callback_paras: CheckpointParas | None = Field(
        None, description="Lightning ModelCheckpoint arguments (checkpoints go to <version>/train/checkpoints/)"
    )
    early_stopping: EarlyStoppingParas | bool | None = Field(
        None, description="true (stop on val_loss) or Lightning EarlyStopping arguments"
    )
    lora: dict[str, Any] | bool | None = Field(None, description="LoRA adapters (r, alpha, dropout, target_modules)")
    use_lora: bool = Field(False, description="the original runway's form: use lora_config")
    lora_config: dict[str, Any] | None = Field(None, description="the original runway's LoRA settings")


# ----------------------------------------------------------------------------- test, eval


class TestSection(SectionModel):
    """``test``: the data, batch size and checkpoint of runway-infer and predictions."""

    __test__ = False  # not a pytest class

    data_node: str | None = Field(None, description="the pipeline node to test on (default: train's)")
    splits: dict[str, str | dict[str, Any]] | None = Field(None, description="instead of data_node")
    split: str = Field("test", description="the split runway-infer predicts on")
    batch_size: int | None = _int(None, 1, "rows per test / predict batch (default: train.batch_size)")
    checkpoint: str = Field("best", description="best, last, or the path of a .ckpt file")
    generation_kwargs: dict[str, Any] | None = Field(None, description="model.generate arguments of text generators")
    merge_lora: bool = Field(True, description="merge LoRA adapters into the weights for inference")


class EvalSection(SectionModel):
    """``eval``: the metrics computed on predictions and the key metric."""

    metrics: list[Any] = Field([], description="metrics: names or {name, kwargs} objects")
    key_metric: str | None = Field(None, description="the metric runway ls and sweeps rank versions by")


# ----------------------------------------------------------------------------- slurm, serve


class SlurmSection(PassThrough):
    """The ``slurm`` section; any other key is a submitit SLURM parameter (submitit checks it; launcher/slurm.py)."""

    time_min: int = _int(60, 1, "the job's time limit in minutes")
    nodes: int | None = _int(None, 1, "machines (default: train.trainer_paras.num_nodes, else 1)")
    tasks_per_node: int | None = _int(None, 1, "tasks per machine (default: train.trainer_paras.devices)")
    ntasks_per_node: int | None = _int(None, 1, "submitit's name of tasks_per_node")
    cpus_per_task: int | None = _int(None, 1, "CPU cores per task")
    gpus_per_node: int | None = _int(None, 0, "GPUs per machine")
    gpus_per_task: int | None = _int(None, 0, "GPUs per task")
    array_parallelism: int | None = _int(None, 1, "sweep points running at once")
    max_requeues: int = _int(3, 0, "how often a preempted or timed-out job is requeued")
    mem_gb: Positive | Annotated[str, Field(min_length=1)] | None = Field(
        None,
        description='memory per machine in GB, or a size such as "500MB"',
        json_schema_extra={"x-expected": 'a positive number of GB (or a size such as "500MB")'},
    )
    partition: str | None = Field(None, description="the SLURM partition")
    account: str | None = Field(None, description="the account charged (sbatch --account)")
    qos: str | None = Field(None, description="the quality of service (sbatch --qos)")
    constraint: str | None = Field(None, description="node features required (sbatch --constraint)")
    exclude: str | None = Field(None, description="nodes not to run on (sbatch --exclude)")
    setup: list[str] | None = Field(None, description="shell lines run in the job before srun (modules, venv)")
    additional_parameters: dict[str, Any] | None = Field(
        None, description="other sbatch options: {key: value} becomes the line #SBATCH --<key>=<value>"
    )
    python: str | None = Field(None, description="the interpreter the job runs (default: the submitting one)")


class ServeSection(SectionModel):
    """``serve``: the commands a trained version serves over HTTP and the server defaults (docs/serving.md)."""

    description: str | None = Field(None, description="free text shown by the server")
    commands: dict[str, Any] = Field({}, description="served commands: {name: {inputs, outputs}} (docs/serving.md)")
    preprocess: bool = Field(True, description="run the pipeline's per-example transforms on each request")
    max_batch_size: int = _int(32, 1, "requests answered by one model call (runway serve --max-batch-size)")
    batch_timeout_ms: NonNegative = Field(
        2.0, description="milliseconds a batch waits for more requests (runway serve --batch-timeout-ms)"
    )
    workers: int = _int(1, 1, "model calls running at once (runway serve --workers)")
    request_timeout_s: Positive = Field(
        60.0, description="seconds a request may take before a 504 (runway serve --timeout)"
    )
    port: int = Field(9000, ge=0, le=65535, description="the port to listen on; 0 picks a free one (--port)")
    examples: int | bool | dict[str, Any] | list[Any] | None = Field(
        None,
        description="example requests of /ui: a number of data rows, {count, split, inputs}, a list of "
        "written examples, or false (null: 3 test rows when the data can be read; checked by serving/examples.py)",
    )


#: The one table of the framework's top-level sections. Add a section with :func:`register_section`.
SECTION_MODELS: dict[str, type[BaseModel]] = {
    "meta": MetaSection,
    "data_pipeline": DataPipelineSection,
    "executor": ExecutorSection,
    "train": TrainSection,
    "test": TestSection,
    "eval": EvalSection,
    "slurm": SlurmSection,
    "serve": ServeSection,
}


def register_section(name: str, model: type[BaseModel]) -> type[BaseModel]:
    """Add (or replace) the top-level section ``name``, validated by ``model``; returns the model.

    The same as ``SECTION_MODELS[name] = model``: the root model is rebuilt on the next validation.
    """
    SECTION_MODELS[name] = model
    return model


class _SectionKeys(Mapping[str, dict[str, Any]]):
    """``SECTIONS[path]``: the keys of a section (``""``: the top level, ``data_pipeline.transforms.*``: a node).

    A live view of :data:`SECTION_MODELS`, for code that only needs key names (``runway migrate``).
    """

    def _table(self) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = {"": {name: model for name, model in SECTION_MODELS.items()}}
        table[""].update({key: None for key in FREE_TOP_LEVEL})
        for name, model in SECTION_MODELS.items():
            table[name] = {field.alias or key: field for key, field in model.model_fields.items()}
        table["data_pipeline.transforms.*"] = {
            field.alias or key: field for key, field in NodeSection.model_fields.items()
        }
        return table

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


#: Top-level keys outside the framework's sections: ``user`` (free-form settings of the user's code),
#: ``description`` and ``$schema`` (editors read it in a ``.json`` config).
FREE_TOP_LEVEL = ("user", "description", "$schema")
SECTIONS: Mapping[str, dict[str, Any]] = _SectionKeys()
