"""The one search API both faces call: a question in, an `Answer` with sourced hits out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.decoding import replace_invalid, strip_control_characters
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
        cleaned = [
            " ".join(strip_control_characters(replace_invalid(q)[0]).split()) for q in queries
        ]
        if not all(cleaned):
            raise CitebotError("the question is empty: type a few words to search for")
        if k < 1:
            raise CitebotError(f"k must be at least 1, got {k}")
        vectors = self.encoder.encode_queries(cleaned)
        # Ask for extra passages so that dropping duplicates (copied documents) still leaves k.
        results = self.index.search(vectors, 2 * k + 3)
        kept = [_without_duplicates(found)[:k] for found in results]
        best = (
            self._best_sentences([[p for p, _ in hits] for hits in kept], vectors)
            if explain
            else [[""] * len(hits) for hits in kept]
        )
        answers = []
        for query, hits_found, sentences in zip(cleaned, kept, best, strict=True):
            hits = tuple(
                Hit(passage, self.index.sources[passage.doc_id], score, sentence)
                for (passage, score), sentence in zip(hits_found, sentences, strict=True)
            )
            answered = bool(hits) and hits[0].score >= self.min_score
            answers.append(Answer(query, hits, answered, self.min_score))
        return answers

    def _best_sentences(
        self, passages: list[list[Passage]], query_vectors: np.ndarray
    ) -> list[list[str]]:
        """Per question, the sentence of each hit closest to it.

        The distinct sentences of every hit of every question go to the encoder in one
        batch: a burst of questions costs one model call, not one per question.
        """
        split = {p.id: split_sentences(p.text) or [p.text.strip()] for ps in passages for p in ps}
        row: dict[str, int] = {}  # each distinct sentence of a multi-sentence hit → its vector
        for sentences in split.values():
            if len(sentences) > 1:
                for sentence in sentences:
                    row.setdefault(sentence, len(row))
        vectors = self.encoder.encode_passages(list(row))
        best = []
        for hits, query_vector in zip(passages, query_vectors, strict=True):
            picked = []
            for passage in hits:
                sentences = split[passage.id]
                if len(sentences) > 1:
                    scores = vectors[[row[s] for s in sentences]] @ query_vector
                    picked.append(sentences[int(np.argmax(scores))])
                else:
                    picked.append(sentences[0])
            best.append(picked)
        return best


def _without_duplicates(found: list[tuple[Passage, float]]) -> list[tuple[Passage, float]]:
    seen: set[str] = set()
    kept = []
    for passage, score in found:
        if passage.text not in seen:
            seen.add(passage.text)
            kept.append((passage, score))
    return kept
