"""Embedding and chaining benchmarks (issue 9), measured side by side in one run.

#1  2-D projection of 5,000 x 384 vectors with the default method (``runway embed --method tsne``:
    openTSNE, 250 early-exaggeration + 250 iterations) vs scikit-learn's ``TSNE`` at the same budget
    (``max_iter=500``, which counts its 250 exaggeration iterations too), both with the same pinned
    thread count (``--threads``, default: the machine's cores; ``n_jobs`` and the BLAS/OpenMP pools):
    ratio <= 0.5, and <= 20 s on the machine (reported with the load average). For context, also
    timed: openTSNE at its own defaults (750 iterations) and sklearn ``TSNE()`` at its defaults (1000).
    Quality of each embedding on the same vectors: trustworthiness (k=10), 10-NN accuracy of the
    cluster labels in 2-D (leave-one-out), and KL(P || Q) computed here the same way for all (P: the
    perplexity-30 affinities of the input, Q: the exact Student-t affinities of the 2-D points).
#2  ``PredictWithExperiment`` over 10,000 rows (a pipeline node: plan, load the input from the
    cache, load the experiment's checkpoint, predict, add the columns, write the entry) vs a
    hand-written loop that loads the same checkpoint and calls the model in batches of the same
    size on the same (already loaded) rows: ratio <= 1.10. A warm re-run (cache hit) <= 0.02.

Run:  .venv/bin/python benchmarks/bench_embeddings.py [--rows 10000] [--points 5000] [--repeats 5] [--threads N]
Exits non-zero when a target is missed (the 20 s one included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import datasets
import numpy as np
import torch
from _results import record

from runway_for_ml.executors import build_executor
from runway_for_ml.pipeline.runner import DataPipeline
from runway_for_ml.pipeline.transform import BaseTransform, register_transform_functor

PROJECTION_RATIO_TARGET = 0.5
PROJECTION_SECONDS_TARGET = 20.0
PREDICT_RATIO_TARGET = 1.10
WARM_RATIO_TARGET = 0.02
DIM = 384
BATCH = 256
MODEL = {
    "meta": {"seed": 0},
    "executor": {
        "ExecutorClass": "ClassificationExecutor",
        # An MLP (5M parameters) over sentence-encoder-sized vectors (384), as in a stacking setup.
        "model_config": {
            "input_column": "features",
            "input_dim": DIM,
            "hidden_dims": [2048, 2048],
            "num_classes": 10,
            "dropout": 0.0,
        },
    },
    # As every trained experiment's config: the pipeline node that fed the executor.
    "train": {"splits": {"train": {"node": "input:Vectors"}}},
    "test": {"batch_size": BATCH},
}


def clustered_vectors(n: int, dim: int = DIM, seed: int = 0, labels: bool = False) -> Any:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (10, dim))
    cluster = rng.integers(0, 10, n)
    vectors = (centres[cluster] + rng.normal(size=(n, dim))).astype(np.float32)
    return (vectors, cluster) if labels else vectors


@register_transform_functor
class BenchVectors(BaseTransform):
    """input: ``rows`` rows of ``features`` (384 floats) and a ``label``."""

    def setup(self, rows: int = 10_000) -> None:
        self.rows = rows

    def _call(self, data):
        features = clustered_vectors(self.rows)
        return datasets.Dataset.from_dict({"features": list(features), "label": np.arange(self.rows) % 10})


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def knn_accuracy(embedding: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Leave-one-out k-NN accuracy of ``labels`` in the embedding (majority of the k nearest others)."""
    from sklearn.neighbors import NearestNeighbors

    _, index = NearestNeighbors(n_neighbors=k + 1).fit(embedding).kneighbors(embedding)
    votes = labels[index[:, 1:]]
    predicted = np.array([np.bincount(row, minlength=labels.max() + 1).argmax() for row in votes])
    return float((predicted == labels).mean())


