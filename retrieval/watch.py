"""Follow the corpus folder and reindex after each burst of edits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from retrieval.documents import SUPPORTED_SUFFIXES
from retrieval.engine import Engine
from retrieval.errors import CitebotError
from retrieval.indexer import IndexReport

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".meta.json"


def relevant_change(_change: object, path: str) -> bool:
    """Documents and their sidecars; editor swap files, hidden files and folders are noise."""
    name = Path(path).name
    if name.startswith((".", "~$")):
        return False
    return name.endswith(SIDECAR_SUFFIX) or Path(name).suffix.lower() in SUPPORTED_SUFFIXES


def watch_corpus(
    engine: Engine,
    on_report: Callable[[IndexReport], None],
    *,
    debounce_ms: int = 1000,
    stop: threading.Event | None = None,
) -> None:
    """Index once, then again after every debounced burst of changes, until `stop` is set.

    A failed run (another indexer holds the lock, a disk error) is logged and retried on
    the next change; the index that was live stays live.
    """
    from watchfiles import watch

    corpus = engine.config.corpus
    _index(engine, on_report)
    for changes in watch(
        corpus,
        watch_filter=relevant_change,
        debounce=debounce_ms,
        stop_event=stop,
        raise_interrupt=False,
    ):
        log.info("%d changes in %s/", len(changes), corpus)
        _index(engine, on_report)


def _index(engine: Engine, on_report: Callable[[IndexReport], None]) -> None:
    try:
        on_report(engine.build_index())
    except CitebotError as exc:
        log.error("reindex failed, the previous index keeps serving: %s", exc)
