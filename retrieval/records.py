"""The small frozen records that flow through the pipeline.

Document (cleaned text + metadata) → Passage (a span of that text) → Hit (a passage
with its score and best sentence) → Answer (the hits for one question).
"""

from __future__ import annotations

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
    passage: Passage
    source: Source
    score: float
    best_sentence: str


@dataclass(frozen=True)
class Answer:
    """The result of one question; `answered` is False when even the best hit is weak."""

    query: str
    hits: tuple[Hit, ...]
    answered: bool
    threshold: float


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file that could not be indexed, and why."""

    path: str
    reason: str
