"""Which lexical signal for citebot's Qdrant store: Qdrant's own BM25 text index, or ours?

On each evaluation set (BEIR layout, `retrieval.evaluation.load_beir`) every document is
one row, indexed as `titled_text(title, text)` without the product's passage cutting, and
the documents are ranked by a lexical score alone, three ways:

- citebot: `LexicalIndex` (retrieval/store/lexical.py: `analyse` terms, BM25 k1=0.9
  b=0.4), the reference.
- edge-text: an Edge shard whose payload field "text" has a full-text index (word
  tokenizer, lowercase, Snowball stemmer of the set's document language, no stopwords,
  BM25 scoring), queried with `TextQuery`, once with Qdrant's default k and b (1.2, 0.75)
  and once with k=0.9 b=0.4. Qdrant has no Ukrainian stemmer: uasquad_uk_dev is tried
  with the Russian one and with none.
- edge-sparse: an Edge shard with a sparse vector "lexical" (IDF modifier) holding our
  BM25 term weights as the store writes them (retrieval/qdrant/layout.py: n·(k1+1)/(n +
  k1·(1-b+b·len/avglen)) over the `analyse` terms, each hashed to 32 bits); a question is
  its distinct terms, weight 1 each.
  Qdrant's IDF then makes the dot product our raw BM25 score.

For each set and method it prints nDCG@10 and hit@1 of documents (per the qrels), the
time to build the index and the mean time of one question (one `query` call, the shards
on one search thread, as our index runs on one core). Build times include the text
analysis; edge-sparse's reuses the stems that citebot's build left in `analyse`'s cache.

    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
        .venv/bin/python benchmarks/qdrant_lexical_choice.py [SET_DIR ...]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import NamedTuple

import qdrant_edge as qe

from retrieval.evaluation import RANK_DEPTH, EvalSet, load_beir, score_rankings
from retrieval.qdrant.layout import bm25_weights, query_terms, term_counts
from retrieval.qdrant.writing import average_length
from retrieval.records import titled_text
from retrieval.store.lexical import K1, B, LexicalIndex

EVAL_ROOT = Path(__file__).resolve().parents[2] / "shared" / "eval"
SETS = ("xquad_en", "xquad_ru", "xquad_ru2en", "uasquad_uk_dev", "scifact")
# Qdrant's stemmer for each set's documents (None: no stemming, also for any other set);
# xquad_ru2en's documents are English.
STEMMERS: dict[str, tuple[str | None, ...]] = {
    "xquad_en": ("English",),
    "xquad_ru": ("Russian",),
    "xquad_ru2en": ("English",),
    "uasquad_uk_dev": ("Russian", None),
    "scifact": ("English",),
}
BM25_SETTINGS: dict[str, qe.Bm25Params | None] = {
    "default k,b": None,
    f"k={K1} b={B}": qe.Bm25Params(k=K1, b=B),
}
SPARSE = "lexical"
TEXT = "text"
UPSERT_BATCH = 256

Rankings = dict[str, list[str]]


class Row(NamedTuple):
    method: str
    ndcg_at_10: float
    hit_at_1: float
    build_seconds: float
    query_seconds: float  # all the questions


def row(method: str, evalset: EvalSet, rankings: Rankings, build: float, query: float) -> Row:
    metrics = score_rankings(rankings, evalset.qrels)
    return Row(method, metrics.ndcg_at_10, metrics.hit_at_1, build, query)


def timed_rankings(evalset: EvalSet, search: Callable[[str], list[int]]) -> tuple[Rankings, float]:
    """Each question's best document ids, from `search` (question → row numbers)."""
    doc_ids = [document.doc_id for document in evalset.documents]
    start = time.perf_counter()
    rankings = {qid: [doc_ids[r] for r in search(text)] for qid, text in evalset.queries.items()}
    return rankings, time.perf_counter() - start


def citebot_rows(evalset: EvalSet, texts: list[str], _: Path) -> list[Row]:
    start = time.perf_counter()
    index = LexicalIndex.build(texts)
    build = time.perf_counter() - start

    def search(query: str) -> list[int]:
        return [r for r, _ in LexicalIndex.top(index.scores(query), RANK_DEPTH)]

    rankings, query = timed_rankings(evalset, search)
    return [row("citebot LexicalIndex", evalset, rankings, build, query)]


