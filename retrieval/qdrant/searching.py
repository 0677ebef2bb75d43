"""Candidates from a Qdrant collection, scored as the embedded store scores them.

Two batched requests a round of questions. The first asks, per question, for the `depth`
best passages by cosine and by BM25 under the news filters, and for each query term's IDF
(a one-term query on the `terms` vector; retrieval/qdrant/layout.py). The second scores
the candidates only one signal found on the other signal, limited to their ids. The
lexical score divided by the most the question's terms could score is the share the
embedded store computes (retrieval/store/lexical.py), so fusion, the calibrated
confidence and abstention work unchanged on top.

Fusion stays in `Searcher`, not in Qdrant's server-side RRF or DBSF: those return one
fused score, and the confidence model needs each hit's cosine and lexical share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from retrieval.qdrant.collection import (
    check_meta,
    field_is,
    live_collection,
    read_meta,
    scroll_all,
)
from retrieval.qdrant.connection import QdrantSettings, qdrant_errors
from retrieval.qdrant.layout import (
    DENSE,
    KIND,
    LEXICAL,
    PASSAGE,
    SENTENCES,
    TERMS,
    day_number,
    passage_of,
    query_terms,
    source_of,
)
from retrieval.records import Passage, Source
from retrieval.search.candidates import Candidates, QuestionVectors
from retrieval.search.filters import Filters
from retrieval.store.lexical import K1

_NO_SENTENCES = np.zeros((0, 0), dtype=np.float32)


def open_index(
    client: QdrantClient, settings: QdrantSettings, *, model: str, passage_settings: str
) -> QdrantIndex:
    """The live collection, if it was built for this model and passage settings; its
    generation is read again on every call, so each question sees the latest reindex."""
    with qdrant_errors(settings):
        try:  # one request a question: the meta point, read through the alias
            meta = read_meta(client, settings.collection)
        except (ValueError, UnexpectedResponse):
            if live_collection(client, settings.collection) is not None:
                raise
            meta = None  # not indexed yet
    check_meta(meta, settings.where(), model=model, passage_settings=passage_settings)
    return QdrantIndex(client, settings, cast(dict[str, Any], meta))


class QdrantIndex:
    """One collection, searched through its alias; reads see every reindex at once."""

    def __init__(
        self, client: QdrantClient, settings: QdrantSettings, meta: dict[str, Any]
    ) -> None:
        self.client = client
        self.settings = settings
        self.alias = settings.collection
        self.meta = meta
        self.generation: str = meta["generation"]

    def __len__(self) -> int:
        return int(self.meta["passages"])

    def candidates(
        self,
        queries: Sequence[str],
        vectors: QuestionVectors,
        depth: int,
        filters: Filters | None = None,
    ) -> list[Candidates]:
        where = qdrant_filter(filters)
        terms = [query_terms(query) for query in queries]
        encoded = vectors()  # the dense requests carry them
        requests = []
        for vector, question_terms in zip(encoded, terms, strict=True):
            requests.append(_dense(vector, depth, where))
            if question_terms:
                requests.append(_lexical(question_terms, depth, where))
                requests.extend(_idf(term) for term in question_terms)
        answers = iter(self._query(requests))
        found = []
        for question_terms in terms:
            dense = next(answers).points
            lexical = next(answers).points if question_terms else []
            idfs = [_idf_of(next(answers).points) for _ in question_terms]
            found.append((dense, lexical, idfs))
        # The candidates one signal missed, scored on it: (question, signal) → request.
        fills: dict[tuple[int, str], models.QueryRequest] = {}
        for at, (vector, question_terms, (dense, lexical, _)) in enumerate(
            zip(encoded, terms, found, strict=True)
        ):
            dense_ids = {p.id for p in dense}
            lexical_ids = {p.id for p in lexical}
            no_cosine = [p.id for p in lexical if p.id not in dense_ids]
            no_bm25 = [p.id for p in dense if p.id not in lexical_ids]
            if no_cosine:
                fills[at, DENSE] = _dense(vector, len(no_cosine), _only(no_cosine))
            if no_bm25 and question_terms:
                fills[at, LEXICAL] = _lexical(question_terms, len(no_bm25), _only(no_bm25))
        filled = dict(zip(fills, self._query(list(fills.values())), strict=True)) if fills else {}
        total = len(self)
        results = []
        for at, (dense, lexical, idfs) in enumerate(found):
            more_dense = filled[at, DENSE].points if (at, DENSE) in filled else []
            more_lexical = filled[at, LEXICAL].points if (at, LEXICAL) in filled else []
            results.append(
                _candidates([*dense, *more_dense], [*lexical, *more_lexical], idfs, total)
            )
        return results

    def _query(self, requests: list[models.QueryRequest]) -> list[models.QueryResponse]:
        with qdrant_errors(self.settings):
            return self.client.query_batch_points(self.alias, requests)

    def stored_sentences(self, passages: Sequence[Passage]) -> list[np.ndarray]:
        with qdrant_errors(self.settings):
            found = self.client.retrieve(
                self.alias, [p.id for p in passages], with_payload=False, with_vectors=[SENTENCES]
            )
        by_id = {
            int(point.id): np.asarray(point.vector[SENTENCES], dtype=np.float32)
            for point in found
            if isinstance(point.vector, dict) and point.vector.get(SENTENCES) is not None
        }
        return [by_id.get(p.id, _NO_SENTENCES) for p in passages]

    def document_passages(self, doc_id: str) -> list[Passage]:
        where = models.Filter(must=[field_is("doc_id", doc_id), field_is(KIND, PASSAGE)])
        with qdrant_errors(self.settings):
            points = list(scroll_all(self.client, self.alias, where, with_payload=True))
        passages = [passage_of(int(p.id), p.payload or {}) for p in points]
        return sorted(passages, key=lambda p: p.start)


def qdrant_filter(filters: Filters | None) -> models.Filter | None:
    """The news filters as a payload filter on the passages' `day` and `source` fields."""
    if not filters:
        return None
    conditions: list[models.Condition] = []
    if filters.since or filters.until:
        dated = models.Range(gte=day_number(filters.since), lte=day_number(filters.until))
        conditions.append(models.FieldCondition(key="day", range=dated))
    if filters.source:
        needle = models.MatchSubstring(substring=filters.source.casefold())
        conditions.append(models.FieldCondition(key="source", match=needle))
    return models.Filter(must=conditions)


