"""Documents → the rows of a new segment: passages, their vectors and term counts.

A passage whose title and text were embedded before, in any segment of the index being
updated, takes its vector from there, so renames, copies and unchanged passages of an
edited file encode nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.encoders import Encoder, encode_in_batches
from retrieval.index import PassageIndex
from retrieval.lexical import TermCounts
from retrieval.passages import PassageSettings, split_passages
from retrieval.records import Document, Passage, titled_text
from retrieval.segment import SegmentRows, text_key


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
    reuse_from: PassageIndex | None = None,
    progress: bool = False,
) -> Embedded:
    """Cut and encode documents, taking vectors already computed from `reuse_from`."""
    passages: list[Passage] = []
    texts: list[str] = []
    counts = []
    for document in documents:
        cut = split_passages(document, encoder.count_tokens, settings)
        passages.extend(cut)
        texts.extend(titled_text(document.title, p.text) for p in cut)
        counts.append(len(cut))
    vectors = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    missing = np.ones(len(texts), dtype=bool)
    if reuse_from is not None and texts:
        keys = np.fromiter((text_key(t) for t in texts), dtype=np.uint64, count=len(texts))
        for segment in reuse_from.segments:
            wanted = np.flatnonzero(missing)
            if not len(wanted):
                break
            rows = segment.rows_with_keys(keys[wanted])
            found = rows >= 0
            vectors[wanted[found]] = segment.vectors[rows[found]]
            missing[wanted[found]] = False
    todo = np.flatnonzero(missing)
    vectors[todo] = encode_in_batches(
        encoder.encode_passages, [texts[i] for i in todo], dim=encoder.dim, progress=progress
    )
    rows = SegmentRows(passages, texts, vectors, TermCounts.build(texts))
    return Embedded(rows, tuple(counts), len(todo), len(texts) - len(todo))
