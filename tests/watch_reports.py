"""Index reports from a watcher thread, and a way to wait for the one a test expects."""

from __future__ import annotations

import threading
from collections.abc import Callable

from retrieval.store.indexer import IndexReport


class Reports:
    """Pass as `watch_corpus`'s `on_report`; `wait_for` blocks until a condition holds."""

    def __init__(self) -> None:
        self.items: list[IndexReport] = []
        self._arrived = threading.Condition()

    def __call__(self, report: IndexReport) -> None:
        with self._arrived:
            self.items.append(report)
            self._arrived.notify_all()

    def __len__(self) -> int:
        return len(self.items)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> bool:
        with self._arrived:
            return self._arrived.wait_for(condition, timeout=timeout)
