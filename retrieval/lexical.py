"""BM25 over passages, for English, Russian and Ukrainian, with scores on an absolute scale.

Tokens are lower-cased words; Latin words go through the English Snowball stemmer and
Cyrillic ones through the Russian one, or the Ukrainian suffix stripper in `stemming.py`
when the text is Ukrainian. The index is a sparse passages × terms matrix of BM25 term
weights (scipy), so a query costs one sum over a few columns.

A raw BM25 score only orders the passages of one query. Divided by the most any passage
could score for that query (every query term present, with saturated frequency; a term the
corpus lacks counts at the highest IDF), it becomes the share of the query's evidence a
passage carries: near 1 when it holds every rare term, near 0 for a Russian question over
English passages. That absolute scale is what lets fusion and abstention use it directly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.stemming import analyse

K1 = 0.9
B = 0.4
LEXICAL_FILE = "lexical.npz"
VOCABULARY_FILE = "vocabulary.json"


@dataclass
class LexicalIndex:
    """BM25 term weights of passages; rows follow `ids`, columns the vocabulary."""

    ids: np.ndarray  # int64 passage ids, one per row
    vocabulary: dict[str, int]
    idf: np.ndarray  # float32, one per term
    weights: object  # scipy.sparse.csc_matrix (rows × terms)
    _rows: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rows = {int(pid): row for row, pid in enumerate(self.ids)}

    @classmethod
    def build(cls, passages: Iterable[tuple[int, str]]) -> LexicalIndex:
        """Index (passage id, text) pairs."""
        from scipy.sparse import csc_matrix

        ids: list[int] = []
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        lengths: list[int] = []
        for row, (pid, text) in enumerate(passages):
            ids.append(pid)
            terms = analyse(text)
            lengths.append(len(terms))
            frequency: dict[int, int] = {}
            for term in terms:
                column = vocabulary.setdefault(term, len(vocabulary))
                frequency[column] = frequency.get(column, 0) + 1
            rows.extend([row] * len(frequency))
            columns.extend(frequency)
            counts.extend(frequency.values())
        n = len(ids)
        if not n:
            empty = csc_matrix((0, 0), dtype=np.float32)
            return cls(np.zeros(0, dtype=np.int64), {}, np.zeros(0, dtype=np.float32), empty)
        tf = np.asarray(counts, dtype=np.float32)
        column_index = np.asarray(columns, dtype=np.int64)
        row_index = np.asarray(rows, dtype=np.int64)
        document_frequency = np.bincount(column_index, minlength=len(vocabulary))
        idf = np.log1p((n - document_frequency + 0.5) / (document_frequency + 0.5))
        length = np.asarray(lengths, dtype=np.float32)
        average = float(length.mean()) if n else 1.0
        norm = K1 * (1 - B + B * length[row_index] / max(average, 1e-9))
        data = idf[column_index] * tf * (K1 + 1) / (tf + norm)
        weights = csc_matrix(
            (data.astype(np.float32), (row_index, column_index)), shape=(n, len(vocabulary))
        )
        return cls(np.asarray(ids, dtype=np.int64), vocabulary, idf.astype(np.float32), weights)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        """Every passage's score for `query`, on the 0..1 scale described above."""
        terms = set(analyse(query))
        if not terms or not len(self.ids):
            return np.zeros(len(self.ids), dtype=np.float32)
        known = [self.vocabulary[t] for t in terms if t in self.vocabulary]
        unseen_idf = math.log1p((len(self.ids) + 0.5) / 0.5)
        best = (K1 + 1) * (float(self.idf[known].sum()) + unseen_idf * (len(terms) - len(known)))
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        raw = np.asarray(self.weights[:, known].sum(axis=1)).ravel()
        return (raw / best).astype(np.float32)

    def top(self, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k best (passage id, score) of a `scores` vector, leaving out zeros."""
        k = min(k, int(np.count_nonzero(scores)))
        if k <= 0:
            return []
        rows = np.argpartition(-scores, k - 1)[:k]
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return [(int(self.ids[row]), float(scores[row])) for row in rows]

    def only(self, scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """`scores` with every passage but `ids` set to 0."""
        kept = np.zeros_like(scores)
        rows = [self._rows[int(pid)] for pid in ids if int(pid) in self._rows]
        kept[rows] = scores[rows]
        return kept

    def score_of(self, scores: np.ndarray, pid: int) -> float:
        """The entry of a `scores` vector for one passage (0.0 if it is not indexed)."""
        row = self._rows.get(pid)
        return 0.0 if row is None else float(scores[row])

    def save(self, folder: Path) -> None:
        weights = self.weights
        np.savez(
            folder / LEXICAL_FILE,
            ids=self.ids,
            idf=self.idf,
            data=weights.data,
            indices=weights.indices,
            indptr=weights.indptr,
            shape=np.asarray(weights.shape, dtype=np.int64),
        )
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        (folder / VOCABULARY_FILE).write_text(json.dumps(terms, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Raises OSError or ValueError when the files are missing or damaged."""
        from scipy.sparse import csc_matrix

        with np.load(folder / LEXICAL_FILE) as arrays:
            shape = tuple(int(x) for x in arrays["shape"])
            weights = csc_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
            ids, idf = arrays["ids"], arrays["idf"]
        terms = json.loads((folder / VOCABULARY_FILE).read_text("utf-8"))
        if len(terms) != shape[1] or len(ids) != shape[0] or len(idf) != shape[1]:
            raise ValueError("the lexical index does not match its vocabulary")
        return cls(ids, {term: n for n, term in enumerate(terms)}, idf, weights)
