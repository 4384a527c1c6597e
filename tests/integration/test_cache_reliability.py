"""Crash and concurrency safety of the cache, with real processes.

- A writer process is SIGKILLed at random points while it writes Arrow and pickle entries; after each
  kill every visible entry must load completely with the right content, and a later run must produce
  the right output.
- Three processes run the same pipeline on one cache folder at once: all succeed with identical
  outputs and every node is computed exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runway_for_ml.pipeline.cache import CacheStore

REPO = Path(__file__).resolve().parents[2]

# Shared by the writer process and the test: what each key must contain.
_CONTENT = textwrap.dedent(
    """
    KEYS = [f"ds{i}" for i in range(4)] + [f"dd{i}" for i in range(2)] + [f"pk{i}" for i in range(3)]

    def make(key):
        import datasets

        n = 2000 + 700 * int(key[-1])
        if key.startswith("ds"):
            return datasets.Dataset.from_dict({"x": list(range(n)), "sq": [i * i for i in range(n)], "k": [key] * n})
        if key.startswith("dd"):
            return datasets.DatasetDict(
                train=datasets.Dataset.from_dict({"x": list(range(n))}),
                test=datasets.Dataset.from_dict({"x": list(range(n, n + 100))}),
            )
        return {"key": key, "values": list(range(n)), "blob": bytes(range(256)) * 200}

    def as_plain(data):
        import datasets

        if isinstance(data, datasets.DatasetDict):
            return {split: ds.to_dict() for split, ds in data.items()}
        if isinstance(data, datasets.Dataset):
            return data.to_dict()
        return data
    """
)

# Imports datasets once, then forks one writer per request so that each kill costs milliseconds.
_ZYGOTE = textwrap.dedent(
    """
    import os, random, sys
    import datasets  # noqa: F401  (imported before forking: children start instantly)
    from content import KEYS, make
    from runway_for_ml.pipeline.cache import CacheStore

    root = sys.argv[1]
    print("ready", flush=True)
    for line in sys.stdin:
        seed = int(line)
        pid = os.fork()
        if pid == 0:
            rng = random.Random(seed)
            store = CacheStore(root)
            while True:
                key = rng.choice(KEYS)
                if rng.random() < 0.5:
                    store.save(key, make(key), {"node": "process:" + key})
                else:
                    store.get_or_compute(key, lambda: make(key), {"node": "process:" + key}, regenerate=True)
        print(pid, flush=True)
        os.waitpid(pid, 0)
        print("reaped", flush=True)
    """
)


def _env(extra_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(extra_path), str(REPO), env.get("PYTHONPATH", "")])
    env["HF_DATASETS_OFFLINE"] = "1"
    env["WANDB_MODE"] = "offline"
    return env


def _check_every_visible_entry(store: CacheStore, make, as_plain) -> int:
    """Every non-hidden folder must be a complete entry whose content equals the expected one."""
    checked = 0
    for path in sorted(store.dir.iterdir()):
        if path.name.startswith("."):
            continue
        assert (path / "meta.json").is_file(), f"incomplete entry visible: {path}"
        meta = json.loads((path / "meta.json").read_text())
        try:
            loaded = store.load(path.name)
        except KeyError:
            continue  # replaced between listing and loading: no entry is fine, a partial one is not
        assert as_plain(loaded) == as_plain(make(path.name)), f"wrong content in {path}"
        assert meta["key"] == path.name
        checked += 1
    return checked


@pytest.mark.slow
def test_sigkill_during_writes_never_exposes_partial_entries(tmp_path):
    (tmp_path / "content.py").write_text(_CONTENT)
    (tmp_path / "zygote.py").write_text(_ZYGOTE)
    sys.path.insert(0, str(tmp_path))
    try:
        import content
    finally:
        sys.path.remove(str(tmp_path))
    cache_root = tmp_path / "cache"
    store = CacheStore(cache_root)
    seed = int(os.environ.get("RUNWAY_KILL_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    zygote = subprocess.Popen(
        [sys.executable, str(tmp_path / "zygote.py"), str(cache_root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    kills, killed_mid_write, checked = 0, 0, 0
    try:
        assert zygote.stdout.readline().strip() == "ready"
        for i in range(24):
            zygote.stdin.write(f"{seed + i}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            time.sleep(rng.uniform(0.005, 0.25))
            os.kill(pid, signal.SIGKILL)
            assert zygote.stdout.readline().strip() == "reaped"
            kills += 1
            if store.dir.exists() and any(p.name.startswith(".tmp-") for p in store.dir.iterdir()):
                killed_mid_write += 1
            checked += _check_every_visible_entry(store, content.make, content.as_plain)
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
    assert kills >= 20
    assert checked > 0, f"no entry was ever complete (seed {seed})"
    # The test only means something if some kills interrupted a write half-way.
    assert killed_mid_write >= 1, f"no kill hit a write in progress (seed {seed})"

    # A later run: every key is served (from cache or recomputed) with the right content.
    for key in content.KEYS:
        data, _hit = store.get_or_compute(key, lambda key=key: content.make(key), {"node": "process:" + key})
        assert content.as_plain(data) == content.as_plain(content.make(key)), f"seed {seed}, key {key}"
    # Leftovers of the killed writers are cleaned up; complete entries stay.
    store.gc(older_than_seconds=10 * 86400)
    leftovers = [p for p in store.dir.iterdir() if p.name.startswith((".tmp-", ".trash-"))]
    assert all(not (p / ".owner").exists() for p in leftovers), leftovers
    assert sorted(e.key for e in store.entries()) == sorted(content.KEYS)


# Three copies of this run the same 3-node pipeline through CacheStore.get_or_compute.
_STORE_RUNNER = textwrap.dedent(
    """
    import json, os, sys, time
    import datasets
    from runway_for_ml.pipeline.cache import CacheStore
    from runway_for_ml.pipeline.fingerprint import node_key, node_key_components

    root, log_path, go_path = sys.argv[1:4]

    class Load:
        pass

    class AddSquare:
        pass

    class Total:
        pass

    def logged(node, fn):
        def compute():
            with open(log_path, "a") as fh:
                fh.write(node + "\\n")
            time.sleep(0.3)  # long enough for the other processes to arrive and wait on the lock
            return fn()
        return compute

    print("ready", flush=True)
    while not os.path.exists(go_path):
        time.sleep(0.005)
    store = CacheStore(root)
    k_load = node_key(node_key_components(Load, "Load", {"n": 3000}, []))
    k_sq = node_key(node_key_components(AddSquare, "AddSquare", {}, [k_load]))
    k_tot = node_key(node_key_components(Total, "Total", {}, [k_sq]))
    a, _ = store.get_or_compute(k_load, logged("input:Load", lambda: datasets.Dataset.from_dict({"x": list(range(3000))})), {"node": "input:Load"})
    b, _ = store.get_or_compute(k_sq, logged("process:AddSquare", lambda: a.map(lambda r: {"sq": r["x"] ** 2})), {"node": "process:AddSquare"})
    c, _ = store.get_or_compute(k_tot, logged("output:Total", lambda: {"sum_sq": sum(b["sq"])}), {"node": "output:Total"})
    print(json.dumps({"rows": b.num_rows, "first": b[:3], "total": c}, sort_keys=True), flush=True)
    """
)


def _run_three(tmp_path: Path, script: str, args: list[str]) -> list[str]:
    (tmp_path / "runner_script.py").write_text(script)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "runner_script.py"), *args, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
            cwd=tmp_path,
        )
        for _ in range(3)
    ]
    for proc in procs:  # all imported and waiting: start them together
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.poll() is not None else ""
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.strip().splitlines()[-1])
    return outputs


@pytest.mark.slow
def test_three_processes_share_one_cache_and_compute_each_node_once(tmp_path):
    log = tmp_path / "executions.log"
    outputs = _run_three(tmp_path, _STORE_RUNNER, [str(tmp_path / "cache"), str(log)])
    assert outputs[0] == outputs[1] == outputs[2]
    result = json.loads(outputs[0])
    assert result["rows"] == 3000 and result["total"] == {"sum_sq": sum(i * i for i in range(3000))}
    assert sorted(log.read_text().splitlines()) == ["input:Load", "output:Total", "process:AddSquare"]


# The same through the full DataPipeline, with a transform registered in a user module.
_USER_TRANSFORMS = textwrap.dedent(
    """
    import os, time
    from runway_for_ml.pipeline.transform import BaseTransform, register_transform_functor

    def _log(name):
        with open(os.environ["RUNWAY_TEST_EXEC_LOG"], "a") as fh:
            fh.write(name + "\\n")
        time.sleep(0.3)  # keep the node busy while the other processes arrive

    @register_transform_functor
    class MakeNumbers(BaseTransform):
        def setup(self, n=10):
            self.n = n

        def _call(self, data):
            _log("MakeNumbers")
            import datasets
            return datasets.Dataset.from_dict({"x": list(range(self.n))})

    @register_transform_functor
    class Square(BaseTransform):
        def _call(self, data):
            _log("Square")
            power = self.global_config.train.power  # a config read: part of the node's key (issue 15)
            return data.map(lambda r: {"sq": r["x"] ** power})

    @register_transform_functor
    class Summarise(BaseTransform):
        def _call(self, data):
            _log("Summarise")
            squares, numbers = data
            out = {"rows": squares.num_rows, "sum_sq": sum(squares["sq"]), "sum": sum(numbers["x"])}
            squares.set_format("numpy")  # in place: must not reach process:Square's output (issue 15)
            data.clear()
            return out
    """
)

_PIPELINE_RUNNER = textwrap.dedent(
    """
    import json, os, sys, time
    import datasets
    import user_transforms  # registers the transforms
    from runway_for_ml.pipeline.runner import DataPipeline

    cache_dir, go_path = sys.argv[1:3]
    config = {
        "meta": {"default_cache_dir": cache_dir},
        "train": {"power": 2, "batch_size": 8},
        "data_pipeline": {
            "name": "three",
            "transforms": {
                "input:Numbers": {"transform_name": "MakeNumbers", "setup_kwargs": {"n": 2000}},
                "process:Square": {"transform_name": "Square", "input_node": "input:Numbers"},
                "output:Summary": {"transform_name": "Summarise", "input_node": ["process:Square", "input:Numbers"]},
            },
        },
    }
    print("ready", flush=True)
    while not os.path.exists(go_path):
        time.sleep(0.005)
    out = DataPipeline(config).get_data(["output:Summary", "process:Square"])
    sq = out["process:Square"]
    print(json.dumps({"summary": out["output:Summary"], "head": sq[:3]}, sort_keys=True), flush=True)
    """
)


@pytest.mark.slow
def test_three_processes_run_the_same_data_pipeline_at_once(tmp_path, monkeypatch):
    pytest.importorskip("runway_for_ml.pipeline.runner")
    (tmp_path / "user_transforms.py").write_text(_USER_TRANSFORMS)
    log = tmp_path / "executions.log"
    monkeypatch.setenv("RUNWAY_TEST_EXEC_LOG", str(log))
    outputs = _run_three(tmp_path, _PIPELINE_RUNNER, [str(tmp_path / "cache")])
    assert outputs[0] == outputs[1] == outputs[2]
    summary = json.loads(outputs[0])["summary"]
    assert summary == {"rows": 2000, "sum_sq": sum(i * i for i in range(2000)), "sum": sum(range(2000))}
    assert sorted(log.read_text().splitlines()) == ["MakeNumbers", "Square", "Summarise"]
    # Each node left exactly one complete entry.
    store = CacheStore(tmp_path / "cache")
    assert sorted(e.node for e in store.entries()) == ["input:Numbers", "output:Summary", "process:Square"]
    square = next(e for e in store.entries() if e.node == "process:Square")
    assert square.meta["config_reads"] == {"train.power": 2} and square.key != square.meta["base_key"]
