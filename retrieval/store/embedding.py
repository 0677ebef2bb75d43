"""Documents → the rows of a new segment: passages, their vectors and term counts.

A passage whose title and text were embedded before, anywhere in the index being updated
(`KnownVectors`: the embedded store's segments, or a Qdrant collection), takes its vectors
from there, so renames, copies and unchanged passages of an
edited file encode nothing. An encoder that can (`SentenceEncoder`) also gives a vector
per sentence of a passage from the same model run, for picking the best sentence later.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from retrieval.encoders.base import Encoder, SentenceEncoder, encode_in_batches
from retrieval.passages.cutting import PassageSettings, split_passages
from retrieval.passages.sentences import sentence_spans
from retrieval.records import Document, Passage, titled_spans, titled_text
from retrieval.store.lexical import TermCounts
from retrieval.store.segment import SegmentRows, text_key


class KnownVectors(Protocol):
    """Vectors computed before, looked up by text key (`segment.text_key`)."""

    def known_vectors(self, keys: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(position in `keys`, vector, sentence vectors) for each key that was embedded
        before, each position at most once; sentence vectors may be empty."""
        ...


@dataclass(frozen=True)
class Embedded:
    """Documents cut and embedded: `rows` holds their passages document after document."""

    rows: SegmentRows
    counts: tuple[int, ...]  # passages per document, in the documents' order
    encoded: int
    reused: int


def embed_documents(
    documents: Sequence[Document],
    encoder: Encoder,
    settings: PassageSettings,
    *,
    reuse_from: KnownVectors | None = None,
    progress: bool = False,
) -> Embedded:
    """Cut and encode documents, taking vectors already computed from `reuse_from`."""
    passages: list[Passage] = []
    titles: list[str] = []
    counts = []
    for document in documents:
        cut = split_passages(document, encoder.count_tokens, settings)
        passages.extend(cut)
        titles.extend([document.title] * len(cut))
        counts.append(len(cut))
    texts = [titled_text(title, p.text) for title, p in zip(titles, passages, strict=True)]
    vectors = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    sentences = [_NONE] * len(texts)
    missing = np.ones(len(texts), dtype=bool)
    if reuse_from is not None and texts:
        keys = np.fromiter((text_key(t) for t in texts), dtype=np.uint64, count=len(texts))
        for at, vector, sentence_vectors in reuse_from.known_vectors(keys):
            vectors[at] = vector
            sentences[at] = sentence_vectors
            missing[at] = False
    todo = np.flatnonzero(missing).tolist()
    fresh, fresh_sentences = _encode(
        encoder,
        [texts[i] for i in todo],
        [(titles[i], passages[i]) for i in todo],
        progress,
    )
    vectors[todo] = fresh
    for at, found in zip(todo, fresh_sentences, strict=True):
        sentences[at] = found
    rows = SegmentRows(passages, texts, vectors, TermCounts.build(texts), sentences)
    return Embedded(rows, tuple(counts), len(todo), len(texts) - len(todo))


_NONE = np.zeros((0, 0), dtype=np.float32)


def _encode(
    encoder: Encoder, texts: list[str], titled: list[tuple[str, Passage]], progress: bool
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Vectors of `texts` (each (title, passage) of `titled` as embedded), and of each
    passage's sentences where the encoder gives them and the passage has more than one."""
    if not isinstance(encoder, SentenceEncoder):
        vectors = encode_in_batches(
            encoder.encode_passages, texts, dim=encoder.dim, progress=progress
        )
        return vectors, [_NONE] * len(texts)
    spans = {}
    for text, (title, passage) in zip(texts, titled, strict=True):
        found = sentence_spans(passage.text)
        spans[text] = titled_spans(title, found) if len(found) > 1 else []
    by_text: dict[str, np.ndarray] = {}

    def encode(batch: Sequence[str]) -> np.ndarray:
        vectors, per_text = encoder.encode_passages_with_spans(batch, [spans[t] for t in batch])
        by_text.update(zip(batch, per_text, strict=True))
        return vectors

    vectors = encode_in_batches(encode, texts, dim=encoder.dim, progress=progress)
    return vectors, [by_text[text] for text in texts]
