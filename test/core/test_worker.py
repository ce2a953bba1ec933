"""The latest-only worker: a slow consumer works on the newest item and never builds a backlog."""

from __future__ import annotations

import threading
import time

from vlm_seg_ros.core.worker import LatestOnlyWorker


def wait_until(done, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.005)
    return done()


def test_a_slow_consumer_gets_the_newest_item_and_the_rest_are_counted() -> None:
    seen: list[int] = []
    started, gate = threading.Event(), threading.Event()

    def process(item: int) -> None:
        started.set()
        gate.wait(30)
        seen.append(item)

    worker = LatestOnlyWorker(process, on_error=lambda item, exc: None)
    worker.submit(0)
    assert started.wait(30)  # item 0 is being processed (a condition, not a sleep)
    accepted = [worker.submit(i) for i in range(1, 101)]
    gate.set()
    assert wait_until(worker.idle)
    worker.stop()
    assert seen == [0, 100]
    assert accepted.count(True) == 1 and worker.replaced == 99
    assert (worker.submitted, worker.processed) == (101, 2)


def test_an_error_is_reported_and_the_worker_goes_on() -> None:
    errors: list[tuple[int, BaseException]] = []
    done: list[int] = []

    def process(item: int) -> None:
        if item == 1:
            raise RuntimeError('boom')
        done.append(item)

    worker = LatestOnlyWorker(process, on_error=lambda item, exc: errors.append((item, exc)))
    for item in (1, 2):
        worker.submit(item)
        assert wait_until(worker.idle)
    worker.stop()
    assert done == [2]
    assert [(item, str(exc)) for item, exc in errors] == [(1, 'boom')]
    assert worker.failed == 1


def test_stop_drops_the_waiting_item() -> None:
    started, gate = threading.Event(), threading.Event()
    seen: list[int] = []
    worker = LatestOnlyWorker(lambda item: (started.set(), gate.wait(30), seen.append(item)),
                              on_error=lambda item, exc: None)
    worker.submit(1)
    assert started.wait(30)  # item 1 is being processed
    worker.submit(2)
    gate.set()
    worker.stop()
    assert seen == [1]
