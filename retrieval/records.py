"""The small frozen records that flow through the pipeline.

Document (cleaned text + metadata) → Passage (a span of that text) → Hit (a passage
with its score and best sentence) → Answer (the hits for one question).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """One source file after decoding and cleaning.

    `text` holds the cleaned body: blocks (paragraphs, headings, list items) separated
    by a blank line, so passage offsets point into exactly this string.
    """

    doc_id: str
    path: str
    title: str
    text: str
    content_hash: str
    date: str | None = None
    url: str | None = None


def titled_text(document_title: str, passage_text: str) -> str:
    """What is embedded and indexed for a passage: a bare list item often does not name its
    subject, so the document's title travels with every passage."""
    return f"{document_title}\n{passage_text}"


def titled_spans(document_title: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans of a passage's text, moved to where `titled_text` puts that text."""
    shift = len(document_title) + 1
    return [(start + shift, end + shift) for start, end in spans]


@dataclass(frozen=True)
class Source:
    """Where a passage comes from, as shown to the user."""

    doc_id: str
    path: str
    title: str
    date: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Passage:
    """A span of a document's cleaned text; `start`/`end` are offsets into it."""

    id: int
    doc_id: str
    text: str
    start: int
    end: int
    paragraph: int


@dataclass(frozen=True)
class Hit:
    """A passage found for a question.

    `score` is the calibrated confidence that "answered" and "weak" compare with the
    threshold; `dense` (cosine) and `lexical` (share of the query's BM25 evidence) are the
    raw signal scores it was computed from, kept whatever fusion ordered the hits. `rerank`
    is the optional cross-encoder's score, which reordered the best hits.
    """

    passage: Passage
    source: Source
    score: float
    best_sentence: str
    dense: float = 0.0
    lexical: float = 0.0
    # Other documents carrying the same passage, or nearly (a syndicated story).
    also_in: tuple[Source, ...] = ()
    rerank: float | None = None


@dataclass(frozen=True)
class Answer:
    """The result of one question; `answered` is False when even the best hit is weak.

    `calibrated` is False for a model with no known threshold: nothing is then claimed
    as an answer (set CITEBOT_MIN_SCORE, or calibrate the model).
    """

    query: str
    hits: tuple[Hit, ...]
    answered: bool
    threshold: float
    calibrated: bool = True
    # The news filters in force, described ("since 2021-05-01"); "" without any.
    filters: str = ""
    # The index generation that answered, so a later look at the same answer ("more", the
    # context of a hit) can tell whether the index has changed since; "" outside a store.
    generation: str = ""


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file that could not be indexed, and why."""

    path: str
    reason: str