def kl_divergence(p_matrix: Any, embedding: np.ndarray) -> float:
    """KL(P || Q) with P the input's (symmetric, normalised) affinities and Q the exact t-SNE Q of the points."""
    y = embedding.astype(np.float64)
    sq = (y**2).sum(1)
    z = 0.0
    for start in range(0, len(y), 1000):  # sum of (1 + d^2)^-1 over all pairs i != j, in blocks
        d2 = np.maximum(sq[start : start + 1000, None] + sq[None, :] - 2 * y[start : start + 1000] @ y.T, 0)
        z += (1.0 / (1.0 + d2)).sum() - min(1000, len(y) - start)  # minus the diagonal (d = 0)
    p = p_matrix.tocoo()
    keep = (p.data > 0) & (p.row != p.col)
    rows, cols, pij = p.row[keep], p.col[keep], p.data[keep]
    qij = 1.0 / (1.0 + ((y[rows] - y[cols]) ** 2).sum(1)) / z
    return float((pij * np.log(pij / qij)).sum())


def bench_projection(points: int, threads: int) -> dict[str, dict[str, float]]:
    from openTSNE import TSNE as OpenTSNE
    from openTSNE.affinity import PerplexityBasedNN
    from sklearn.manifold import TSNE, trustworthiness
    from threadpoolctl import threadpool_limits

    from runway_for_ml.pipeline.projection import project_2d

    vectors, labels = clustered_vectors(points, labels=True)
    contestants = {
        # name: (what runs, total iterations)
        "runway tsne (openTSNE)": (lambda: project_2d(vectors, "tsne", seed=0, n_jobs=threads), 500),
        "sklearn TSNE(max_iter=500)": (
            lambda: TSNE(max_iter=500, random_state=0, n_jobs=threads).fit_transform(vectors),
            500,
        ),
        "openTSNE defaults": (
            lambda: np.asarray(OpenTSNE(random_state=0, n_jobs=threads).fit(vectors)),
            750,
        ),
        "sklearn TSNE() defaults": (lambda: TSNE(random_state=0, n_jobs=threads).fit_transform(vectors), 1000),
    }
    results: dict[str, dict[str, float]] = {}
    with threadpool_limits(limits=threads):
        for name, (run, iterations) in contestants.items():
            # CPU seconds next to wall seconds: on a shared machine the wall time follows the load.
            started, cpu = time.perf_counter(), time.process_time()
            embedding = np.asarray(run(), dtype=np.float32)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            results[name] = {"seconds": wall, "cpu": cpu, "iterations": iterations, "embedding": embedding}
            print(f"   {name:<28} {wall:8.2f} s   CPU {cpu:8.2f} s   ({iterations} iterations)", flush=True)
        p_matrix = PerplexityBasedNN(vectors, perplexity=30, method="exact", n_jobs=threads, random_state=0).P
    for r in results.values():
        embedding = r.pop("embedding")
        r["trustworthiness"] = float(trustworthiness(vectors, embedding, n_neighbors=10))
        r["knn_accuracy"] = knn_accuracy(embedding, labels)
        r["kl"] = kl_divergence(p_matrix, embedding)
    return results


def make_project(root: Path, rows: int) -> dict:
    """A project with one "trained" version (a completed version folder with a checkpoint) to consume."""
    (root / "configs" / "experiments").mkdir(parents=True)
    (root / ".runway").write_text("")
    version = root / "experiments" / "encoder_V0"
    (version / "train" / "checkpoints").mkdir(parents=True)
    # The experiment's resolved config, as training leaves it: its model and the pipeline that fed it.
    vectors_node = {"transform_name": "BenchVectors", "setup_kwargs": {"rows": rows}}
    trained = {**MODEL, "data_pipeline": {"transforms": {"input:Vectors": vectors_node}}}
    (version / "train" / "config.json").write_text(json.dumps(trained))
    torch.manual_seed(0)
    torch.save({"state_dict": build_executor(MODEL).state_dict()}, version / "train" / "checkpoints" / "best.ckpt")
    manifest = {"experiment": "encoder", "version": 0, "status": "completed", "project_root": str(root)}
    manifest["checkpoints"] = {"best": "train/checkpoints/best.ckpt", "last": None}
    (version / "train" / "manifest.json").write_text(json.dumps(manifest))
    return {
        "meta": {"seed": 0},
        "data_pipeline": {
            "transforms": {
                "input:Vectors": {"transform_name": "BenchVectors", "setup_kwargs": {"rows": rows}},
                "output:Predicted": {
                    "input_node": "input:Vectors",
                    "transform_name": "PredictWithExperiment",
                    "setup_kwargs": {
                        "experiment": "encoder",
                        "outputs": ["prediction", "probabilities"],
                        "batch_size": BATCH,
                        "device": "cpu",
                    },
                },
            }
        },
    }


