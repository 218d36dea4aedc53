"""Work done ahead in a pool and handed back a batch at a time, in order."""

from __future__ import annotations

from concurrent.futures import Future

from resnet_desktop.core.prefetch import batches_ahead


class RecordingPool:
    """Runs each call at once and remembers how many were submitted."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, call) -> Future:
        self.submitted += 1
        future: Future = Future()
        future.set_result(call())
        return future


def test_batches_come_in_order_with_the_given_number_in_flight():
    pool = RecordingPool()
    calls = [lambda i=i: i * 10 for i in range(7)]
    seen = []
    for start, results in batches_ahead(pool, calls, 3, 1, lambda: False):
        seen.append((start, results, pool.submitted))
    assert seen == [(0, [0, 10, 20], 6), (3, [30, 40, 50], 7), (6, [60], 7)]


def test_nothing_more_is_yielded_once_stop_says_so():
    pool = RecordingPool()
    calls = [lambda i=i: i for i in range(10)]
    answers = iter([False, True])
    got = list(batches_ahead(pool, calls, 4, 0, lambda: next(answers)))
    assert got == [(0, [0, 1, 2, 3])]
    assert pool.submitted == 8  # the second batch was started, then not handed over