def _candidates(
    dense_found: Sequence[models.ScoredPoint],
    lexical_found: Sequence[models.ScoredPoint],
    idfs: list[float | None],
    total: int,
) -> Candidates:
    """One question's candidates; `idfs` holds each query term's IDF, None for a term no
    passage holds (counted at the highest IDF, as the embedded store counts it)."""
    dense = {int(p.id): float(p.score) for p in dense_found}
    raw = {int(p.id): float(p.score) for p in lexical_found}
    known = [idf for idf in idfs if idf is not None]
    unseen = math.log1p((total + 0.5) / 0.5) * (len(idfs) - len(known))
    best = (K1 + 1) * (sum(known) + unseen)
    lexical = {key: raw.get(key, 0.0) / best if known else 0.0 for key in dense}
    payloads = {int(p.id): p.payload for p in (*dense_found, *lexical_found) if p.payload}
    passages = {key: passage_of(key, payloads[key]) for key in dense}
    sources: dict[str, Source] = {}
    for key, passage in passages.items():
        if passage.doc_id not in sources:
            sources[passage.doc_id] = source_of(payloads[key])
    return Candidates(dense, lexical, passages, sources)


def _dense(vector: np.ndarray, limit: int, where: models.Filter | None) -> models.QueryRequest:
    return models.QueryRequest(
        query=vector.tolist(), using=DENSE, limit=limit, filter=where, with_payload=True
    )


def _lexical(terms: list[int], limit: int, where: models.Filter | None) -> models.QueryRequest:
    query = models.SparseVector(indices=terms, values=[1.0] * len(terms))
    return models.QueryRequest(
        query=query, using=LEXICAL, limit=limit, filter=where, with_payload=True
    )


def _idf(term: int) -> models.QueryRequest:
    query = models.SparseVector(indices=[term], values=[1.0])
    return models.QueryRequest(query=query, using=TERMS, limit=1, with_payload=False)


def _idf_of(points: Sequence[models.ScoredPoint]) -> float | None:
    return float(points[0].score) if points else None


def _only(ids: list[int]) -> models.Filter:
    return models.Filter(must=[models.HasIdCondition(has_id=ids)])
