"""Documents into a collection, in an order that a killed run cannot leave half-served.

For a batch of documents: their document points are marked incomplete first; then their
passages are upserted (an unchanged passage keeps its id, so it is overwritten in place);
then their points from earlier runs are deleted; then the document points are completed.
A run killed anywhere leaves incomplete documents, which the next run treats as changed
and writes again. Meanwhile readers may, for a moment, see an edited document's old and
new passages side by side; identical ones fold into one hit.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from retrieval.qdrant.collection import field_is
from retrieval.qdrant.layout import (
    DENSE,
    FORMAT,
    KIND,
    LEXICAL,
    META,
    META_ID,
    PASSAGE,
    SENTENCES,
    TERMS,
    bm25_weights,
    document_payload,
    document_point_id,
    passage_payload,
    skipped_payload,
    term_counts,
)
from retrieval.records import Passage, SkippedFile, Source
from retrieval.store.generations import DocumentEntry, now_iso
from retrieval.store.segment import text_key

POINTS_PER_REQUEST = 256
_NO_VECTORS = np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class DocumentRows:
    """One document ready to write: its entry and its passages with what was embedded."""

    doc_id: str
    entry: DocumentEntry
    passages: Sequence[Passage]
    texts: Sequence[str]  # titled_text(title, passage.text), as embedded and analysed
    vectors: np.ndarray
    sentences: Sequence[np.ndarray]  # each passage's sentence vectors, empty where none


def average_length(texts: Sequence[str]) -> float:
    """The mean number of analysed terms: BM25's length norm for a collection filled now."""
    if not texts:
        return 1.0
    return sum(sum(term_counts(text).values()) for text in texts) / len(texts)


class CollectionWriter:
    """Writes into a collection whose lease the caller holds (retrieval/qdrant/lease.py)."""

    def __init__(self, client: QdrantClient, collection: str, average: float | None) -> None:
        """`average` is BM25's length norm kept from an earlier run; None measures it on
        the first passages written."""
        self.client = client
        self.collection = collection
        self.average = average
        self.run = uuid.uuid4().hex  # marks this run's passage points

    def write(self, documents: Sequence[DocumentRows]) -> None:
        if not documents:
            return
        if self.average is None:
            texts = [text for document in documents for text in document.texts]
            self.average = average_length(texts) if texts else None
        self._documents(documents, complete=False)
        points = [
            self._passage_point(document, at)
            for document in documents
            for at in range(len(document.passages))
        ]
        for begin in range(0, len(points), POINTS_PER_REQUEST):
            self.client.upsert(self.collection, points[begin : begin + POINTS_PER_REQUEST])
        stale = models.Filter(
            must=[_any("doc_id", [d.doc_id for d in documents]), field_is(KIND, PASSAGE)],
            must_not=[field_is("run", self.run)],
        )
        self.client.delete(self.collection, models.FilterSelector(filter=stale))
        self._documents(documents, complete=True)

    def remove(self, doc_ids: Sequence[str]) -> None:
        """Delete documents and their passages."""
        if not doc_ids:
            return
        passages = models.Filter(must=[_any("doc_id", list(doc_ids)), field_is(KIND, PASSAGE)])
        self.client.delete(self.collection, models.FilterSelector(filter=passages))
        self.client.delete(
            self.collection, models.PointIdsList(points=[document_point_id(d) for d in doc_ids])
        )

    def restamp(self, entries: Mapping[str, DocumentEntry]) -> None:
        """Rewrite the entries of documents whose passages stay (a touched file's stamps)."""
        for begin in range(0, len(entries), POINTS_PER_REQUEST):
            batch = list(entries.items())[begin : begin + POINTS_PER_REQUEST]
            self._documents(
                [DocumentRows(d, e, (), (), _NO_VECTORS, ()) for d, e in batch], complete=True
            )

    def finish(
        self,
        *,
        model: str,
        encoder_build: str,
        dim: int,
        passage_settings: str,
        documents: int,
        passages: int,
        skipped: Sequence[SkippedFile],
        failed: Sequence[SkippedFile],
        generation: str | None,
    ) -> str:
        """Write the meta point, naming a new generation unless `generation` is given (nothing
        a search sees has changed). Returns the generation."""
        generation = generation or f"q{time.time_ns()}"
        meta: dict[str, Any] = {
            KIND: META,
            "format": FORMAT,
            "model": model,
            "encoder_build": encoder_build,
            "dim": dim,
            "passage_settings": passage_settings,
            "average_length": self.average or 1.0,
            "generation": generation,
            "created_at": now_iso(),
            "documents": documents,
            "passages": passages,
            "skipped": skipped_payload(skipped),
            "failed": skipped_payload(failed),
        }
        point = models.PointStruct(id=META_ID, vector={}, payload=meta)
        self.client.upsert(self.collection, [point])
        return generation

    def _documents(self, documents: Sequence[DocumentRows], *, complete: bool) -> None:
        self.client.upsert(
            self.collection,
            [
                models.PointStruct(
                    id=document_point_id(d.doc_id),
                    vector={},
                    payload=document_payload(d.doc_id, d.entry, complete=complete),
                )
                for d in documents
            ],
        )

    def _passage_point(self, document: DocumentRows, at: int) -> models.PointStruct:
        passage = document.passages[at]
        counts = term_counts(document.texts[at])
        weights = bm25_weights(counts, self.average or 1.0)
        indices = sorted(weights)
        vectors: dict[str, Any] = {DENSE: document.vectors[at].tolist()}
        if len(document.sentences[at]) > 1:
            vectors[SENTENCES] = document.sentences[at].tolist()
        if indices:
            vectors[LEXICAL] = models.SparseVector(
                indices=indices, values=[weights[i] for i in indices]
            )
            vectors[TERMS] = models.SparseVector(indices=indices, values=[1.0] * len(indices))
        source = Source(
            document.doc_id,
            document.doc_id,
            document.entry.title,
            document.entry.date,
            document.entry.url,
        )
        return models.PointStruct(
            id=passage.id,
            vector=vectors,
            payload=passage_payload(passage, source, text_key(document.texts[at]), self.run),
        )


def _any(key: str, values: list[str]) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchAny(any=values))
