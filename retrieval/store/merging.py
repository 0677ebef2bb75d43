"""Merging segments, so that their number and their dead rows stay bounded.

Every reindex that encodes something adds a small segment; edits and deletions leave dead
rows behind in older ones. Past MAX_SEGMENTS, the smallest are merged into one (each merge
copies only small segments, so the cost per reindex stays proportional to the change on
average), and a segment more than half dead is rewritten with its live rows only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from retrieval.records import titled_text
from retrieval.store.ann import APPROXIMATE_FROM
from retrieval.store.generations import DocumentEntry
from retrieval.store.lexical import TermCounts
from retrieval.store.segment import Segment, SegmentRows, write_segment

MAX_SEGMENTS = 8


def segments_to_merge(entries: Mapping[str, DocumentEntry], rows: Mapping[str, int]) -> list[str]:
    """The segments worth merging now (`rows`: every segment's rows, dead ones included)."""
    live = dict.fromkeys(rows, 0)
    for entry in entries.values():
        if entry.passages:
            live[entry.segment] += entry.passages
    live = {name: count for name, count in live.items() if count}
    chosen = {name for name, count in live.items() if count < rows[name] / 2}
    if len(live) > MAX_SEGMENTS:
        smallest = sorted(live, key=lambda name: (live[name], name))
        chosen |= set(smallest[: len(live) - MAX_SEGMENTS // 2 + 1])
    return sorted(chosen)


def merge_segments(
    root: Path,
    segments: Mapping[str, Segment],
    names: list[str],
    entries: Mapping[str, DocumentEntry],
    approximate_from: int = APPROXIMATE_FROM,
) -> tuple[str, dict[str, DocumentEntry]]:
    """Write the live rows of segments `names` as one (with an HNSW graph from
    `approximate_from` rows); returns it and the moved entries."""
    moved = sorted(
        (doc_id for doc_id, entry in entries.items() if entry.segment in names and entry.passages),
        key=lambda doc_id: (entries[doc_id].segment, entries[doc_id].first_row),
    )
    passages, texts, vectors, counts, sentences = [], [], [], [], []
    new_entries = {}
    for name in names:
        segment = segments[name]
        docs = [doc_id for doc_id in moved if entries[doc_id].segment == name]
        kept = np.concatenate(
            [np.arange(e.first_row, e.first_row + e.passages) for e in map(entries.get, docs)]
        )
        for doc_id in docs:
            entry = entries[doc_id]
            new_entries[doc_id] = replace(entry, first_row=len(passages))
            rows = list(range(entry.first_row, entry.first_row + entry.passages))
            found = segment.passages(rows)
            passages.extend(found)
            texts.extend(titled_text(entry.title, p.text) for p in found)
            sentences.extend(segment.sentence_vectors(row) for row in rows)
        vectors.append(np.asarray(segment.vectors[kept]))
        counts.append(segment.terms.select(kept))
    terms = TermCounts.concatenate(counts)
    rows = SegmentRows(passages, texts, np.concatenate(vectors), terms, sentences)
    name = write_segment(root, rows, build_approximate=len(passages) >= approximate_from)
    return name, {doc_id: replace(entry, segment=name) for doc_id, entry in new_entries.items()}
