"""Work done a few batches ahead in a thread pool, handed back a batch at a time, in order.

Prediction and training both decode images this way: the pool keeps working on the next
batches while the caller runs the network on the current one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def batches_ahead(
    pool: ThreadPoolExecutor,
    calls: Sequence[Callable[[], T]],
    batch_size: int,
    ahead: int,
    stop: Callable[[], bool],
) -> Iterator[tuple[int, list[T]]]:
    """``(start, results)`` for each batch of ``calls``, with ``ahead`` more batches in flight.

    ``results`` are in the order of ``calls[start : start + batch_size]``. Once ``stop()``
    is true after a batch is ready, nothing more is yielded; the caller's pool shutdown
    cancels what is still queued.
    """
    pending: deque[Future[T]] = deque()
    in_flight = batch_size * (ahead + 1)
    submitted = 0
    for start in range(0, len(calls), batch_size):
        while submitted < min(len(calls), start + in_flight):
            pending.append(pool.submit(calls[submitted]))
            submitted += 1
        results = [pending.popleft().result() for _ in calls[start : start + batch_size]]
        if stop():
            return
        yield start, results
