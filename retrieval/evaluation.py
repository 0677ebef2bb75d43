"""Retrieval quality on a question → passage set in the BEIR layout.

    corpus.jsonl  {"_id", "title", "text"}     queries.jsonl  {"_id", "text"}
    qrels/test.tsv  query-id <TAB> corpus-id <TAB> score   (with a header line)

The corpus goes through the product's own pipeline (cleaning, passages, encoder, the
segment store with its BM25 counts) and every question through `Searcher.rank`, the
ranking users get; a document cut into several passages is ranked once, at its best
passage.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from retrieval.documents.loading import document_from_text
from retrieval.encoders.base import Encoder
from retrieval.errors import DocumentError, EvalSetError
from retrieval.eval_cache import cache_folder
from retrieval.passages.cutting import PassageSettings
from retrieval.qdrant.connection import QdrantSettings
from retrieval.records import Document
from retrieval.search.candidates import SearchIndex
from retrieval.search.reranker import Reranker
from retrieval.search.searcher import Scoring, Searcher
from retrieval.store.generations import StoredIndex, load_index
from retrieval.store.indexer import index_documents

RANK_DEPTH = 10
# Candidates per signal: several passages of one document must still leave 10 documents.
CANDIDATES = 5 * RANK_DEPTH


@dataclass(frozen=True)
class EvalSet:
    name: str
    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class Metrics:
    hit_at_1: float
    recall_at_5: float
    mrr_at_10: float
    ndcg_at_10: float
    queries: int


@dataclass(frozen=True)
class EvalReport:
    set_name: str
    model: str
    metrics: Metrics
    documents: int
    passages: int
    passages_encoded: int
    index_seconds: float
    search_seconds: float

    @property
    def passages_per_second(self) -> float:
        """Indexing speed, when this run encoded the passages (not reused from the cache)."""
        encoded = self.passages_encoded == self.passages
        return self.passages / self.index_seconds if encoded and self.index_seconds else 0.0

    @property
    def queries_per_second(self) -> float:
        return self.metrics.queries / self.search_seconds if self.search_seconds else 0.0


def _jsonl(path: Path) -> Iterator[dict]:
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError as exc:
                        raise EvalSetError(f"{path}:{number} is not JSON ({exc})") from exc
    except OSError as exc:
        raise EvalSetError(f"cannot read {path}: is this a BEIR folder? ({exc})") from exc


def load_beir(folder: Path, split: str = "test") -> EvalSet:
    qrels: dict[str, dict[str, int]] = {}
    qrels_path = folder / "qrels" / f"{split}.tsv"
    try:
        rows = qrels_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalSetError(f"cannot read {qrels_path}: is this a BEIR folder? ({exc})") from exc
    for number, row in enumerate(rows[1:], 2):
        fields = row.split("\t")
        if len(fields) != 3 or not fields[2].strip().lstrip("-").isdigit():
            raise EvalSetError(f"{qrels_path}:{number}: expected query-id, corpus-id, score")
        qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    try:
        queries = {str(q["_id"]): q["text"] for q in _jsonl(folder / "queries.jsonl")}
        documents = []
        for record in _jsonl(folder / "corpus.jsonl"):
            try:
                documents.append(
                    document_from_text(str(record["_id"]), record.get("title", ""), record["text"])
                )
            except DocumentError:
                continue  # an empty corpus line can never be retrieved; qrels keep counting it
    except KeyError as exc:
        raise EvalSetError(f"{folder}: a line lacks the field {exc}") from exc
    judged = {qid: text for qid, text in queries.items() if qid in qrels}
    if not judged:
        raise EvalSetError(f"{folder}: no query in queries.jsonl has a judgement in {qrels_path}")
    return EvalSet(folder.name, documents, judged, {q: qrels[q] for q in judged})


def score_rankings(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]
) -> Metrics:
    """Mean hit@1, recall@5, MRR@10 and nDCG@10 (linear gain) over the judged queries."""
    totals = [0.0, 0.0, 0.0, 0.0]
    for qid, judged in qrels.items():
        relevant = {doc for doc, grade in judged.items() if grade > 0}
        ranked = list(rankings.get(qid, ()))[:RANK_DEPTH]
        totals[0] += 1.0 if ranked[:1] and ranked[0] in relevant else 0.0
        totals[1] += len(relevant.intersection(ranked[:5])) / len(relevant) if relevant else 0.0
        first = next((rank for rank, doc in enumerate(ranked, 1) if doc in relevant), None)
        totals[2] += 1.0 / first if first else 0.0
        dcg = sum(judged.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked, 1))
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:RANK_DEPTH]
        idcg = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal, 1))
        totals[3] += dcg / idcg if idcg else 0.0
    n = len(qrels)
    hit, recall, mrr, ndcg = (t / n if n else 0.0 for t in totals)
    return Metrics(hit, recall, mrr, ndcg, n)


def rank_documents(searcher: Searcher, query: str, depth: int = RANK_DEPTH) -> list[str]:
    """Document ids by their best passage, as `Searcher.rank` orders the passages."""
    found = searcher.rank([query], CANDIDATES)[0]
    return list(dict.fromkeys(ranked.passage.doc_id for ranked in found))[:depth]


def index_set(
    folder: Path,
    eval_set: EvalSet,
    encoder: Encoder,
    settings: PassageSettings,
    *,
    cache: bool = True,
    progress: bool = False,
) -> tuple[StoredIndex, int]:
    """The set's passages indexed in a store of their own, and how many were encoded.

    With `cache`, the store is kept in the user's cache folder, so the next run on the same
    set and model encodes only what changed; without, it is built in a temporary folder
    and deleted once open (the open segments stay readable).
    """
    fingerprint = settings.fingerprint()
    root = cache_folder(folder, encoder.name, fingerprint) if cache else Path(tempfile.mkdtemp())
    try:
        report = index_documents(root, eval_set.documents, encoder, settings, progress=progress)
        stored = load_index(root, model=encoder.name, passage_settings=fingerprint)
    finally:
        if not cache:
            shutil.rmtree(root, ignore_errors=True)
    return stored, report.passages_encoded


def evaluate(
    folder: Path,
    encoder: Encoder,
    settings: PassageSettings,
    scoring: Scoring,
    *,
    reranker: Reranker | None = None,
    progress: bool = False,
    cache: bool = True,
    qdrant: QdrantSettings | None = None,
) -> EvalReport:
    """Index the set's corpus, then ask its questions one at a time, as a user would.

    With `cache`, vectors from an earlier run on the same set and model are reused. With
    `qdrant`, the questions are asked of a collection of the set's own in that store,
    copied from the embedded index (retrieval/qdrant/indexing.py) and dropped afterwards.
    """
    eval_set = load_beir(folder)
    started = time.perf_counter()
    stored, encoded = index_set(folder, eval_set, encoder, settings, cache=cache, progress=progress)
    with _store_for_questions(stored, qdrant, eval_set.name) as index:
        index_seconds = time.perf_counter() - started
        searcher = Searcher(index, encoder, scoring, reranker)
        started = time.perf_counter()
        rankings = {qid: rank_documents(searcher, text) for qid, text in eval_set.queries.items()}
        search_seconds = time.perf_counter() - started
    return EvalReport(
        set_name=eval_set.name,
        model=encoder.name,
        metrics=score_rankings(rankings, eval_set.qrels),
        documents=len(eval_set.documents),
        passages=len(stored.index),
        passages_encoded=encoded,
        index_seconds=index_seconds,
        search_seconds=search_seconds,
    )


@contextlib.contextmanager
def _store_for_questions(
    stored: StoredIndex, qdrant: QdrantSettings | None, set_name: str
) -> Iterator[SearchIndex]:
    """The embedded index itself, or its copy in a Qdrant collection of its own."""
    if qdrant is None:
        yield stored.index
        return
    from retrieval.qdrant.collection import live_collection
    from retrieval.qdrant.connection import connect, qdrant_errors
    from retrieval.qdrant.indexing import copy_index
    from retrieval.qdrant.searching import open_index

    name = re.sub(r"[^A-Za-z0-9_]", "_", set_name)
    own = replace(qdrant, collection=f"{qdrant.collection}_eval_{name}")
    client = connect(own)
    copy_index(stored, client, own)
    try:
        yield open_index(
            client,
            own,
            model=stored.manifest.model,
            passage_settings=stored.manifest.passage_settings,
        )
    finally:
        with qdrant_errors(own):
            live = live_collection(client, own.collection)
            if live is not None:
                client.delete_collection(live)
