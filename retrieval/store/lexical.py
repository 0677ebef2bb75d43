"""BM25 over passages, for English, Russian and Ukrainian, with scores on an absolute scale.

Tokens are lower-cased words; Latin words go through the English Snowball stemmer and
Cyrillic ones through the Russian one, or the Ukrainian suffix stripper in `stemming.py`
when the text is Ukrainian.

Each segment of the store keeps only raw term counts (`TermCounts`, a rows × terms matrix
in compressed columns); the statistics BM25 needs (how many live passages hold a term,
their average length) are taken at query time over the live rows of every segment, so a
segment is never rewritten when another changes, and the scores equal a fresh build's.

A raw BM25 score only orders the passages of one query. Divided by the most any passage
could score for that query (every query term present, with saturated frequency; a term the
corpus lacks counts at the highest IDF), it becomes the share of the query's evidence a
passage carries: near 1 when it holds every rare term, near 0 for a Russian question over
English passages. That absolute scale is what lets fusion and abstention use it directly.
"""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.store.stemming import analyse

K1 = 0.9
B = 0.4
VOCABULARY_FILE = "vocabulary.json"
# The compressed columns, one array a file so that each can be memory-mapped.
TERM_FILES = ("terms.indptr.npy", "terms.rows.npy", "terms.counts.npy", "terms.lengths.npy")


@dataclass
class TermCounts:
    """How often each term occurs in each row of one segment.

    Column j's postings are `rows[indptr[j]:indptr[j + 1]]` with their `counts`; `lengths`
    holds each row's number of terms.
    """

    terms: list[str]
    indptr: np.ndarray  # int64, one more than terms
    rows: np.ndarray  # int32
    counts: np.ndarray  # float32
    lengths: np.ndarray  # float32, one per row

    def __post_init__(self) -> None:
        self._columns = {term: column for column, term in enumerate(self.terms)}

    @classmethod
    def build(cls, texts: Iterable[str]) -> TermCounts:
        """Postings gathered row by row into flat typed arrays, then sorted by term: a list
        of (row, count) tuples per term took 2.5x the memory, and a million-passage segment
        is tens of millions of postings."""
        columns: dict[str, int] = {}  # term → its column, in order of first appearance
        column_of, counts, terms_per_row, lengths = array("q"), array("q"), array("q"), []
        for text in texts:
            analysed = analyse(text)
            lengths.append(len(analysed))
            frequency = Counter(analysed)
            column_of.extend(columns.setdefault(term, len(columns)) for term in frequency)
            counts.extend(frequency.values())
            terms_per_row.append(len(frequency))
        column = np.frombuffer(column_of, dtype=np.int64)
        by_column = np.argsort(column, kind="stable")  # keeps each column's rows ascending
        per_row = np.frombuffer(terms_per_row, dtype=np.int64)
        rows = np.repeat(np.arange(len(per_row), dtype=np.int32), per_row)
        sizes = np.bincount(column, minlength=len(columns))
        return cls(
            list(columns),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            rows[by_column],
            np.frombuffer(counts, dtype=np.int64)[by_column].astype(np.float32),
            np.asarray(lengths, dtype=np.float32),
        )

    def __len__(self) -> int:
        return len(self.lengths)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, counts) of the rows that hold `term`, or None."""
        column = self._columns.get(term)
        if column is None:
            return None
        begin, end = int(self.indptr[column]), int(self.indptr[column + 1])
        return self.rows[begin:end], self.counts[begin:end]

    def select(self, kept: np.ndarray) -> TermCounts:
        """The counts of rows `kept` (ascending), renumbered 0…len(kept)-1; terms no kept
        row holds are dropped. Array work throughout: a merge may carry millions of rows."""
        new_row = np.full(len(self), -1, dtype=np.int64)
        new_row[kept] = np.arange(len(kept))
        rows = new_row[self.rows]
        alive = rows >= 0
        columns = np.repeat(np.arange(len(self.terms)), np.diff(self.indptr))[alive]
        sizes = np.bincount(columns, minlength=len(self.terms))
        held = np.flatnonzero(sizes)
        return TermCounts(
            [self.terms[column] for column in held.tolist()],
            np.concatenate([[0], np.cumsum(sizes[held])]).astype(np.int64),
            rows[alive].astype(np.int32),
            np.asarray(self.counts[alive], dtype=np.float32),
            np.asarray(self.lengths[kept], dtype=np.float32),
        )

    @classmethod
    def concatenate(cls, parts: Sequence[TermCounts]) -> TermCounts:
        """Several segments' counts (at least one) as one, their rows laid end to end."""
        vocabulary: dict[str, int] = {}
        columns, rows, counts = [], [], []
        offset = 0
        for part in parts:
            ids = np.fromiter(
                (vocabulary.setdefault(term, len(vocabulary)) for term in part.terms),
                dtype=np.int64,
                count=len(part.terms),
            )
            columns.append(np.repeat(ids, np.diff(part.indptr)))
            rows.append(np.asarray(part.rows, dtype=np.int64) + offset)
            counts.append(np.asarray(part.counts, dtype=np.float32))
            offset += len(part)
        column, row = np.concatenate(columns), np.concatenate(rows)
        # By term; a stable sort keeps each term's rows ascending, as parts come in row order.
        order = np.argsort(column, kind="stable")
        sizes = np.bincount(column, minlength=len(vocabulary))
        return cls(
            list(vocabulary),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            row[order].astype(np.int32),
            np.concatenate(counts)[order],
            np.concatenate([np.asarray(part.lengths, dtype=np.float32) for part in parts]),
        )

    def save(self, folder: Path) -> list[str]:
        """Write the files; returns their names."""
        arrays = (self.indptr, self.rows, self.counts, self.lengths)
        for name, values in zip(TERM_FILES, arrays, strict=True):
            np.save(folder / name, values)
        (folder / VOCABULARY_FILE).write_text(json.dumps(self.terms, ensure_ascii=False), "utf-8")
        return [*TERM_FILES, VOCABULARY_FILE]

    @classmethod
    def load(cls, folder: Path) -> TermCounts:
        """Raises OSError or ValueError when the files are missing or damaged."""
        indptr, rows, counts, lengths = (np.load(folder / n, mmap_mode="r") for n in TERM_FILES)
        terms = json.loads((folder / VOCABULARY_FILE).read_text("utf-8"))
        if not isinstance(terms, list) or len(indptr) != len(terms) + 1:
            raise ValueError("the term counts do not match their vocabulary")
        if len(rows) != len(counts) or (len(indptr) and int(indptr[-1]) != len(rows)):
            raise ValueError("the term counts are damaged")
        return cls(terms, indptr, rows, counts, lengths)


