"""Every error the engine raises on purpose.

    CitebotError                 base: the faces turn it into a one-line message
    ├── DocumentError            one file cannot be read; indexing skips it and records why
    │   └── RefusedDocumentError a file citebot must never read (a link out of the corpus, a
    │                            name that is not UTF-8): skipped, and its old passages dropped
    ├── EncoderError             the embedding model is missing or cannot load
    ├── IndexStoreError          a damaged or unreadable index
    │   ├── IndexMissingError    nothing indexed yet
    │   ├── IndexMismatchError   the index was built with another model or passage settings
    │   └── StoreUnreachableError a Qdrant store cannot be reached, refuses the key, or times out
    ├── IndexLockedError         another indexer holds the lock
    ├── CorpusEmptiedError       every indexed file is gone at once (an unmounted share?)
    └── EvalSetError             an evaluation folder is not in the BEIR layout

Messages say what to do next, not only what went wrong.
"""

from __future__ import annotations


class CitebotError(Exception):
    """Base class; the message is meant for the user as it stands."""


class DocumentError(CitebotError):
    """A document could not be turned into text."""


class RefusedDocumentError(DocumentError):
    """A corpus entry that must not be read at all; whatever it had in the index goes."""


class EncoderError(CitebotError):
    """The embedding model cannot be loaded."""


class IndexStoreError(CitebotError):
    """The index store is unusable; `reason` is the message without the advice."""

    def __init__(self, reason: str, advice: str = "run `citebot index --rebuild`") -> None:
        super().__init__(f"{reason}: {advice}")
        self.reason = reason


class IndexMissingError(IndexStoreError):
    """Nothing has been indexed in this folder yet."""


class IndexMismatchError(IndexStoreError):
    """The stored index does not fit the configured model or passage settings."""


class StoreUnreachableError(IndexStoreError):
    """The Qdrant store does not answer, refuses us, or answers too late."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "check CITEBOT_QDRANT_URL and CITEBOT_QDRANT_API_KEY")


class IndexLockedError(CitebotError):
    """Another process is writing the index."""


class CorpusEmptiedError(CitebotError):
    """A run would remove every indexed document; `citebot index --allow-empty` confirms it."""

    def __init__(self, message: str, documents: int) -> None:
        super().__init__(message)
        self.documents = documents


class EvalSetError(CitebotError):
    """An evaluation set is missing files or has malformed lines."""