def hand_loop(root: Path, dataset: datasets.Dataset) -> np.ndarray:
    """What a user writes without runway: load the checkpoint, call the model batch by batch."""
    checkpoint = root / "experiments" / "encoder_V0" / "train" / "checkpoints" / "best.ckpt"
    model = build_executor(MODEL)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"])
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, collate_fn=model.collate_fn)
    predictions, probabilities = [], []
    with torch.inference_mode():
        for index, batch in enumerate(loader):
            out = model.predict_step(batch, index)
            predictions.append(out["prediction"].numpy())
            probabilities.append(out["probabilities"].numpy())
    return np.concatenate(predictions)


def bench_predict(rows: int, repeats: int) -> dict[str, float]:
    # One thread for both sides: the same work, and steadier timings on a machine shared with other jobs.
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        config = make_project(root, rows)
        cache = root / "local_cache"
        previous = Path.cwd()
        os.chdir(root)  # the experiment is found from the project, as in a real run
        try:
            DataPipeline(config, cache_dir=cache).run(["input:Vectors"])
            dataset = DataPipeline(config, cache_dir=cache).get_data("input:Vectors")["input:Vectors"]
            hand_loop(root, dataset.select(range(BATCH)))  # warm-up: first-call costs out of both timings
            hand, cold, warm = [], [], []

            def run_hand() -> np.ndarray:
                started = time.perf_counter()
                predictions = hand_loop(root, dataset)
                hand.append(time.perf_counter() - started)
                return predictions

            def run_node() -> Any:
                started = time.perf_counter()
                pipeline = DataPipeline(config, cache_dir=cache, regenerate_nodes=["output:Predicted"])
                out = pipeline.get_data("output:Predicted")["output:Predicted"]
                cold.append(time.perf_counter() - started)
                assert [r.status for r in pipeline.last_report.nodes] == ["hit", "ran"]
                return out

            for repeat in range(repeats):  # interleaved, and in alternating order, so neither goes first always
                if repeat % 2:
                    out, expected = run_node(), run_hand()
                else:
                    expected, out = run_hand(), run_node()
                started = time.perf_counter()
                again = DataPipeline(config, cache_dir=cache).get_data("output:Predicted")["output:Predicted"]
                warm.append(time.perf_counter() - started)
                assert np.array_equal(np.asarray(out["prediction"]), expected)
                assert len(again) == rows
        finally:
            os.chdir(previous)
    # Medians of the repeats, with their spread.
    h, c, w = statistics.median(hand), statistics.median(cold), statistics.median(warm)
    return {
        "hand": h,
        "cold": c,
        "warm": w,
        "cold_ratio": c / h,
        "warm_ratio": w / h,
        "hand_spread": [min(hand), max(hand)],
        "cold_spread": [min(cold), max(cold)],
        "median": True,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every t-SNE")
    parser.add_argument("--only", choices=("projection", "predict"), default=None, help="run one of the two")
    args = parser.parse_args()
    ok = True
    if args.only != "projection":
        ok &= report_predict(args.rows, args.repeats)
    if args.only != "predict":
        ok &= report_projection(args.points, args.threads)
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def report_predict(rows: int, repeats: int) -> bool:
    print(
        f"#2 PredictWithExperiment over {rows:,} rows, batch {BATCH} ({repeats} repeats, alternating order, "
        "1 torch thread)",
        flush=True,
    )
    p = bench_predict(rows, repeats)
    print(
        f"   hand-written loop        {p['hand']:8.3f} s   (spread {p['hand_spread'][0]:.3f}-{p['hand_spread'][1]:.3f})"
    )
    print(
        f"   PredictWithExperiment    {p['cold']:8.3f} s   (spread {p['cold_spread'][0]:.3f}-{p['cold_spread'][1]:.3f})"
        f"   ratio {p['cold_ratio']:.3f}  (<= {PREDICT_RATIO_TARGET})"
    )
    print(f"   warm re-run (cache hit)  {p['warm']:8.3f} s   ratio {p['warm_ratio']:.4f} (<= {WARM_RATIO_TARGET})")
    # What the node adds to the loop (plan, cache write) does not grow with the model's compute.
    print(f"   difference               {1000 * (p['cold'] - p['hand']):8.0f} ms")
    ok_cold, ok_warm = p["cold_ratio"] <= PREDICT_RATIO_TARGET, p["warm_ratio"] <= WARM_RATIO_TARGET
    anchor = f"hand-written loop: same checkpoint, batches of {BATCH}, rows already loaded; {rows:,} rows"
    record(
        "bench_embeddings",
        "PredictWithExperiment / hand-written loop",
        round(p["cold_ratio"], 3),
        unit="x",
        anchor=anchor,
        target=f"<= {PREDICT_RATIO_TARGET}",
        passed=ok_cold,
        spread=[
            round(p["cold_spread"][0] / p["hand_spread"][1], 3),
            round(p["cold_spread"][1] / p["hand_spread"][0], 3),
        ],
        note="medians" if p.get("median") else "",
    )
    record(
        "bench_embeddings",
        "PredictWithExperiment warm re-run / hand-written loop",
        round(p["warm_ratio"], 4),
        unit="x",
        anchor=anchor,
        target=f"<= {WARM_RATIO_TARGET}",
        passed=ok_warm,
    )
    return ok_cold and ok_warm


def report_projection(points: int, threads: int) -> bool:
    print(
        f"#1 2-D projection of {points:,} x {DIM} vectors, {threads} threads for each (load average "
        f"{load_average()} at start)",
        flush=True,
    )
    r = bench_projection(points, threads)
    ours, matched = r["runway tsne (openTSNE)"], r["sklearn TSNE(max_iter=500)"]
    print(f"   {'':<28} {'seconds':>8} {'trustworthiness':>16} {'10-NN accuracy':>15} {'KL(P||Q)':>9}")
    for name, x in r.items():
        print(
            f"   {name:<28} {x['seconds']:8.2f} {x['trustworthiness']:16.4f} {x['knn_accuracy']:15.4f} {x['kl']:9.3f}"
        )
    ratio = ours["seconds"] / matched["seconds"]
    ok_ratio = ratio <= PROJECTION_RATIO_TARGET
    within = ours["seconds"] <= PROJECTION_SECONDS_TARGET
    print(
        f"   runway / sklearn at the same budget (500 iterations, {threads} threads): {ratio:.3f}x "
        f"(<= {PROJECTION_RATIO_TARGET}) {'PASS' if ok_ratio else 'MISS'}"
    )
    print(
        f"   runway / openTSNE defaults: {ours['seconds'] / r['openTSNE defaults']['seconds']:.3f}x;  "
        f"runway / sklearn TSNE() defaults: {ours['seconds'] / r['sklearn TSNE() defaults']['seconds']:.3f}x"
    )
    print(
        f"   <= {PROJECTION_SECONDS_TARGET:.0f} s here: {'PASS' if within else 'MISS'} ({ours['seconds']:.2f} s; "
        f"load average {load_average()} at end)"
    )
    anchor = f"sklearn TSNE(max_iter=500), {threads} threads pinned, same {points:,} x {DIM} vectors"
    record(
        "bench_embeddings",
        "t-SNE projection: runway / sklearn, same budget",
        round(ratio, 3),
        unit="x",
        anchor=anchor,
        target=f"<= {PROJECTION_RATIO_TARGET}",
        passed=ok_ratio,
    )
    # CPU seconds: steadier than wall time on a loaded machine (context, no target).
    record(
        "bench_embeddings",
        "t-SNE projection CPU seconds: runway / sklearn, same budget",
        round(ours["cpu"] / matched["cpu"], 3),
        unit="x",
        anchor=f"CPU {ours['cpu']:.1f} s vs {matched['cpu']:.1f} s (this process, all threads)",
    )
    record(
        "bench_embeddings",
        f"t-SNE projection of {points:,} x {DIM}: runway wall time",
        round(ours["seconds"], 2),
        unit="s",
        anchor=f"{threads} threads",
        target=f"<= {PROJECTION_SECONDS_TARGET:.0f} s",
        passed=within,
    )
    for name, x in r.items():
        record(
            "bench_embeddings",
            f"t-SNE {name}: seconds / trustworthiness / 10-NN acc. / KL",
            round(x["seconds"], 2),
            unit="s",
            anchor=f"{x['iterations']} iterations, {threads} threads",
            note=f"trustworthiness {x['trustworthiness']:.4f}, 10-NN accuracy {x['knn_accuracy']:.4f}, KL {x['kl']:.3f}",
        )
    return ok_ratio and within


if __name__ == "__main__":
    sys.exit(main())