@dataclass(frozen=True)
class _SegmentTerms:
    """One segment's term counts, placed in the index's row space."""

    counts: TermCounts
    rows: slice  # its rows among the index's
    live: np.ndarray  # which of them are live
    dead: np.ndarray  # the others, ascending

    def live_among(self, rows: np.ndarray) -> int:
        """How many of a term's rows (ascending, as TermCounts keeps them) are live."""
        if len(self.dead) * 8 < len(rows):  # few dead rows: look each up among the term's
            at = np.searchsorted(rows, self.dead)
            inside = at < len(rows)
            return len(rows) - int(np.count_nonzero(rows[at[inside]] == self.dead[inside]))
        return int(np.count_nonzero(self.live[rows]))


class LexicalIndex:
    """BM25 over the live rows of several segments, laid end to end as one row space."""

    def __init__(
        self, parts: Sequence[TermCounts], offsets: Sequence[int], live: np.ndarray
    ) -> None:
        self._live_count = int(live.sum())
        self._size = len(live)
        self._segments = [
            _SegmentTerms(
                part,
                slice(offset, offset + len(part)),
                live[offset : offset + len(part)],
                np.flatnonzero(~live[offset : offset + len(part)]),
            )
            for part, offset in zip(parts, offsets, strict=True)
        ]
        self._dead = np.flatnonzero(~live)
        lengths = np.concatenate([part.lengths for part in parts]) if parts else np.zeros(0)
        lengths = lengths.astype(np.float32)
        self._average = float(lengths[live].mean()) if self._live_count else 1.0
        # Each row's length normalisation, computed once rather than for every posting.
        self._norms = K1 * (1 - B + B * lengths / max(self._average, 1e-9))

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """A one-segment index of `texts`, every row live (rows follow the texts)."""
        return cls([TermCounts.build(texts)], [0], np.ones(len(texts), dtype=bool))

    def __len__(self) -> int:
        return self._live_count

    @property
    def average_length(self) -> float:
        """The mean number of terms of the live rows: BM25's length norm."""
        return self._average

    def scores(self, query: str) -> np.ndarray:
        """Every row's score for `query`, on the 0..1 scale described above (0 if dead).

        Array work per posting, in place where it can be: a common term of a million-row
        segment has hundreds of thousands of postings. Dead rows are scored with the rest
        and zeroed at the end, which costs less than leaving them out of every posting list.
        """
        raw = np.zeros(self._size, dtype=np.float32)
        terms = set(analyse(query))
        if not terms or not self._live_count:
            return raw
        unseen_idf = math.log1p((self._live_count + 0.5) / 0.5)
        known_idf = 0.0
        unknown = 0
        for term in terms:
            found = [
                (segment, postings)
                for segment in self._segments
                if (postings := segment.counts.postings(term)) is not None
            ]
            df = sum(segment.live_among(rows) for segment, (rows, _) in found)
            if not df:
                unknown += 1
                continue
            idf = math.log1p((self._live_count - df + 0.5) / (df + 0.5))
            known_idf += idf
            for segment, (rows, counts) in found:
                gain = idf * counts
                gain *= K1 + 1
                gain /= counts + self._norms[segment.rows][rows]
                raw[segment.rows][rows] += gain
        raw[self._dead] = 0
        if unknown == len(terms):
            return raw
        raw /= np.float32((K1 + 1) * (known_idf + unseen_idf * unknown))
        return raw

    @staticmethod
    def top(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k best (row, score) of a `scores` vector, leaving out zeros; equal scores
        in row order."""
        k = min(k, int(np.count_nonzero(scores)))
        if k <= 0:
            return []
        # The k-th best score, then the rows that reach it: partitioning the values alone
        # takes half the time of an argpartition over a million rows.
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        reaching = np.flatnonzero(scores >= kth)
        above = reaching[scores[reaching] > kth]
        tied = reaching[scores[reaching] == kth][: k - len(above)]
        rows = np.concatenate([above, tied])
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return [(int(row), float(scores[row])) for row in rows]
