"""The shipped seed article, asked through the real model and the real FAISS index."""

from __future__ import annotations

import pytest

from retrieval.engine import Engine

SEED_FILE = "000_e2df237fec6388f8.txt"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many troops did Russia withdraw from Crimea?", "3,500 troops"),
        ("What did Russia restrict in the Black Sea?", "restrict navigation"),
        ("Which heavy weapons did Russia deploy to occupied Crimea?", "120mm mortars"),
        ("How many battalion tactical groups did Russia deploy in March 2021?", "28 battalion"),
        ("How many Russian troops remain near Ukraine according to NATO?", "tens of thousands"),
    ],
)
def test_seed_question_is_answered_by_the_right_passage(
    seed_engine: Engine, question: str, expected: str
) -> None:
    answer = seed_engine.search(question, k=3)
    top = answer.hits[0]
    assert answer.answered
    assert expected in top.passage.text
    assert expected in top.best_sentence
    assert top.source.path == SEED_FILE
    assert top.source.title == "Tens of thousands of Russian troops remain in and around Ukraine"


def test_hits_point_at_their_text_in_the_document(seed_engine: Engine) -> None:
    answer = seed_engine.search("Kerch Strait navigation", k=3)
    for hit in answer.hits:
        assert hit.passage.end - hit.passage.start == len(hit.passage.text)
        assert hit.best_sentence in hit.passage.text
    scores = [hit.score for hit in answer.hits]
    assert scores == sorted(scores, reverse=True)


def test_page_debris_never_becomes_a_passage(seed_engine: Engine) -> None:
    index = seed_engine.searcher().index
    passages = [p for doc in seed_engine.manifest().documents for p in index.document_passages(doc)]
    assert passages
    assert not [p for p in passages if "Видео дня" in p.text or "Read also" in p.text]
    assert any(p.text.startswith("Stoltenberg added that Russia continues") for p in passages)


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2018 World Cup?",
        "What is a good recipe for chocolate cake?",
        "How do I reset my wifi router password?",
        "Кто выиграл чемпионат мира по футболу 2018 года?",
    ],
)
def test_off_topic_question_is_not_answered(seed_engine: Engine, question: str) -> None:
    answer = seed_engine.search(question, k=3)
    assert not answer.answered
    assert answer.hits, "the nearest passages are still listed, marked weak"
    assert all(hit.score < answer.threshold for hit in answer.hits)
