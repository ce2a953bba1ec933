"""A background thread that processes only the newest item: the cure for a growing backlog.

Sensor callbacks hand each synchronised frame to :meth:`LatestOnlyWorker.submit` and return at
once. While the worker is busy, a newer frame replaces the one waiting (counted in
``replaced``), so the work done is always on the latest data and nothing queues up, however
slow a frame is.
"""

from __future__ import annotations

from collections.abc import Callable
import threading
from typing import Generic, TypeVar

Item = TypeVar('Item')


class LatestOnlyWorker(Generic[Item]):
    """Run ``process(item)`` on a thread for the newest submitted item."""

    def __init__(self, process: Callable[[Item], None], *,
                 on_error: Callable[[Item, BaseException], None], name: str = 'worker') -> None:
        """Start the thread.

        Args:
            process: called on the worker thread, one item at a time.
            on_error: called on the worker thread when ``process`` raises; the worker goes on
                with the next item.
            name: the thread's name.

        """
        self._process = process
        self._on_error = on_error
        self._condition = threading.Condition()
        self._pending: Item | None = None
        self._has_pending = False
        self._busy = False
        self._stopping = False
        self.submitted = 0
        self.replaced = 0
        self.processed = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> bool:
        """Hand over an item; returns False if it replaced one that was still waiting."""
        with self._condition:
            self.submitted += 1
            replaced = self._has_pending
            if replaced:
                self.replaced += 1
            self._pending, self._has_pending = item, True
            self._condition.notify()
        return not replaced

    def idle(self) -> bool:
        """Return whether nothing is waiting or being processed."""
        with self._condition:
            return not self._has_pending and not self._busy

    def stop(self, timeout: float = 5.0) -> None:
        """Drop any waiting item, let the current one finish (up to ``timeout`` s), end."""
        with self._condition:
            self._stopping = True
            self._pending, self._has_pending = None, False
            self._condition.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._has_pending or self._stopping)
                if self._stopping:
                    return
                item = self._pending
                self._pending, self._has_pending, self._busy = None, False, True
            try:
                self._process(item)  # type: ignore[arg-type]
                self.processed += 1
            except Exception as exc:  # noqa: BLE001 - reported, and the worker goes on
                self.failed += 1
                self._on_error(item, exc)  # type: ignore[arg-type]
            finally:
                with self._condition:
                    self._busy = False