def new_shard(folder: Path) -> qe.EdgeShard:
    """A shard with the sparse vector (an Edge shard needs at least one vector)."""
    sparse = {SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
    config = qe.EdgeConfig(sparse_vectors=sparse, max_search_threads=1)
    return qe.EdgeShard.create(str(folder), config)


def upsert(shard: qe.EdgeShard, points: Sequence[qe.Point]) -> None:
    for begin in range(0, len(points), UPSERT_BATCH):
        shard.update(qe.UpdateOperation.upsert_points(list(points[begin : begin + UPSERT_BATCH])))


def point_rows(shard: qe.EdgeShard, query: qe.TextQuery | qe.Query) -> list[int]:
    request = qe.QueryRequest(limit=RANK_DEPTH, query=query, with_payload=False)
    return [int(point.id) for point in shard.query(request)]


def text_index(language: str | None) -> qe.TextIndexParams:
    """Word tokens, lower-cased, stemmed by Snowball's `language` (None: not stemmed)."""
    stemmer = qe.SnowballParams(getattr(qe.SnowballLanguage, language)) if language else None
    return qe.TextIndexParams(
        tokenizer=qe.TokenizerType.Word,
        lowercase=True,
        stemmer=stemmer or qe.DisabledStemmer(),
        scoring=qe.TextScoringParams(qe.TextScoringType.Bm25),
    )


def edge_text_rows(evalset: EvalSet, texts: list[str], folder: Path) -> list[Row]:
    rows = []
    for language in STEMMERS.get(evalset.name, (None,)):
        stemmer = language or "no"
        start = time.perf_counter()
        shard = new_shard(folder / f"text-{stemmer}")
        shard.update(qe.UpdateOperation.create_field_index(TEXT, text_index(language)))
        upsert(shard, [qe.Point(n, {}, {TEXT: text}) for n, text in enumerate(texts)])
        build = time.perf_counter() - start
        for setting, params in BM25_SETTINGS.items():
            method = f"edge-text {stemmer} stemmer, {setting}"
            rows.append(text_query_row(evalset, shard, params, method, build))
        shard.close()
    return rows


def text_query_row(
    evalset: EvalSet, shard: qe.EdgeShard, params: qe.Bm25Params | None, method: str, build: float
) -> Row:
    def search(query: str) -> list[int]:
        return point_rows(shard, qe.TextQuery(TEXT, query, scoring=params))

    rankings, query = timed_rankings(evalset, search)
    return row(method, evalset, rankings, build, query)


def bm25_vectors(texts: list[str]) -> list[qe.SparseVector]:
    """The store's BM25 term weights of each text (retrieval/qdrant/layout.py), without the
    IDF (Qdrant's modifier adds it)."""
    average = average_length(texts)
    vectors = []
    for text in texts:
        weights = bm25_weights(term_counts(text), average)
        indices = sorted(weights)
        vectors.append(qe.SparseVector(indices, [weights[i] for i in indices]))
    return vectors


def query_vector(query: str) -> qe.SparseVector:
    indices = query_terms(query)
    return qe.SparseVector(indices, [1.0] * len(indices))


def edge_sparse_rows(evalset: EvalSet, texts: list[str], folder: Path) -> list[Row]:
    start = time.perf_counter()
    shard = new_shard(folder / "sparse")
    vectors = bm25_vectors(texts)
    upsert(shard, [qe.Point(n, {SPARSE: vector}) for n, vector in enumerate(vectors)])
    build = time.perf_counter() - start

    def search(query: str) -> list[int]:
        vector = query_vector(query)
        if not vector.indices:
            return []
        return point_rows(shard, qe.Query.Nearest(vector, using=SPARSE))

    rankings, query = timed_rankings(evalset, search)
    shard.close()
    return [row("edge-sparse our BM25 weights, IDF modifier", evalset, rankings, build, query)]


METHODS = (citebot_rows, edge_text_rows, edge_sparse_rows)


def print_set(evalset: EvalSet, rows: list[Row]) -> None:
    print(f"\n{evalset.name}: {len(evalset.documents)} documents, {len(evalset.queries)} questions")
    print(f"  {'method':48} {'nDCG@10':>7} {'hit@1':>6} {'build s':>8} {'query ms':>8}")
    for r in rows:
        per_query = 1000 * r.query_seconds / max(len(evalset.queries), 1)
        print(
            f"  {r.method:48} {r.ndcg_at_10:7.3f} {r.hit_at_1:6.3f}"
            f" {r.build_seconds:8.2f} {per_query:8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, help="BEIR folders (default: all five)")
    args = parser.parse_args()
    for folder in args.sets or [EVAL_ROOT / name for name in SETS]:
        evalset = load_beir(folder)
        texts = [titled_text(document.title, document.text) for document in evalset.documents]
        with TemporaryDirectory(prefix="qdrant_lexical_") as temporary:
            rows = [r for method in METHODS for r in method(evalset, texts, Path(temporary))]
        print_set(evalset, rows)


if __name__ == "__main__":
    main()
