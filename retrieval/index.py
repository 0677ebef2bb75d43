"""The in-memory passage index: a FAISS inner-product index keyed by stable passage ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import faiss
import numpy as np

from retrieval.lexical import LexicalIndex
from retrieval.records import Passage, Source, titled_text


class PassageIndex:
    """Vectors in FAISS (exact inner product), a BM25 index, passages and their sources.

    Ids are the passages' own stable ids, so an id found by FAISS is looked up directly.
    The BM25 index is rebuilt on first use after a change (or loaded with a generation).
    """

    def __init__(self, dim: int, faiss_index: faiss.Index | None = None) -> None:
        # A flat search for a handful of queries is over in milliseconds on one thread; more
        # OpenMP threads only fight torch for the same cores (2-core laptop: 16 ms vs 94 ms).
        faiss.omp_set_num_threads(1)
        self.dim = dim
        self._faiss = faiss_index or faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.passages: dict[int, Passage] = {}
        self.sources: dict[str, Source] = {}
        self._ids_by_doc: dict[str, list[int]] = {}
        self._lexical: LexicalIndex | None = None

    @classmethod
    def restore(
        cls,
        dim: int,
        faiss_index: faiss.Index,
        sources: Iterable[Source],
        passages: Iterable[Passage],
        lexical: LexicalIndex | None = None,
    ) -> PassageIndex:
        """Rebuild the lookup tables around a FAISS index (and BM25 index) read from disk."""
        index = cls(dim, faiss_index)
        index.sources = {s.doc_id: s for s in sources}
        for passage in passages:
            index.passages[passage.id] = passage
            index._ids_by_doc.setdefault(passage.doc_id, []).append(passage.id)
        index._lexical = lexical
        return index

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            self._lexical = LexicalIndex.build(
                (p.id, titled_text(self.sources[p.doc_id].title, p.text))
                for p in self.passages.values()
            )
        return self._lexical

    def __len__(self) -> int:
        return len(self.passages)

    @property
    def faiss_index(self) -> faiss.Index:
        return self._faiss

    def add_document(
        self, source: Source, passages: Sequence[Passage], vectors: np.ndarray
    ) -> None:
        """Add one document's passages, replacing whatever that document had before."""
        if len(passages) != len(vectors):
            raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
        self.remove_document(source.doc_id)
        self._lexical = None
        self.sources[source.doc_id] = source
        self._ids_by_doc[source.doc_id] = [p.id for p in passages]
        if passages:
            ids = np.fromiter((p.id for p in passages), dtype=np.int64, count=len(passages))
            self._faiss.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
            self.passages.update((p.id, p) for p in passages)

    def remove_document(self, doc_id: str) -> None:
        ids = self._ids_by_doc.pop(doc_id, [])
        self._lexical = None
        if ids:
            self._faiss.remove_ids(np.asarray(ids, dtype=np.int64))
            for pid in ids:
                del self.passages[pid]
        self.sources.pop(doc_id, None)

    def passage_ids(self, doc_ids: Iterable[str]) -> np.ndarray:
        """The ids of these documents' passages."""
        ids = [pid for doc_id in doc_ids for pid in self._ids_by_doc.get(doc_id, [])]
        return np.asarray(ids, dtype=np.int64)

    def document_passages(self, doc_id: str) -> list[Passage]:
        return [self.passages[pid] for pid in self._ids_by_doc.get(doc_id, [])]

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors of these passages, in this order, for reuse without re-encoding."""
        id_list = list(ids)
        if not id_list:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._faiss.reconstruct(int(pid)) for pid in id_list])

    def search(
        self, query_vectors: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[list[tuple[Passage, float]]]:
        """Top-k passages per query vector, best first; only `allowed` ids when given."""
        if not self.passages or k <= 0:
            return [[] for _ in range(len(query_vectors))]
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        scores, ids = self._faiss.search(
            np.ascontiguousarray(query_vectors, dtype=np.float32),
            min(k, len(self.passages)),
            params=params,
        )
        return [
            [(self.passages[int(i)], float(s)) for s, i in zip(row_s, row_i, strict=True) if i >= 0]
            for row_s, row_i in zip(scores, ids, strict=True)
        ]
