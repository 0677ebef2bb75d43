"""The Qdrant store beside the embedded one: the same passages, vectors and questions.

    .venv/bin/python benchmarks/qdrant_side_by_side.py [--set ../shared/eval/scifact]
        [--questions 300] [--local-questions 40]

Encoding is the same work for every store and is left out: the set is encoded once (the
`citebot eval` cache), and each store is filled from that embedded index, as `citebot
copy-to-qdrant` fills Qdrant. Figures, per store:

- write: passages a second, filling an empty store (the embedded store writes one segment
  with its BM25 counts; Qdrant takes the points: dense, lexical and IDF vectors, payload);
- question: milliseconds of `Searcher.rank` for one question (both signals, the candidates
  one signal missed scored on the other, fusion, folding), p50 and p99, with the question
  already encoded; a ratio against the embedded store from the same run;
- answer: p50 milliseconds of the whole answer as a face asks for it (`Searcher.search`, 5
  hits): the question encoded, ranked, and each hit's best sentence picked.

Stores: embedded (exact search at this size), Qdrant's engine in-process (qdrant-edge-py,
`edge:`), and the client's local mode (`local:`, a pure-Python stand-in: slow, so it gets
fewer questions). Run it on a quiet machine; the first line says the load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from retrieval.encoders.base import DEFAULT_MODEL, load_encoder
from retrieval.evaluation import CANDIDATES, index_set, load_beir
from retrieval.passages.cutting import PassageSettings
from retrieval.qdrant.connection import QdrantSettings, connect
from retrieval.qdrant.indexing import copy_index
from retrieval.qdrant.searching import open_index
from retrieval.records import titled_text
from retrieval.search.candidates import SearchIndex
from retrieval.search.searcher import Searcher, default_scoring
from retrieval.store.generations import StoredIndex
from retrieval.store.lexical import TermCounts
from retrieval.store.segment import SegmentRows, write_segment

SETTINGS = PassageSettings()


def write_embedded(stored: StoredIndex, folder: Path) -> float:
    """Seconds to write the index's passages as one new segment."""
    manifest, index = stored.manifest, stored.index
    passages, texts = [], []
    for doc_id, entry in manifest.documents.items():
        for passage in index.document_passages(doc_id):
            passages.append(passage)
            texts.append(titled_text(entry.title, passage.text))
    vectors = index.vectors(p.id for p in passages)
    started = time.perf_counter()
    no_sentences = [np.zeros((0, 0), dtype=np.float32)] * len(texts)
    rows = SegmentRows(passages, texts, vectors, TermCounts.build(texts), no_sentences)
    write_segment(folder, rows)
    return time.perf_counter() - started


def fill_qdrant(stored: StoredIndex, settings: QdrantSettings) -> tuple[SearchIndex, float]:
    client = connect(settings)
    started = time.perf_counter()
    copy_index(stored, client, settings)
    seconds = time.perf_counter() - started
    index = open_index(
        client,
        settings,
        model=stored.manifest.model,
        passage_settings=stored.manifest.passage_settings,
    )
    return index, seconds


def question_times(rank: Callable[[int], object], count: int) -> np.ndarray:
    for at in range(min(5, count)):  # warm caches and lazy loads
        rank(at)
    seconds = []
    for at in range(count):
        started = time.perf_counter()
        rank(at)
        seconds.append(time.perf_counter() - started)
    return np.array(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=Path("../shared/eval/scifact"))
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--local-questions", type=int, default=40)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} · set {args.set.name}")

    encoder = load_encoder(DEFAULT_MODEL)
    eval_set = load_beir(args.set)
    stored, _ = index_set(args.set, eval_set, encoder, SETTINGS)
    passages = len(stored.index)
    questions = list(eval_set.queries.values())[: args.questions]
    vectors = encoder.encode_queries(questions)
    scoring = default_scoring(encoder.name)
    print(f"{passages} passages, {len(questions)} questions (encoded beforehand)\n")

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        seconds = write_embedded(stored, folder / "embedded")
        stores: list[tuple[str, SearchIndex, float, int]] = [
            ("embedded", stored.index, seconds, len(questions))
        ]
        for kind, count in (("edge", len(questions)), ("local", args.local_questions)):
            index, seconds = fill_qdrant(stored, QdrantSettings(f"{kind}:{folder / kind}"))
            stores.append((f"qdrant {kind}", index, seconds, min(count, len(questions))))
        for name, index, seconds, count in stores:
            searcher = Searcher(index, encoder, scoring)

            def rank(at: int, searcher: Searcher = searcher) -> object:
                encoded = vectors[at : at + 1]
                return searcher.rank([questions[at]], CANDIDATES, vectors=lambda: encoded)

            def answer(at: int, searcher: Searcher = searcher) -> object:
                return searcher.search(questions[at], 5)

            ms = question_times(rank, count)
            answer_ms = question_times(answer, count)
            rows.append(
                (
                    name,
                    passages / seconds,
                    np.percentile(ms, 50),
                    np.percentile(ms, 99),
                    np.percentile(answer_ms, 50),
                    count,
                )
            )

    base_write, base_p50, base_answer = rows[0][1], rows[0][2], rows[0][4]
    header = ("store", "write/s", "ratio", "p50 ms", "p99 ms", "ratio", "answer", "ratio", "asked")
    print("{:<14} {:>9} {:>6} {:>8} {:>8} {:>6} {:>8} {:>6}  {}".format(*header))
    for name, write, p50, p99, answered, count in rows:
        print(
            f"{name:<14} {write:>9.0f} {write / base_write:>6.2f} {p50:>8.1f} {p99:>8.1f}"
            f" {p50 / base_p50:>6.2f} {answered:>8.1f} {answered / base_answer:>6.2f}  {count}"
        )


if __name__ == "__main__":
    main()
