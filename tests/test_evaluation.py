"""Evaluation metrics against hand-computed values, and `citebot eval` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fake_encoder import HashingEncoder

from bot.cli import main
from retrieval.errors import EvalSetError
from retrieval.evaluation import index_set, load_beir, score_rankings
from retrieval.passages.cutting import PassageSettings


def test_metrics_match_values_computed_by_hand() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1, "c": 2}, "q3": {"z": 1}}
    rankings = {"q1": ["a", "x"], "q2": ["x", "c", "y", "b"], "q3": ["x", "y"]}
    metrics = score_rankings(rankings, qrels)
    # q1: relevant first. q2: first relevant at rank 2; c (grade 2) at 2, b (grade 1) at 4.
    # q3: nothing relevant retrieved.
    ndcg_q2 = (2 / math.log2(3) + 1 / math.log2(5)) / (2 / math.log2(2) + 1 / math.log2(3))
    assert metrics.queries == 3
    assert metrics.hit_at_1 == pytest.approx(1 / 3)
    assert metrics.recall_at_5 == pytest.approx((1 + 1 + 0) / 3)
    assert metrics.mrr_at_10 == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert metrics.ndcg_at_10 == pytest.approx((1 + ndcg_q2 + 0) / 3)


def test_only_the_top_ten_count() -> None:
    rankings = {"q": [f"d{i}" for i in range(10)] + ["hit"]}
    metrics = score_rankings(rankings, {"q": {"hit": 1}})
    assert (metrics.mrr_at_10, metrics.ndcg_at_10) == (0.0, 0.0)


def write_set(folder: Path) -> None:
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        ("volcano", "Etna", "Mount Etna on Sicily is the most active volcano in Europe."),
        ("bread", "Sourdough", "Sourdough bread rises with wild yeast and lactic acid bacteria."),
        ("chess", "Chess", "Magnus Carlsen held the world chess championship title for a decade."),
    ]
    lines = [json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in corpus]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    queries = [
        ("q1", "Which volcano in Europe is the most active?"),
        ("q2", "What makes sourdough bread rise?"),
        ("q3", "Who was world chess champion for ten years?"),
        ("q4", "a query without judgement is ignored"),
    ]
    lines = [json.dumps({"_id": i, "text": t}) for i, t in queries]
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # q3 is judged against the wrong document on purpose, so the figures are not all 1.
    qrels = "query-id\tcorpus-id\tscore\nq1\tvolcano\t1\nq2\tbread\t1\nq3\tvolcano\t1\n"
    (folder / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")


def test_eval_command_scores_a_tiny_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_set(tmp_path / "tiny")
    assert main(["eval", "--json", str(tmp_path / "tiny")]) == 0
    figures = json.loads(capsys.readouterr().out)
    # q1 and q2 find their document first; q3's judged document ranks 2nd or 3rd.
    assert figures["queries"] == 3
    assert figures["hit@1"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["recall@5"] == pytest.approx(1.0)
    assert 2 / 3 + 1 / 9 <= figures["mrr@10"] <= 2 / 3 + 1 / 6 + 1e-4
    assert figures["documents"] == 3 and figures["passages"] == 3
    assert figures["queries_per_s"] > 0 and figures["passages_per_s"] > 0


def test_broken_set_is_refused_with_the_file_named(tmp_path: Path) -> None:
    write_set(tmp_path / "broken")
    (tmp_path / "broken" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1 x\n")
    with pytest.raises(EvalSetError, match=r"test.tsv:2"):
        load_beir(tmp_path / "broken")
    with pytest.raises(EvalSetError, match="BEIR"):
        load_beir(tmp_path / "missing")


def test_the_eval_cache_is_reused_only_by_the_same_build_of_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_set(tmp_path / "tiny")
    eval_set, encoder = load_beir(tmp_path / "tiny"), HashingEncoder()
    encoder.build = "build-1"

    def encoded() -> int:
        return index_set(tmp_path / "tiny", eval_set, encoder, PassageSettings())[1]

    assert encoded() == 3
    assert encoded() == 0  # the same build: every vector is reused
    encoder.build = "build-2"
    assert encoded() == 3  # rebuilt graph, other vectors: nothing reused
