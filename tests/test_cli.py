"""`citebot` through its real entry point, on the real model and a real FAISS index."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from retrieval.encoders.base import DEFAULT_MODEL

CITEBOT = Path(sys.executable).with_name("citebot")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_is_instant_and_loads_no_model() -> None:
    probe = (
        "import sys; from bot.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'torch', 'faiss', 'sentence_transformers'} & set(sys.modules)\n"
        "print('HEAVY', sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "index" in result.stdout and "ask" in result.stdout
    assert "HEAVY []" in result.stdout


def test_ask_prints_passage_and_source(indexed: list[str], capsys) -> None:
    code, out, _ = run_cli(
        capsys, "ask", "How many troops did Russia withdraw from Crimea?", *indexed
    )
    assert code == 0
    first = out.split("[2]")[0]
    assert "3,500 troops" in first
    assert "Source: “Tens of thousands of Russian troops" in first
    assert "000_e2df237fec6388f8.txt" in first
    assert "No passage matches" not in out


def test_ask_json_has_the_documented_shape(indexed: list[str], capsys) -> None:
    code, out, _ = run_cli(
        capsys, "ask", "--json", "--k", "2", "What did Russia restrict in the Black Sea?", *indexed
    )
    assert code == 0
    answer = json.loads(out)
    assert answer["query"] == "What did Russia restrict in the Black Sea?"
    assert answer["answered"] is True
    assert len(answer["hits"]) == 2
    hit = answer["hits"][0]
    assert set(hit) >= {"text", "score", "best_sentence", "source"}
    assert hit["text"].startswith("Stoltenberg added that")
    assert set(hit["source"]) >= {"path", "title", "date", "url", "start", "end"}
    assert hit["source"]["path"] == "000_e2df237fec6388f8.txt"


def test_off_topic_question_is_marked_weak(indexed: list[str], capsys) -> None:
    code, out, _ = run_cli(capsys, "ask", "Who won the 2018 World Cup?", *indexed)
    assert code == 0
    assert "No passage matches this well" in out
    assert "[1] score" in out and "· weak" in out
    code, out, _ = run_cli(capsys, "ask", "--json", "Who won the 2018 World Cup?", *indexed)
    answer = json.loads(out)
    assert answer["answered"] is False
    assert all(hit["weak"] for hit in answer["hits"])


def test_stdin_batch_prints_one_json_line_per_question(indexed: list[str]) -> None:
    questions = "How many troops did Russia withdraw from Crimea?\n\nWho won the 2018 World Cup?\n"
    result = subprocess.run(
        [str(CITEBOT), "ask", "--json", "-", *indexed],
        input=questions,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CITEBOT_TOP_K": "2"},
        check=True,
    )
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["query"] for a in answers] == [
        "How many troops did Russia withdraw from Crimea?",
        "Who won the 2018 World Cup?",
    ]
    assert [a["answered"] for a in answers] == [True, False]
    assert all(len(a["hits"]) == 2 for a in answers)
    assert "3,500" in answers[0]["hits"][0]["text"]


def test_status_reports_documents_and_staleness(
    indexed: list[str], seed_corpus: Path, capsys
) -> None:
    code, out, _ = run_cli(capsys, "status", *indexed)
    assert code == 0
    assert "1 documents" in out and DEFAULT_MODEL in out
    (seed_corpus / "new.txt").write_text("A new note about the Kerch Strait.", encoding="utf-8")
    code, out, _ = run_cli(capsys, "status", "--json", *indexed)
    summary = json.loads(out)
    assert summary["counts"]["documents"] == 1
    assert summary["out_of_date"] == ["new      new.txt"]


def test_ask_without_index_says_how_to_build_one(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "ask", "anything", "--index", str(tmp_path / "none"))
    assert code == 1
    assert err.strip() == f"citebot: no index in {tmp_path / 'none'}/ yet: run `citebot index`"


def test_index_built_with_another_model_is_refused(indexed: list[str], capsys) -> None:
    code, _, err = run_cli(capsys, "ask", "troops", "--model", "intfloat/e5-small-v2", *indexed)
    assert code == 1
    assert f"was built with model '{DEFAULT_MODEL}'" in err
    assert "'intfloat/e5-small-v2' is configured" in err
    assert "citebot index --rebuild" in err
    assert len(err.strip().splitlines()) == 1


def test_model_that_is_not_installed_gives_one_line(
    tmp_path: Path, seed_corpus: Path, capsys
) -> None:
    code, _, err = run_cli(
        capsys,
        "index",
        "--corpus",
        str(seed_corpus),
        "--index",
        str(tmp_path / "index"),
        "--model",
        "nobody/no-such-model",
    )
    assert code == 1
    assert err.startswith("citebot: cannot load embedding model 'nobody/no-such-model'")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_bad_settings_value_is_named(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_TOP_K", "many")
    code, _, err = run_cli(capsys, "status")
    assert code == 1
    assert "CITEBOT_TOP_K='many' is not a valid value" in err


def test_chat_answers_until_the_user_leaves(
    indexed: list[str], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("What did Russia restrict in the Black Sea?\nquit\n")
    )
    code, out, _ = run_cli(capsys, "chat", "--k", "1", *indexed)
    assert code == 0
    assert "Stoltenberg added that Russia continues to restrict navigation" in out
    assert "[2]" not in out
