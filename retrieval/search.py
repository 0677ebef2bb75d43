"""The one search API both faces call: a question in, an `Answer` with sourced hits out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.encoders import Encoder
from retrieval.errors import CitebotError
from retrieval.index import PassageIndex
from retrieval.records import Answer, Hit, Passage
from retrieval.sentences import split_sentences

# Cosine score below which the best hit is reported as "no good match". Derived per model by
# `python benchmarks/calibrate_threshold.py` (README, "Honest no-match"); other models get
# no threshold until someone calibrates them (set CITEBOT_MIN_SCORE).
CALIBRATED_MIN_SCORES: dict[str, float] = {
    "sentence-transformers/all-MiniLM-L6-v2": 0.45,
}


def default_min_score(model: str) -> float:
    return CALIBRATED_MIN_SCORES.get(model, 0.0)


class Searcher:
    """Answers questions from one loaded index with one encoder."""

    def __init__(self, index: PassageIndex, encoder: Encoder, min_score: float) -> None:
        self.index = index
        self.encoder = encoder
        self.min_score = min_score

    def search(self, query: str, k: int = 5, *, explain: bool = True) -> Answer:
        return self.search_many([query], k, explain=explain)[0]

    def search_many(
        self, queries: Sequence[str], k: int = 5, *, explain: bool = True
    ) -> list[Answer]:
        """Answer several questions with one encoder call; `explain` picks each best sentence."""
        cleaned = [" ".join(q.split()) for q in queries]
        if not all(cleaned):
            raise CitebotError("the question is empty: type a few words to search for")
        if k < 1:
            raise CitebotError(f"k must be at least 1, got {k}")
        vectors = self.encoder.encode_queries(cleaned)
        # Ask for extra passages so that dropping duplicates (copied documents) still leaves k.
        results = self.index.search(vectors, 2 * k + 3)
        answers = []
        for query, vector, found in zip(cleaned, vectors, results, strict=True):
            kept = _without_duplicates(found)[:k]
            passages = [passage for passage, _ in kept]
            best = self._best_sentences(passages, vector) if explain else [""] * len(kept)
            hits = tuple(
                Hit(passage, self.index.sources[passage.doc_id], score, sentence)
                for (passage, score), sentence in zip(kept, best, strict=True)
            )
            answered = bool(hits) and hits[0].score >= self.min_score
            answers.append(Answer(query, hits, answered, self.min_score))
        return answers

    def _best_sentences(self, passages: list[Passage], query_vector: np.ndarray) -> list[str]:
        """The sentence of each passage closest to the question, encoded in one batch."""
        split = [split_sentences(p.text) or [p.text.strip()] for p in passages]
        flat = [sentence for sentences in split for sentence in sentences]
        if len(flat) == len(split):
            return flat
        scores = self.encoder.encode_passages(flat) @ query_vector
        best, offset = [], 0
        for sentences in split:
            best.append(sentences[int(np.argmax(scores[offset : offset + len(sentences)]))])
            offset += len(sentences)
        return best


def _without_duplicates(found: list[tuple[Passage, float]]) -> list[tuple[Passage, float]]:
    seen: set[str] = set()
    kept = []
    for passage, score in found:
        if passage.text not in seen:
            seen.add(passage.text)
            kept.append((passage, score))
    return kept
