"""One indexer at a time, across machines: a lease point in the live collection.

A file lock only guards one machine's disk. The lease is a point that an indexer creates
with an insert-only write (Qdrant refuses to overwrite an existing one), or takes over
with a write conditioned on the old lease having expired; it then reads the point back
and holds the lease only if the point names it. A thread renews it while the run works; a
killed indexer's lease lapses after LEASE_SECONDS (at once for the next run on the same
machine, which can see that the holder's process is gone). Both writes are applied
atomically by Qdrant (1.16 or later).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

from qdrant_client import QdrantClient, models

from retrieval.errors import IndexLockedError
from retrieval.qdrant.collection import field_is
from retrieval.qdrant.layout import KIND, LEASE, LEASE_ID

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0


class Lease:
    """The write lease on a collection, held by this process."""

    def __init__(self, client: QdrantClient, collection: str, holder: str | None = None) -> None:
        self.client = client
        self.collection = collection
        self.holder = holder or f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex[:8]}"
        self._released = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> None:
        """Raises IndexLockedError when another indexer holds an unexpired lease.

        A lease whose holder ran on this machine and is gone (killed) is taken over at once.
        """
        self._write(models.UpdateMode.INSERT_ONLY, None)
        payload = self._read()
        if payload.get("holder") != self.holder:
            lapsed = models.FieldCondition(key="expires", range=models.Range(lt=time.time()))
            if _dead_here(str(payload.get("holder", ""))):
                lapsed = field_is("holder", str(payload["holder"]))
            self._write(None, models.Filter(must=[lapsed]))
            payload = self._read()
        if payload.get("holder") != self.holder:
            left = max(0.0, float(payload.get("expires", 0)) - time.time())
            raise IndexLockedError(
                f"another indexer ({payload.get('holder', 'unknown')}) is updating "
                f"{self.collection}; its lease lapses in {left:.0f} s unless it is renewed"
            )
        self._keep_alive()

    def held_in(self, collection: str) -> Lease:
        """The same holder's lease in `collection` (the one a rebuild is about to switch to)."""
        lease = Lease(self.client, collection, self.holder)
        lease._write(None, None)
        lease._keep_alive()
        return lease

    def release(self) -> None:
        self._released.set()
        if self._renewer is not None:
            self._renewer.join()  # so that no renewal lands after the delete
        mine = models.Filter(must=[models.HasIdCondition(has_id=[LEASE_ID]), *self._mine().must])
        with contextlib.suppress(Exception):  # the collection may be gone (a rebuild's old one)
            self.client.delete(self.collection, points_selector=models.FilterSelector(filter=mine))

    def _keep_alive(self) -> None:
        """Renew the lease every quarter of its term until it is released, from a thread:
        a run may spend many minutes in one encoder call."""

        def renew() -> None:
            while not self._released.wait(LEASE_SECONDS / 4):
                try:
                    self._write(None, self._mine())
                except Exception as exc:  # the next attempt may succeed; the run goes on
                    log.warning("could not renew the indexing lease: %s", exc)

        self._renewer = threading.Thread(target=renew, name="qdrant-lease", daemon=True)
        self._renewer.start()

    def _mine(self) -> models.Filter:
        return models.Filter(must=[field_is("holder", self.holder)])

    def _read(self) -> dict[str, object]:
        found = self.client.retrieve(self.collection, [LEASE_ID], with_payload=True)
        return dict(found[0].payload or {}) if found else {}

    def _write(self, mode: models.UpdateMode | None, condition: models.Filter | None) -> None:
        payload = {KIND: LEASE, "holder": self.holder, "expires": time.time() + LEASE_SECONDS}
        self.client.upsert(
            self.collection,
            [models.PointStruct(id=LEASE_ID, vector={}, payload=payload)],
            update_mode=mode,
            update_filter=condition,
        )


def _dead_here(holder: str) -> bool:
    """Whether `holder` names a process of this machine that no longer runs."""
    host, _, rest = holder.partition(" pid ")
    pid = rest.split(" ")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextlib.contextmanager
def leased(client: QdrantClient, collection: str) -> Iterator[Lease]:
    lease = Lease(client, collection)
    lease.acquire()
    try:
        yield lease
    finally:
        lease.release()
