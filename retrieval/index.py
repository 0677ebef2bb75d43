"""The in-memory passage index: a FAISS inner-product index keyed by stable passage ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import faiss
import numpy as np

from retrieval.records import Passage, Source


class PassageIndex:
    """Vectors in FAISS (exact inner product), passages and their sources beside them.

    Ids are the passages' own stable ids, so an id found by FAISS is looked up directly.
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

    @classmethod
    def restore(
        cls,
        dim: int,
        faiss_index: faiss.Index,
        sources: Iterable[Source],
        passages: Iterable[Passage],
    ) -> PassageIndex:
        """Rebuild the lookup tables around a FAISS index read from disk."""
        index = cls(dim, faiss_index)
        index.sources = {s.doc_id: s for s in sources}
        for passage in passages:
            index.passages[passage.id] = passage
            index._ids_by_doc.setdefault(passage.doc_id, []).append(passage.id)
        return index

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
        self.sources[source.doc_id] = source
        self._ids_by_doc[source.doc_id] = [p.id for p in passages]
        if passages:
            ids = np.fromiter((p.id for p in passages), dtype=np.int64, count=len(passages))
            self._faiss.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
            self.passages.update((p.id, p) for p in passages)

    def remove_document(self, doc_id: str) -> None:
        ids = self._ids_by_doc.pop(doc_id, [])
        if ids:
            self._faiss.remove_ids(np.asarray(ids, dtype=np.int64))
            for pid in ids:
                del self.passages[pid]
        self.sources.pop(doc_id, None)

    def document_passages(self, doc_id: str) -> list[Passage]:
        return [self.passages[pid] for pid in self._ids_by_doc.get(doc_id, [])]

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors of these passages, in this order, for reuse without re-encoding."""
        id_list = list(ids)
        if not id_list:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._faiss.reconstruct(int(pid)) for pid in id_list])

    def search(self, query_vectors: np.ndarray, k: int) -> list[list[tuple[Passage, float]]]:
        """Top-k passages per query vector, best first."""
        if not self.passages or k <= 0:
            return [[] for _ in range(len(query_vectors))]
        scores, ids = self._faiss.search(
            np.ascontiguousarray(query_vectors, dtype=np.float32), min(k, len(self.passages))
        )
        return [
            [(self.passages[int(i)], float(s)) for s, i in zip(row_s, row_i, strict=True) if i >= 0]
            for row_s, row_i in zip(scores, ids, strict=True)
        ]
