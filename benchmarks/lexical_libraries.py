"""Our BM25 (`retrieval/store/lexical.py`) against bm25s and SQLite FTS5, on the evaluation sets.

All three index the same tokens, from `retrieval.store.stemming.analyse`, of every corpus
document as one passage (title + newline + text, without the product's passage cutting);
the documents and the questions are tokenised once, before any timing. For each set and
library it prints hit@1 and MRR@10 (of documents, per the qrels), the time to build the
index from the tokens, the mean time of one question (top 10), the time of an incremental
update (remove one document, add one) and the index's size on disk. Build and update are
the best of three tries; every time is also shown as a multiple of ours in the same run.

- ours: `LexicalIndex`, k1=0.9, b=0.4. It analyses its text itself, so it is handed the
  tokens joined by spaces with `str.split` as its analyser. An update is a whole rebuild.
- bm25s: `bm25s.BM25(k1=0.9, b=0.4)` ("lucene" variant, the same IDF as ours) over the
  token lists, one question per `retrieve` call; unlike ours, it (and fts5) counts a token
  repeated in the question once per occurrence. An update is a whole rebuild.
- fts5: a contentless FTS5 table in a file, its one column the tokens joined by spaces
  ("ascii" tokenizer with "_" as a token character, so the tokens stay as they are);
  a question is the OR of its quoted tokens, ranked by `bm25()`, whose k1=1.2 and b=0.75
  are fixed. An update is a delete and an insert, then a commit (default journal).

    .venv/bin/python benchmarks/lexical_libraries.py [SET_DIR ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import NamedTuple, Protocol
from unittest import mock

import bm25s
import numpy as np
from signals import EVAL_ROOT

from retrieval.evaluation import RANK_DEPTH, score_rankings
from retrieval.store import lexical
from retrieval.store.lexical import K1, B, LexicalIndex, TermCounts
from retrieval.store.stemming import analyse

SETS = ("xquad_en", "xquad_ru", "uasquad_uk_dev", "scifact")
TRIES = 3


class EvalData(NamedTuple):
    doc_ids: list[str]  # one per row
    documents: list[list[str]]  # tokens, one list per row
    queries: dict[str, list[str]]  # tokens of every judged question
    qrels: dict[str, dict[str, int]]
    tokenise_seconds: tuple[float, float]  # documents, questions


class Library(Protocol):
    name: str

    def build(self, documents: list[list[str]]) -> None:
        """Index the documents, row n under id n."""

    def search(self, query: list[str], k: int) -> list[int]:
        """The ids of the best k documents with a positive score, best first."""

    def replace(self, old: int, new: int) -> None:
        """Remove document `old` and add its tokens again under the id `new`."""

    def size(self) -> int:
        """Bytes on disk."""


class Row(NamedTuple):
    hit_at_1: float
    mrr_at_10: float
    build: float
    query: float
    update: float
    size: int


def jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load(folder: Path) -> EvalData:
    qrels: dict[str, dict[str, int]] = {}
    for row in (folder / "qrels" / "test.tsv").read_text("utf-8").splitlines()[1:]:
        qid, doc_id, grade = row.split("\t")
        qrels.setdefault(qid, {})[doc_id] = int(grade)
    corpus = jsonl(folder / "corpus.jsonl")
    questions = {str(q["_id"]): q["text"] for q in jsonl(folder / "queries.jsonl")}
    start = time.perf_counter()
    documents = [analyse(f"{d.get('title', '')}\n{d['text']}") for d in corpus]
    middle = time.perf_counter()
    queries = {qid: analyse(text) for qid, text in questions.items() if qid in qrels}
    end = time.perf_counter()
    doc_ids = [str(d["_id"]) for d in corpus]
    judged = {qid: qrels[qid] for qid in queries}
    return EvalData(doc_ids, documents, queries, judged, (middle - start, end - middle))


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


class Ours:
    name = "ours"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.texts: dict[int, str] = {}

    def build(self, documents: list[list[str]]) -> None:
        self.texts = {row: " ".join(tokens) for row, tokens in enumerate(documents)}
        self._index()

    def _index(self) -> None:
        self.ids = list(self.texts)
        self.terms = TermCounts.build(self.texts.values())
        self.index = LexicalIndex([self.terms], [0], np.ones(len(self.ids), dtype=bool))

    def search(self, query: list[str], k: int) -> list[int]:
        return [self.ids[row] for row, _ in self.index.top(self.index.scores(" ".join(query)), k)]

    def replace(self, old: int, new: int) -> None:
        self.texts[new] = self.texts.pop(old)
        self._index()

    def size(self) -> int:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir()
        self.terms.save(self.folder)
        return folder_size(self.folder)


class Bm25s:
    name = "bm25s"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.documents: dict[int, list[str]] = {}

    def build(self, documents: list[list[str]]) -> None:
        self.documents = dict(enumerate(documents))
        self._index()

    def _index(self) -> None:
        self.ids = list(self.documents)
        self.model = bm25s.BM25(k1=K1, b=B)
        self.model.index(list(self.documents.values()), show_progress=False)

    def search(self, query: list[str], k: int) -> list[int]:
        found, scores = self.model.retrieve([query], k=min(k, len(self.ids)), show_progress=False)
        return [self.ids[n] for n, score in zip(found[0], scores[0], strict=True) if score > 0]

    def replace(self, old: int, new: int) -> None:
        self.documents[new] = self.documents.pop(old)
        self._index()

    def size(self) -> int:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.model.save(str(self.folder), show_progress=False)
        return folder_size(self.folder)


class Fts5:
    name = "fts5"

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.path = folder / "fts5.db"
        self.db: sqlite3.Connection | None = None
        self.documents: dict[int, str] = {}

    def build(self, documents: list[list[str]]) -> None:
        if self.db is not None:
            self.db.close()
        self.path.unlink(missing_ok=True)
        self.documents = {row: " ".join(tokens) for row, tokens in enumerate(documents)}
        self.db = sqlite3.connect(self.path)
        self.db.execute(
            "CREATE VIRTUAL TABLE passages USING fts5"
            "(terms, content='', tokenize=\"ascii tokenchars '_'\")"
        )
        self.db.executemany(
            "INSERT INTO passages(rowid, terms) VALUES (?, ?)", self.documents.items()
        )
        self.db.commit()

    def search(self, query: list[str], k: int) -> list[int]:
        if not query:
            return []
        match = " OR ".join(f'"{token}"' for token in query)
        rows = self.db.execute(
            "SELECT rowid FROM passages WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?",
            (match, k),
        )
        return [row for (row,) in rows]

    def replace(self, old: int, new: int) -> None:
        terms = self.documents.pop(old)
        self.db.execute(
            "INSERT INTO passages(passages, rowid, terms) VALUES ('delete', ?, ?)", (old, terms)
        )
        self.db.execute("INSERT INTO passages(rowid, terms) VALUES (?, ?)", (new, terms))
        self.db.commit()
        self.documents[new] = terms

    def size(self) -> int:
        return self.path.stat().st_size


def best_time(step: Callable[[int], None]) -> float:
    """The shortest of TRIES runs of `step(try number)`, in seconds."""
    times = []
    for attempt in range(TRIES):
        start = time.perf_counter()
        step(attempt)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(library: Library, data: EvalData) -> Row:
    build = best_time(lambda _: library.build(data.documents))
    size = library.size()
    start = time.perf_counter()
    found = {qid: library.search(query, RANK_DEPTH) for qid, query in data.queries.items()}
    query = (time.perf_counter() - start) / len(data.queries)
    metrics = score_rankings(
        {qid: [data.doc_ids[row] for row in rows] for qid, rows in found.items()}, data.qrels
    )
    n = len(data.documents)
    update = best_time(lambda attempt: library.replace(attempt, n + attempt))
    return Row(metrics.hit_at_1, metrics.mrr_at_10, build, query, update, size)


def report(name: str, data: EvalData, rows: dict[str, Row]) -> None:
    documents, questions = data.tokenise_seconds
    print(
        f"\n{name}: {len(data.documents)} documents, {len(data.queries)} questions; "
        f"tokenised in {documents:.3f} s + {questions:.3f} s (not in the times below)"
    )
    print(
        f"{'library':8} {'hit@1':>6} {'MRR@10':>6}  {'build s (×ours)':>19}  "
        f"{'query ms (×ours)':>19}  {'update s (×ours)':>19}  {'size KiB':>8}"
    )
    ours = rows[Ours.name]
    for library, row in rows.items():
        print(
            f"{library:8} {row.hit_at_1:6.3f} {row.mrr_at_10:6.3f}  "
            f"{row.build:9.4f} ({row.build / ours.build:#7.3g})  "
            f"{row.query * 1000:9.3f} ({row.query / ours.query:#7.3g})  "
            f"{row.update:9.4f} ({row.update / ours.update:#7.3g})  "
            f"{row.size / 1024:8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path)
    args = parser.parse_args()
    print(f"ours and bm25s: k1={K1}, b={B}; fts5: bm25() with its fixed k1=1.2, b=0.75")
    for folder in args.sets or [EVAL_ROOT / name for name in SETS]:
        data = load(folder)
        with TemporaryDirectory() as scratch:
            libraries: list[Library] = [
                kind(Path(scratch) / kind.name) for kind in (Ours, Bm25s, Fts5)
            ]
            rows = {library.name: measure(library, data) for library in libraries}
        report(folder.name, data, rows)


if __name__ == "__main__":
    with mock.patch.object(lexical, "analyse", str.split):
        main()
