"""``runway embed VERSION [--split S] [--method tsne|pca|umap] [--color-by label|prediction|COLUMN] [--limit N]``.

Runs the version's ``embed_step`` over a split, projects the vectors to 2-D and writes
``<version>/embed-<split>/``: ``embeddings.parquet``, ``projection.png`` and ``projection.html`` (an
interactive, self-contained scatter: pan, zoom, hover to read an example). Prints the folder.

    runway embed digits_V0 --split test --color-by label
    runway embed reviews_V0 --method tsne --color-by prediction
"""

from __future__ import annotations

import argparse
import sys

from runway_for_ml.experiment.report import build_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from runway_for_ml.pipeline.projection import METHODS

    parser.add_argument("version", help="a version (digits_V0), an experiment (its latest completed version) or a path")
    parser.add_argument("--split", default="test", help="split of the version's data to embed (default: test)")
    parser.add_argument("--method", default="tsne", choices=METHODS, help="2-D projection (default: tsne)")
    parser.add_argument(
        "--color-by",
        dest="color_by",
        default=None,
        metavar="label|prediction|COLUMN",
        help="colour points by the label (default when there is one), the prediction, or a column",
    )
    parser.add_argument(
        "--limit", type=int, default=5000, metavar="N", help="embed the first N rows of the split (default: 5000)"
    )
    parser.add_argument("--checkpoint", default="best", choices=("best", "last"), help="checkpoint (default: best)")
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=None, help="rows per model call")


def run(args: argparse.Namespace) -> int:
    from runway_for_ml.experiment.embedding import write_embeddings
    from runway_for_ml.experiment.experiment import Experiment

    exp = Experiment.load(args.version)
    out_dir = write_embeddings(
        exp,
        split=args.split,
        method=args.method,
        color_by=args.color_by,
        limit=args.limit,
        checkpoint=args.checkpoint,
        batch_size=args.batch_size,
    )
    sys.stderr.write(
        f"[embed] {exp.version_name} / {args.split}: embeddings.parquet, projection.png, projection.html\n"
    )
    if exp.layout.report_path.is_file():
        try:  # the embeddings are written; an old report that cannot be rebuilt is not an error
            build_report(exp.path)
            sys.stderr.write(f"[embed] report updated: {exp.layout.report_path}\n")
        except Exception as exc:
            sys.stderr.write(f"[embed] report not updated: {type(exc).__name__}: {exc}\n")
    print(out_dir)
    return 0
