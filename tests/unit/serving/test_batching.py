"""Dynamic batching: concurrent requests share model calls; errors stay with their request."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from runway_for_ml.serving.batching import Batcher


def _run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_are_batched_while_the_model_is_busy():
    sizes: list[int] = []
    gate = threading.Event()

    def model(items):
        sizes.append(len(items))
        if len(sizes) == 1:
            gate.wait(2)  # the first call is slow: the others queue up meanwhile
        return [x * 10 for x in items]

    async def main():
        batcher = Batcher(model, max_batch_size=8, batch_timeout_ms=0)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 20)]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(first, *rest)
        await batcher.stop()
        return results

    assert _run(main()) == [i * 10 for i in range(20)]
    assert sizes[0] == 1 and sizes[1:] == [8, 8, 3]


def test_batch_timeout_waits_for_a_fuller_batch():
    sizes: list[int] = []

    async def main():
        batcher = Batcher(lambda items: sizes.append(len(items)) or items, max_batch_size=4, batch_timeout_ms=200)
        batcher.start()
        tasks = []
        for i in range(4):
            tasks.append(asyncio.ensure_future(batcher.submit(i)))
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        await batcher.stop()
        return time.perf_counter() - started

    waited = _run(main())
    assert sizes == [4] and waited < 0.2  # full before the timeout: no extra wait


def test_an_exception_result_fails_only_its_request_and_a_raising_batch_fails_all():
    def model(items):
        if "all" in items:
            raise RuntimeError("batch failed")
        return [ValueError(f"bad {x}") if x == "bad" else x.upper() for x in items]

    async def main():
        batcher = Batcher(model, max_batch_size=8, batch_timeout_ms=20)
        batcher.start()
        results = await asyncio.gather(
            batcher.submit("a"), batcher.submit("bad"), batcher.submit("b"), return_exceptions=True
        )
        failed = await asyncio.gather(batcher.submit("all"), batcher.submit("c"), return_exceptions=True)
        later = await batcher.submit("d")
        await batcher.stop()
        return results, failed, later

    results, failed, later = _run(main())
    assert results[0] == "A" and results[2] == "B" and isinstance(results[1], ValueError)
    assert all(isinstance(r, RuntimeError) for r in failed)
    assert later == "D"  # the batcher keeps going


def test_wrong_result_count_is_an_error_and_bad_settings_are_refused():
    async def main():
        batcher = Batcher(lambda items: items[:-1], max_batch_size=4, batch_timeout_ms=10)
        batcher.start()
        out = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        await batcher.stop()
        return out

    assert all("returned 1 results for 2 inputs" in str(r) for r in _run(main()))
    with pytest.raises(ValueError):
        Batcher(lambda x: x, max_batch_size=0)
