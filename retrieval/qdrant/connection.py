"""Where the Qdrant store lives, how to reach it, and its failures as one clear line.

CITEBOT_QDRANT_URL names a server (`http://host:6333`, `https://…`; the nodes of a cluster
separated by commas, tried in turn when one does not answer) or, for one machine
without a server, a folder: `edge:/path` for Qdrant's own engine in-process (qdrant-edge-py,
retrieval/qdrant/edge.py), `local:/path` for the client's local mode (a Python stand-in,
for tests and small corpora). The collection name is an alias that always points at a
complete collection.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from retrieval.errors import StoreUnreachableError

if TYPE_CHECKING:
    from qdrant_client import QdrantClient
    from qdrant_client.http.exceptions import UnexpectedResponse

IN_PROCESS = ("local:", "edge:")
_LOCAL_CLIENTS: dict[str, _Serialised] = {}
_LOCAL_LOCK = threading.Lock()


@dataclass(frozen=True)
class QdrantSettings:
    url: str
    api_key: str | None = None
    collection: str = "citebot"
    timeout: float = 10.0  # seconds a request may take
    shards: int = 1  # of a new collection; a cluster wants more (README, Qdrant cluster)
    replicas: int = 1

    @property
    def kind(self) -> str:
        """Which store the URL names: "server", "local" or "edge"."""
        for prefix in IN_PROCESS:
            if self.url.startswith(prefix):
                return prefix[:-1]
        return "server"

    @property
    def local_folder(self) -> str | None:
        """The folder of an in-process store (local or edge), None for a server."""
        return None if self.kind == "server" else self.url.split(":", 1)[1]

    def where(self) -> str:
        """The store as the user named it, for messages."""
        return f"Qdrant collection {self.collection!r} at {self.url}"


def connect(settings: QdrantSettings) -> QdrantClient:
    """A client for the store; a server is not contacted until the first request.

    An in-process store allows one client per folder and process: every caller in this
    process gets the same client for a folder, its calls serialised (local mode is not
    thread-safe).
    """
    from qdrant_client import QdrantClient

    folder = settings.local_folder
    with qdrant_errors(settings):
        if folder is not None:
            key = f"{settings.kind}:{Path(folder).resolve()}"
            with _LOCAL_LOCK:
                if not _LOCAL_CLIENTS:
                    atexit.register(_close_local_clients)
                if key not in _LOCAL_CLIENTS:
                    _LOCAL_CLIENTS[key] = _Serialised(_in_process(settings.kind, folder))
                return cast("QdrantClient", _LOCAL_CLIENTS[key])
        nodes = [
            QdrantClient(
                url=url,
                api_key=settings.api_key,
                timeout=max(1, round(settings.timeout)),
                check_compatibility=False,  # a request (and a warning) before the first one
                # Over plain HTTP a key would travel in clear text; the client warns, we allow
                # it for a cluster on a private network.
                https=url.startswith("https:"),
            )
            for url in settings.url.split(",")
            if url.strip()
        ]
        return nodes[0] if len(nodes) == 1 else cast("QdrantClient", _Failover(nodes))


@contextlib.contextmanager
def qdrant_errors(settings: QdrantSettings) -> Iterator[None]:
    """Turn what the client raises into StoreUnreachableError with one line saying why."""
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    try:
        yield
    except UnexpectedResponse as exc:
        if exc.status_code in (401, 403):
            raise StoreUnreachableError(
                f"Qdrant at {settings.url} refused the API key (HTTP {exc.status_code})"
            ) from None
        raise StoreUnreachableError(
            f"Qdrant at {settings.url} answered HTTP {exc.status_code}: {_server_error(exc)}"
        ) from None
    except ResponseHandlingException as exc:
        cause = exc.source if isinstance(exc.source, Exception) else exc
        if "timed out" in str(cause).lower() or "timeout" in type(cause).__name__.lower():
            raise StoreUnreachableError(
                f"Qdrant at {settings.url} did not answer within {settings.timeout:g} s"
            ) from None
        raise StoreUnreachableError(
            f"cannot reach Qdrant at {settings.url}: {_first_line(cause)}"
        ) from None
    except RuntimeError as exc:
        if "already accessed by another instance" in str(exc):
            raise StoreUnreachableError(
                f"another process has the local Qdrant store {settings.local_folder} open "
                "(local mode serves one process; run a Qdrant server to share it)"
            ) from None
        raise


def _in_process(kind: str, folder: str) -> object:
    if kind == "edge":
        try:
            from retrieval.qdrant.edge import EdgeClient
        except ImportError:
            raise StoreUnreachableError(
                "edge: stores need qdrant-edge-py: pip install 'citebot[edge]'"
            ) from None
        return EdgeClient(folder)
    from qdrant_client import QdrantClient

    return QdrantClient(path=folder)


def _close_local_clients() -> None:
    """Close local stores before the interpreter tears down what their finalisers need."""
    with _LOCAL_LOCK:
        for client in _LOCAL_CLIENTS.values():
            client.close()
        _LOCAL_CLIENTS.clear()


class _Failover:
    """Calls go to one node of a cluster; when it cannot be reached or does not answer in
    time, the call is repeated on the next (every call citebot makes may be repeated)."""

    def __init__(self, nodes: list[Any]) -> None:
        self._nodes = nodes
        self._current = 0

    def __getattr__(self, name: str) -> Any:
        from qdrant_client.http.exceptions import ResponseHandlingException

        def each_node(*args: Any, **kwargs: Any) -> Any:
            failure: Exception | None = None
            for step in range(len(self._nodes)):
                at = (self._current + step) % len(self._nodes)
                try:
                    found = getattr(self._nodes[at], name)(*args, **kwargs)
                except ResponseHandlingException as exc:
                    failure = exc
                    continue
                self._current = at
                return found
            raise cast(Exception, failure)

        return each_node


class _Serialised:
    """Every method call of the wrapped client under one lock."""

    def __init__(self, client: object) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if not callable(found):
            return found

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return found(*args, **kwargs)

        return locked


def _server_error(exc: UnexpectedResponse) -> str:
    try:
        return str(exc.structured()["status"]["error"])[:200]
    except (ValueError, KeyError, TypeError):
        return exc.reason_phrase or "no reason given"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
