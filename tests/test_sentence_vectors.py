"""Sentence vectors pooled from the token states of a passage's own encoding: each token
maps back to the characters it read, the passage vectors stay what `encode_passages` gives,
and a sentence that answers a question is the closest to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from retrieval.encoders.base import E5_ONNX, MINILM_ONNX
from retrieval.encoders.e5_tokenizer import E5Tokenizer
from retrieval.encoders.onnx_encoder import (
    TOKENIZER_FILE,
    OnnxEncoder,
    e5_tokenizer,
    onnx_model_path,
)
from retrieval.passages.cutting import PassageSettings
from retrieval.passages.sentences import sentence_spans
from retrieval.records import titled_spans, titled_text
from retrieval.search.searcher import Searcher, default_scoring
from retrieval.store.generations import load_index
from retrieval.store.indexer import index_corpus

# Characters e5's table rewrites: a guillemet, Ё, no-break and thin spaces next to plain
# ones (squeezed to one), a ligature, an ellipsis, Ĳ (two letters), typographic quotes, ½
# (three characters), a control character (dropped), a mathematical letter.
ODD = (
    "«Ёлка»\u00a0 стоит\u2009у входа… Fish ﬁnally\x01 swam. Ĳssel’s “quote”  ½ km,"
    " 𝔘nicode\ttabs\n\nand  lines."
)
BRIDGE = [
    "The city council opened a new pedestrian bridge over the river on Tuesday.",
    "Construction took three years and cost 1.2 billion hryvnias.",
    "Meanwhile, the local football team won the national cup after a penalty shootout.",
    "Forecasters expect sunny weather for the rest of the week.",
]


@pytest.fixture(scope="module")
def tokenizer() -> E5Tokenizer:
    return e5_tokenizer(onnx_model_path(E5_ONNX).parent)


@pytest.fixture(scope="module")
def minilm() -> OnnxEncoder:
    return OnnxEncoder(MINILM_ONNX)


def test_e5_offsets_point_at_the_characters_each_token_read(tokenizer: E5Tokenizer) -> None:
    pieces = Tokenizer.from_file(str(onnx_model_path(E5_ONNX).parent / TOKENIZER_FILE))
    prefix = "passage: "
    for text in (ODD, "plain words", "  leading spaces", ""):
        [(ids, offsets)] = tokenizer.encode_passages_with_offsets([text])
        assert ids == tokenizer.encode([text], query=False)[0]
        assert offsets.shape == (len(ids), 2)
        assert np.all(np.diff(offsets[:, 0]) >= 0) and np.all(offsets[:, 1] <= len(text))
        read = [
            tokenizer.normalise((prefix + text)[start + len(prefix) : end + len(prefix)])
            for start, end in offsets
        ]
        for token, (start, end), characters in zip(ids, offsets, read, strict=True):
            if end > 0:  # the prefix's own tokens aside (their ▁ has no character)
                assert characters.replace(" ", "▁") == pieces.id_to_token(token), (token, start)
        covered = {i for start, end in offsets for i in range(max(start, 0), end)}
        visible = {i for i, c in enumerate(text) if tokenizer.normalise(c).strip()}
        assert visible <= covered


def test_normalising_with_origins_matches_normalising(tokenizer: E5Tokenizer) -> None:
    for text in (ODD, "a\x00hidden", "   ", "", "ﬁ ½"):
        normalised, origins = tokenizer.normalise_with_origins(text)
        assert normalised == tokenizer.normalise(text)
        assert len(origins) == len(normalised)
        assert all(tokenizer.normalise(text[i]) for i in origins)  # no dropped character


def test_passage_vectors_are_those_of_encode_passages(encoder: OnnxEncoder) -> None:
    texts = [" ".join(BRIDGE), ODD, "x", "", " ".join(BRIDGE * 25)]  # the last, three windows
    passages, sentences = encoder.encode_passages_with_spans(
        texts, [sentence_spans(t) for t in texts]
    )
    assert np.array_equal(passages, encoder.encode_passages(texts))
    for text, vectors in zip(texts, sentences, strict=True):
        assert vectors.shape == (len(sentence_spans(text)), encoder.dim)
        assert vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_span_of_the_whole_text_is_close_to_its_vector(encoder: OnnxEncoder) -> None:
    english = " ".join(BRIDGE * 7)  # 420 tokens: the Russian half straddles the two windows
    russian = " ".join(
        "Космический телескоп сфотографировал далёкую галактику, свет которой шёл к нам "
        "миллиарды лет, и астрономы обсуждают снимок."
        for _ in range(12)
    )
    text = f"{english} {russian}"
    assert encoder.count_tokens(text) > encoder.max_tokens
    spans = [(0, len(text)), (0, len(english)), (len(english) + 1, len(text))]
    [passage], [(whole, first, second)] = encoder.encode_passages_with_spans([text], [spans])
    assert whole @ passage > 0.99
    assert whole @ passage > max(first @ passage, second @ passage)
    question = encoder.encode_queries(["What did the space telescope photograph?"])[0]
    assert second @ question > first @ question


@pytest.mark.parametrize("model", [E5_ONNX, MINILM_ONNX], ids=["e5", "minilm"])
def test_the_sentence_that_answers_is_closest_to_the_question(
    model: str, encoder: OnnxEncoder, minilm: OnnxEncoder
) -> None:
    chosen = encoder if model == E5_ONNX else minilm
    title, text = "City news", " ".join(BRIDGE)
    spans = titled_spans(title, sentence_spans(text))
    [_], [vectors] = chosen.encode_passages_with_spans([titled_text(title, text)], [spans])
    questions = ["Who won the national cup?", "How much did the bridge cost?"]
    scores = vectors @ chosen.encode_queries(questions).T
    assert np.argmax(scores, axis=0).tolist() == [2, 1]


def test_a_span_no_token_reads_gets_the_passage_vector(
    encoder: OnnxEncoder, minilm: OnnxEncoder
) -> None:
    hidden = "Visible sentence.\x00 After a NUL e5 reads nothing."
    spans = [(0, 17), (19, len(hidden)), (17, 18)]  # the sentence, past the NUL, the NUL
    [passage], [vectors] = encoder.encode_passages_with_spans([hidden], [spans])
    assert np.allclose(vectors[1:], passage) and not np.allclose(vectors[0], passage)
    long = "Troops went home. " * 200  # past MiniLM's 256 tokens
    [passage], [vectors] = minilm.encode_passages_with_spans([long], [[(0, 17), (3000, 3017)]])
    assert np.allclose(vectors[1], passage) and not np.allclose(vectors[0], passage)
    [_], [none] = encoder.encode_passages_with_spans(["No spans."], [[]])
    assert none.shape == (0, encoder.dim)


# --- stored at index time, used by search -----------------------------------------------


def _bridge_corpus(folder: Path) -> Path:
    folder.mkdir()
    text = "Kyiv news\n\n" + " ".join(BRIDGE)
    (folder / "bridge.txt").write_text(text, encoding="utf-8")
    (folder / "notes.txt").write_text("A note\n\nOne sentence only.", encoding="utf-8")
    return folder


def test_the_indexer_stores_sentence_vectors_and_search_picks_from_them(
    encoder: OnnxEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _bridge_corpus(tmp_path / "corpus")
    index_corpus(corpus, tmp_path / "index", encoder, PassageSettings())
    index = load_index(tmp_path / "index", model=encoder.name, passage_settings=None).index
    [bridge] = index.document_passages("bridge.txt")
    [row] = index.rows_of([bridge.id]).tolist()
    stored = index.sentence_vectors(row)
    assert stored.shape == (4, encoder.dim)
    [note] = index.document_passages("notes.txt")
    assert index.sentence_vectors(int(index.rows_of([note.id])[0])).shape[0] == 0

    def no_sentence_encoding(texts):  # only the question may be encoded now
        raise AssertionError(f"encoded {texts!r} at question time")

    monkeypatch.setattr(encoder, "encode_passages", no_sentence_encoding)
    searcher = Searcher(index, encoder, default_scoring(encoder.name))
    for question, answer in (
        ("Who won the national football cup?", BRIDGE[2]),
        ("What weather do forecasters expect?", BRIDGE[3]),
    ):
        assert searcher.search(question, 1).hits[0].best_sentence == answer


def test_a_question_in_another_script_has_its_sentences_encoded(
    encoder: OnnxEncoder, tmp_path: Path
) -> None:
    corpus = _bridge_corpus(tmp_path / "corpus")
    index_corpus(corpus, tmp_path / "index", encoder, PassageSettings())
    index = load_index(tmp_path / "index", model=encoder.name, passage_settings=None).index
    searcher = Searcher(index, encoder, default_scoring(encoder.name))
    question = "Кто выиграл кубок по футболу?"
    [hit] = searcher.search(question, 1).hits
    query = encoder.encode_queries([question])[0]
    reference = BRIDGE[int(np.argmax(encoder.encode_passages(BRIDGE) @ query))]
    assert hit.best_sentence == reference == BRIDGE[2]


def test_an_encoder_without_token_states_stores_none_and_encodes(tmp_path: Path) -> None:
    from fake_encoder import HashingEncoder

    hashing = HashingEncoder()
    corpus = _bridge_corpus(tmp_path / "corpus")
    index_corpus(corpus, tmp_path / "index", hashing, PassageSettings())
    index = load_index(tmp_path / "index", model=hashing.name, passage_settings=None).index
    [bridge] = index.document_passages("bridge.txt")
    assert index.sentence_vectors(int(index.rows_of([bridge.id])[0])).shape[0] == 0
    searcher = Searcher(index, hashing, default_scoring(hashing.name))
    [hit] = searcher.search("football team national cup penalty", 1).hits
    assert hit.best_sentence == BRIDGE[2]
