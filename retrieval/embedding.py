"""Documents → passages with vectors in a PassageIndex, reusing vectors already computed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.encoders import Encoder, encode_in_batches
from retrieval.index import PassageIndex
from retrieval.passages import PassageSettings, split_passages
from retrieval.records import Document, Passage, Source, titled_text


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


@dataclass
class _Pending:
    """Documents whose passages still need vectors, gathered so encoding runs in big batches."""

    sources: list[Source] = field(default_factory=list)
    passages: list[list[Passage]] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    missing: list[tuple[int, int, str]] = field(default_factory=list)  # (doc, row, text)


def embed_documents(
    documents: Sequence[Document],
    encoder: Encoder,
    settings: PassageSettings,
    *,
    into: PassageIndex,
    reuse_from: PassageIndex | None = None,
    progress: bool = False,
) -> tuple[int, int]:
    """Cut, encode and add documents to `into`; returns (passages encoded, passages reused)."""
    known: dict[bytes, int] = {}
    if reuse_from is not None:
        for passage in reuse_from.passages.values():
            title = reuse_from.sources[passage.doc_id].title
            known[_text_key(titled_text(title, passage.text))] = passage.id
    pending = _Pending()
    reused = 0
    for number, document in enumerate(documents):
        passages = split_passages(document, encoder.count_tokens, settings)
        vectors = np.zeros((len(passages), encoder.dim), dtype=np.float32)
        for row, passage in enumerate(passages):
            text = titled_text(document.title, passage.text)
            old_id = known.get(_text_key(text))
            if old_id is not None and reuse_from is not None:
                vectors[row] = reuse_from.vectors([old_id])[0]
                reused += 1
            else:
                pending.missing.append((number, row, text))
        pending.sources.append(
            Source(document.doc_id, document.path, document.title, document.date, document.url)
        )
        pending.passages.append(passages)
        pending.vectors.append(vectors)
    fresh = encode_in_batches(
        encoder.encode_passages,
        [text for _, _, text in pending.missing],
        dim=encoder.dim,
        progress=progress,
    )
    for (number, row, _), vector in zip(pending.missing, fresh, strict=True):
        pending.vectors[number][row] = vector
    for source, passages, vectors in zip(
        pending.sources, pending.passages, pending.vectors, strict=True
    ):
        into.add_document(source, passages, vectors)
    return len(pending.missing), reused
