"""One generation of the index as searched: the live rows of its segments, end to end.

A generation is a set of segments (retrieval/store/segment.py) and, for each document, the run
of rows that holds its passages; every other row is dead (a document edited or deleted
since the segment was written). Vectors, ids and term counts stay memory-mapped in the
segments; a passage's text is read from its segment when a search needs it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.records import Passage, Source
from retrieval.search.candidates import Candidates, QuestionVectors
from retrieval.search.filters import Filters
from retrieval.store.ann import search_graph, worth_graph
from retrieval.store.lexical import LexicalIndex
from retrieval.store.segment import Segment

_CACHED_PASSAGES = 4096  # candidates recur across questions; each is a SQLite read


@dataclass(frozen=True)
class DocumentRows:
    """Where a document's passages are: `count` rows of `segment` from `first`."""

    segment: str
    first: int
    count: int


class PassageIndex:
    """Search and look-ups over one generation; immutable, shared between threads."""

    def __init__(
        self,
        dim: int,
        segments: Sequence[Segment],
        documents: Mapping[str, DocumentRows],
        sources: Mapping[str, Source],
        *,
        approximate: bool = True,
    ) -> None:
        self.dim = dim
        self.approximate = approximate  # search through the segments' graphs, where built
        self.segments = list(segments)
        self.sources = dict(sources)
        self._offsets = np.cumsum([0, *(s.rows for s in self.segments)]).astype(np.int64)
        offset_of = {s.name: int(o) for s, o in zip(self.segments, self._offsets, strict=False)}
        rows_in = {s.name: s.rows for s in self.segments}
        self._ids = (
            np.concatenate([s.ids for s in self.segments])
            if self.segments
            else np.zeros(0, dtype=np.int64)
        )
        self.live = np.zeros(len(self._ids), dtype=bool)
        self._doc_rows: dict[str, range] = {}
        for doc_id, rows in documents.items():
            if not rows.count:
                continue
            first = offset_of[rows.segment] + rows.first
            if rows.first < 0 or rows.first + rows.count > rows_in[rows.segment]:
                raise ValueError(f"{doc_id} points past the end of segment {rows.segment}")
            self._doc_rows[doc_id] = range(first, first + rows.count)
            self.live[first : first + rows.count] = True
        live_rows = np.flatnonzero(self.live)
        order = np.argsort(self._ids[live_rows], kind="stable")
        self._sorted_ids = self._ids[live_rows][order]
        self._sorted_rows = live_rows[order]
        self.lexical = LexicalIndex([s.terms for s in self.segments], self._offsets[:-1], self.live)
        self._cache: OrderedDict[int, Passage] = OrderedDict()
        self._cache_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sorted_ids)

    # --- rows and ids ---------------------------------------------------------------------

    def rows_of(self, ids: Iterable[int]) -> np.ndarray:
        """The row of each live passage id; -1 for an id this generation does not hold."""
        wanted = np.fromiter(ids, dtype=np.int64)
        if not len(self._sorted_ids):
            return np.full(len(wanted), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted_ids, wanted), len(self._sorted_ids) - 1)
        return np.where(self._sorted_ids[at] == wanted, self._sorted_rows[at], -1)

    def id_at(self, row: int) -> int:
        return int(self._ids[row])

    def document_rows(self, doc_id: str) -> range:
        return self._doc_rows.get(doc_id, range(0))

    def selection(self, doc_ids: Iterable[str]) -> np.ndarray:
        """A mask over rows: the passages of these documents."""
        mask = np.zeros(len(self.live), dtype=bool)
        for doc_id in doc_ids:
            rows = self.document_rows(doc_id)
            mask[rows.start : rows.stop] = True
        return mask

    # --- passages and vectors -------------------------------------------------------------

    def passages_at(self, rows: Sequence[int]) -> list[Passage]:
        with self._cache_lock:
            found = {row: self._cache[row] for row in rows if row in self._cache}
        missing = [row for row in dict.fromkeys(rows) if row not in found]
        segment_of = np.searchsorted(self._offsets, missing, side="right") - 1
        by_segment: dict[int, list[int]] = {}
        for row, number in zip(missing, segment_of.tolist(), strict=True):
            by_segment.setdefault(number, []).append(row)
        for number, global_rows in by_segment.items():
            offset = int(self._offsets[number])
            local = [row - offset for row in global_rows]
            fetched = self.segments[number].passages(local)
            found.update(zip(global_rows, fetched, strict=True))
        with self._cache_lock:
            for row in missing:
                self._cache[row] = found[row]
            while len(self._cache) > _CACHED_PASSAGES:
                self._cache.popitem(last=False)
        return [found[row] for row in rows]

    def document_passages(self, doc_id: str) -> list[Passage]:
        return self.passages_at(list(self.document_rows(doc_id)))

    def iter_passages(self) -> Iterator[Passage]:
        """Every live passage, document by document (read from disk as it goes)."""
        for doc_id in self.sources:
            yield from self.document_passages(doc_id)

    def vectors_at(self, rows: Sequence[int]) -> np.ndarray:
        wanted = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(wanted), self.dim), dtype=np.float32)
        segment_of = np.searchsorted(self._offsets, wanted, side="right") - 1
        for number in np.unique(segment_of).tolist():
            at = np.flatnonzero(segment_of == number)
            local = wanted[at] - self._offsets[number]
            out[at] = self.segments[number].vector_rows.take(local.tolist())
        return out

    def sentence_vectors(self, row: int) -> np.ndarray:
        """The stored vectors of a row's sentences; empty when it has none."""
        number = int(np.searchsorted(self._offsets, row, side="right")) - 1
        return self.segments[number].sentence_vectors(row - int(self._offsets[number]))

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors of these live passages, in this order."""
        return self.vectors_at(self.rows_of(ids).tolist())

    def known_vectors(self, keys: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Vectors of texts embedded before, in any row of the segments, live or not
        (retrieval/store/embedding.py)."""
        missing = np.ones(len(keys), dtype=bool)
        for segment in self.segments:
            wanted = np.flatnonzero(missing)
            if not len(wanted):
                return
            rows = segment.rows_with_keys(keys[wanted])
            positions, found = wanted[rows >= 0], rows[rows >= 0]
            missing[positions] = False
            vectors = segment.vector_rows.take(found.tolist())
            for at, row, vector in zip(positions.tolist(), found.tolist(), vectors, strict=True):
                yield at, vector, segment.sentence_vectors(row)

    def stored_sentences(self, passages: Sequence[Passage]) -> list[np.ndarray]:
        rows = self.rows_of(p.id for p in passages).tolist()
        return [self.sentence_vectors(row) if row >= 0 else np.zeros((0, 0)) for row in rows]

    # --- search ---------------------------------------------------------------------------

    def candidates(
        self,
        queries: Sequence[str],
        vectors: QuestionVectors,
        depth: int,
        filters: Filters | None = None,
    ) -> list[Candidates]:
        """Per question, the `depth` best rows by cosine and by BM25 (retrieval/search/
        candidates.py), keyed by row; every candidate gets the other signal's score too.

        The first question's BM25 runs before the vectors are asked for, while the
        encoder may still be running.
        """
        allowed = None
        if filters:
            admitted = [doc for doc, source in self.sources.items() if filters.admits(source)]
            if not admitted:
                return [Candidates({}, {}, {}, {}) for _ in queries]
            allowed = self.selection(admitted)
        encoded: np.ndarray | None = None
        found_dense: list[list[tuple[int, float]]] = []
        results = []
        for at, query in enumerate(queries):
            lexical_scores = self.lexical.scores(query)
            if allowed is not None:
                lexical_scores = np.where(allowed, lexical_scores, np.float32(0))
            lexical_top = self.lexical.top(lexical_scores, depth)
            if encoded is None:
                encoded = vectors()
                found_dense = self.search(encoded, depth, allowed)
            dense = dict(found_dense[at])  # row → cosine
            missing = [row for row, _ in lexical_top if row not in dense]
            if missing:
                scores = self.vectors_at(missing) @ encoded[at]
                dense.update(zip(missing, scores.tolist(), strict=True))
            lexical = {row: float(lexical_scores[row]) for row in dense}
            passages = dict(zip(dense, self.passages_at(list(dense)), strict=True))
            sources = {p.doc_id: self.sources[p.doc_id] for p in passages.values()}
            results.append(Candidates(dense, lexical, passages, sources))
        return results

    def search(
        self, query_vectors: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[list[tuple[int, float]]]:
        """Top-k (row, cosine) per query vector, best first; only `allowed` rows when given.

        Each segment is searched exactly, or through its HNSW graph when it has one, this
        index is `approximate`, and the search is not confined to a small share of the
        segment; the best of all segments are kept.
        """
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        mask = self.live if allowed is None else allowed & self.live
        found_scores, found_rows = [], []
        for segment, offset in zip(self.segments, self._offsets.tolist(), strict=False):
            segment_mask = mask[offset : offset + segment.rows]
            if k <= 0 or not segment_mask.any():
                continue
            graph = segment.approximate if self.approximate else None
            if graph is not None and worth_graph(segment_mask):
                scores, rows = search_graph(graph, segment.vector_rows, queries, k, segment_mask)
            else:
                scores, rows = exact_search(segment.vectors, queries, k, segment_mask)
            found_scores.append(scores)
            found_rows.append(np.where(rows >= 0, rows + offset, -1))
        if not found_scores:
            return [[] for _ in range(len(queries))]
        scores = np.concatenate(found_scores, axis=1)
        rows = np.concatenate(found_rows, axis=1)
        results = []
        for row_scores, row_rows in zip(scores, rows, strict=True):
            order = np.argsort(-row_scores, kind="stable")[:k]
            results.append(
                [(int(row_rows[i]), float(row_scores[i])) for i in order if row_rows[i] >= 0]
            )
        return results


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows of `mask` by inner product, per query: (scores, rows), -1 past the end."""
    if mask.all():
        rows = None
        scores = queries @ np.asarray(vectors).T
    else:
        rows = np.flatnonzero(mask)
        scores = queries @ np.asarray(vectors[rows]).T
    k = min(k, scores.shape[1])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best_scores = np.take_along_axis(scores, best, axis=1)
    return best_scores, best if rows is None else rows[best]
