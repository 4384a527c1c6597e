"""Dynamic batching: concurrent requests of one command share one model call.

Requests wait in an asyncio queue. A batch is formed when a worker is free: it takes the oldest
request, then every request already waiting (up to ``max_batch_size``), and when the batch is still
not full waits at most ``batch_timeout_ms`` for more. The model call runs in a thread pool of
``workers`` threads, so the event loop keeps accepting requests while the model computes; under load
the queue fills while a batch runs, and the next batch is larger.

>>> import asyncio
>>> async def demo():
...     batcher = Batcher(lambda items: [x * 2 for x in items], max_batch_size=8, batch_timeout_ms=1)
...     batcher.start()
...     results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
...     await batcher.stop()
...     return results
>>> asyncio.run(demo())
[0, 2, 4, 6, 8]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["Batcher"]


class Batcher:
    """Collect submitted items into batches and run ``run_batch(items) -> results`` in worker threads.

    ``run_batch`` returns one result per item, in order; a result that is an ``Exception`` is raised
    to that item's caller only. If ``run_batch`` itself raises, every caller of the batch gets the
    exception. ``on_batch(size, seconds)`` is called after each batch (metrics, benchmarks).
    """

    def __init__(
        self,
        run_batch: Callable[[list[Any]], Sequence[Any]],
        *,
        max_batch_size: int = 32,
        batch_timeout_ms: float = 2.0,
        workers: int = 1,
        on_batch: Callable[[int, float], None] | None = None,
        name: str = "batch",
    ) -> None:
        if max_batch_size < 1 or workers < 1 or batch_timeout_ms < 0:
            raise ValueError("max_batch_size and workers must be >= 1 and batch_timeout_ms >= 0")
        self.run_batch = run_batch
        self.max_batch_size = int(max_batch_size)
        self.timeout = float(batch_timeout_ms) / 1000.0
        self.workers = int(workers)
        self.on_batch = on_batch
        self.name = name
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future]] | None = None
        self._free: asyncio.Semaphore | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Future] = set()

    def start(self) -> None:
        """Start the collecting loop on the running event loop."""
        self._queue = asyncio.Queue()
        self._free = asyncio.Semaphore(self.workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"runway-{self.name}")
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish the batches already running, then stop (queued items not yet taken are cancelled)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._queue is not None:
            while not self._queue.empty():
                _, future = self._queue.get_nowait()
                if not future.done():
                    future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    async def submit(self, item: Any) -> Any:
        """Queue ``item``; return its result when its batch has run."""
        return await self.submit_nowait(item)

    def submit_nowait(self, item: Any) -> asyncio.Future:
        """Queue ``item``; the returned future gets its result (cancel it to drop a request not yet run)."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not called")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return future

    async def _loop(self) -> None:
        assert self._queue is not None and self._free is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            await self._free.acquire()
            batch = [first]
            # Everything already waiting joins; then wait a little for more if the batch is not full.
            while len(batch) < self.max_batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if self.timeout > 0 and len(batch) < self.max_batch_size:
                deadline = loop.time() + self.timeout
                while len(batch) < self.max_batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                    except asyncio.TimeoutError:
                        break
            # Requests whose caller gave up (timeout, disconnect) are not computed.
            batch = [(item, fut) for item, fut in batch if not fut.done()]
            if not batch:
                self._free.release()
                continue
            running = loop.run_in_executor(self._pool, self._call, [item for item, _ in batch])
            self._running.add(running)
            running.add_done_callback(lambda done, batch=batch: self._deliver(done, batch))

    def _call(self, items: list[Any]) -> tuple[Sequence[Any], float]:
        started = time.perf_counter()
        results = self.run_batch(items)
        return results, time.perf_counter() - started

    def _deliver(self, done: asyncio.Future, batch: list[tuple[Any, asyncio.Future]]) -> None:
        assert self._free is not None
        self._running.discard(done)
        self._free.release()
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        if error is None:
            results, seconds = done.result()
            if len(results) != len(batch):
                error = RuntimeError(f"the batch function returned {len(results)} results for {len(batch)} inputs")
            elif self.on_batch is not None:
                self.on_batch(len(batch), seconds)
        for i, (_, future) in enumerate(batch):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            elif isinstance(results[i], Exception):
                future.set_exception(results[i])
            else:
                future.set_result(results[i])
