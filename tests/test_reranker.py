"""The optional cross-encoder reranker, with a tiny BERT cross-encoder built here (random
weights, a vocabulary from the seed article): no package ships one and nothing may be
downloaded, so these tests prove the code path, not a gain in quality."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from telegram_fixtures import SEED_CORPUS

from bot.cli import main
from retrieval.encoders.base import Encoder
from retrieval.engine import Engine
from retrieval.errors import EncoderError
from retrieval.search.reranker import Reranker

QUESTION = "How many troops did Russia withdraw from Crimea?"
DEPTH = 5


@pytest.fixture(scope="session")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-layer BERT sequence classifier with one output, saved as a CrossEncoder folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("cross-encoder")
    text = " ".join(path.read_text(encoding="utf-8") for path in SEED_CORPUS.glob("*.txt"))
    words = sorted(set(re.findall(r"[a-z]+", text.lower())))
    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n"
    )
    torch.manual_seed(7)
    config = BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


def test_the_reranker_reorders_the_best_candidates_and_keeps_their_confidence(
    seed_engine: Engine, encoder: Encoder, cross_encoder: Path
) -> None:
    config = replace(seed_engine.config, reranker=str(cross_encoder), rerank_depth=DEPTH)
    reranking = Engine(config, encoder=encoder)
    plain = seed_engine.search(QUESTION, k=8).hits
    reranked = reranking.search(QUESTION, k=8).hits
    assert len(plain) == len(reranked) == 8

    head = reranked[:DEPTH]
    expected = Reranker(str(cross_encoder)).scores([(QUESTION, h.passage.text) for h in head])
    assert [h.rerank for h in head] == pytest.approx(expected.tolist(), abs=1e-5)
    scores = [h.rerank for h in head]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert {h.passage.id for h in head} == {h.passage.id for h in plain[:DEPTH]}
    assert [h.passage.id for h in head] != [h.passage.id for h in plain[:DEPTH]]
    # Past the depth, the fused order stands and nothing was rescored.
    assert [h.passage.id for h in reranked[DEPTH:]] == [h.passage.id for h in plain[DEPTH:]]
    assert all(h.rerank is None for h in reranked[DEPTH:])
    # The confidence is still the calibrated one of the dense and lexical signals.
    confidence = {h.passage.id: h.score for h in plain}
    assert all(h.score == pytest.approx(confidence[h.passage.id]) for h in reranked)
    assert all(h.rerank is None for h in plain)


def test_the_setting_turns_it_on_in_the_cli(
    indexed: list[str],
    cross_encoder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CITEBOT_RERANKER", str(cross_encoder))
    monkeypatch.setenv("CITEBOT_RERANK_DEPTH", "3")
    assert main(["ask", "--json", "--k", "4", QUESTION, *indexed]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    reranks = [hit["signals"].get("rerank") for hit in hits]
    assert all(isinstance(score, float) for score in reranks[:3]) and reranks[3] is None
    assert reranks[:3] == sorted(reranks[:3], reverse=True)
    assert np.isfinite(reranks[:3]).all()


def test_a_reranker_that_cannot_load_is_one_clear_line(
    indexed: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CITEBOT_RERANKER", str(tmp_path / "no-such-model"))
    assert main(["ask", QUESTION, *indexed]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("citebot: cannot load the reranker ") and err.count("\n") == 1
    with pytest.raises(EncoderError, match="CITEBOT_RERANKER"):
        Reranker("someone/not-a-model")
