"""One indexer at a time per index folder, with a lock a crashed process cannot leave stuck."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrieval.errors import IndexLockedError, IndexStoreError

LOCK_FILE = ".lock"


@contextmanager
def index_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive flock on the index folder; the kernel drops it when the process dies."""
    path = root / LOCK_FILE
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise IndexStoreError(
            f"cannot write to the index folder {root}/ ({exc.strerror})",
            "make the folder writable or choose another with --index",
        ) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexLockedError(
                f"another indexer (pid {holder}) is writing {root}/: wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
