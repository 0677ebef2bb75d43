"""The seam between the one search path and the store under it.

`Searcher` (retrieval/search/searcher.py) fuses, scores, folds and explains; a store only
finds candidates. Two stores answer this protocol: the embedded one
(retrieval/store/index.py, FAISS-style exact or HNSW search over files) and Qdrant
(retrieval/qdrant/searching.py). Candidates are keyed by an int the store chooses (a row, a
point id); only the store reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from retrieval.records import Passage, Source
from retrieval.search.filters import Filters


class Candidates(NamedTuple):
    """One question's candidates from both signals, each scored by both.

    `dense` holds every candidate's cosine, the dense signal's finds first and best first;
    `lexical` every candidate's share of the question's BM25 evidence (0..1).
    """

    dense: dict[int, float]
    lexical: dict[int, float]
    passages: dict[int, Passage]
    sources: dict[str, Source]  # the documents of `passages`


# The questions' vectors, on demand: a store asks for them once it has done the work that
# needs only the words, so that the encoder can run meanwhile (retrieval/search/searcher.py).
QuestionVectors = Callable[[], np.ndarray]


class SearchIndex(Protocol):
    def __len__(self) -> int: ...

    def candidates(
        self,
        queries: Sequence[str],
        vectors: QuestionVectors,
        depth: int,
        filters: Filters | None,
    ) -> list[Candidates]:
        """Per question, up to `depth` candidates from each signal, from the documents
        `filters` admits."""
        ...

    def stored_sentences(self, passages: Sequence[Passage]) -> list[np.ndarray]:
        """Each passage's stored sentence vectors (sentences × dim); empty where none."""
        ...

    def document_passages(self, doc_id: str) -> list[Passage]: ...
