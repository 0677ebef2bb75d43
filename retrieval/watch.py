"""Follow the corpus folder and reindex after each burst of edits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from retrieval.documents.loading import SUPPORTED_SUFFIXES
from retrieval.engine import Engine
from retrieval.errors import CitebotError
from retrieval.store.indexer import IndexReport

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".meta.json"
# How long the watcher waits for an event before it looks round; a pending catch-up
# reindex runs then, once the watcher is known to be listening.
CATCH_UP_MS = 500


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

    A failed run (another indexer holds the lock, a disk error, an emptied folder) is logged
    and retried on the next change; the index that was live stays live. Each reindex that
    follows (re)starting the watcher runs only once the watcher listens, so an edit made
    in between is never missed.
    """
    from watchfiles import watch
    from watchfiles._rust_notify import WatchfilesRustInternalError

    corpus = engine.config.corpus
    catch_up = True
    while stop is None or not stop.is_set():
        try:
            for changes in watch(
                corpus,
                watch_filter=relevant_change,
                debounce=debounce_ms,
                stop_event=stop,
                raise_interrupt=False,
                rust_timeout=CATCH_UP_MS,
                yield_on_timeout=True,
            ):
                if changes or catch_up:
                    log.info("%d changes in %s/", len(changes), corpus)
                    catch_up = False
                    _index(engine, on_report)
            return
        except WatchfilesRustInternalError as exc:
            # Raised for a file name that is not UTF-8, which watchfiles cannot turn into a
            # str: indexing skips and reports that file, and watching starts over.
            log.warning("restarting the watcher after: %s", exc)
            catch_up = True


def _index(engine: Engine, on_report: Callable[[IndexReport], None]) -> None:
    try:
        on_report(engine.build_index())
    except CitebotError as exc:
        log.error("reindex failed, the previous index keeps serving: %s", exc)
