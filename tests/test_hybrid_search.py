"""Hybrid, multilingual search: BM25 with stemming for three languages, multilingual e5,
fusion, one ranking for every face and for `citebot eval`, near-duplicate folding and
news filters. User-visible behaviour runs on the real model and the real indexes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import Store
from fake_bot_api import FakeBotApi
from telegram.ext import Application
from telegram_fixtures import replies, talk

from bot.cli import main
from bot.telegram.format import source_line
from bot.telegram.handlers import BadDateError, parse_filters
from bot.telegram.phrases import ENGLISH
from bot.terminal_format import format_answer
from retrieval.encoders.base import Encoder
from retrieval.engine import Engine
from retrieval.errors import CitebotError
from retrieval.evaluation import rank_documents
from retrieval.passages.cutting import PassageSettings
from retrieval.records import Document, Passage, Source
from retrieval.search.filters import Filters, date_bound
from retrieval.search.fusion import METHODS, Fusion
from retrieval.search.searcher import Searcher, default_scoring, fold_near_duplicates
from retrieval.store.embedding import embed_documents
from retrieval.store.lexical import LexicalIndex, TermCounts
from retrieval.store.stemming import analyse

SEED_FILE = "000_e2df237fec6388f8.txt"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- lexical ------------------------------------------------------------------------------


def test_words_are_stemmed_by_their_language() -> None:
    assert analyse("Troops withdrawing") == analyse("troop withdraw")  # English Snowball
    assert analyse("войска")[0] == analyse("войсками")[0]  # Russian Snowball
    assert analyse("військами й військо")[0] == analyse("військ і військо")[0]  # Ukrainian
    assert analyse("Об’єкт ОБ'ЄКТ") == [analyse("об'єкт")[0]] * 2  # apostrophes, case


def test_bm25_scores_are_a_share_of_the_query(tmp_path: Path) -> None:
    texts = [
        "The ferry to Odesa leaves from pier 7 at night.",
        "Pier 7 was repaired in May.",
        "Grain exports rose this spring.",
    ]
    index = LexicalIndex.build(texts)
    scores = index.scores("When does the ferry to Odesa leave from pier 7?")
    assert 0 < scores[1] < scores[0] < 1 and scores[2] == 0
    assert index.top(scores, 5) == [(0, float(scores[0])), (1, float(scores[1]))]
    assert index.scores("Когда отходит паром?").max() == 0  # nothing shared: no evidence
    TermCounts.build(texts).save(tmp_path)
    again = LexicalIndex([TermCounts.load(tmp_path)], [0], np.ones(3, dtype=bool))
    assert np.allclose(again.scores("ferry pier"), index.scores("ferry pier"))


def test_term_counts_hold_each_rows_count_of_each_term() -> None:
    texts = ["ferry ferry pier", "", "Pier, pier: the ferry!", "Паром паром"]
    counts = TermCounts.build(texts)
    (ferry,), (pier,), (parom,) = analyse("ferry"), analyse("pier"), analyse("паром")
    expected = {ferry: ([0, 2], [2, 1]), pier: ([0, 2], [1, 2]), parom: ([3], [2])}
    for term, (rows, how_often) in expected.items():
        held = counts.postings(term)
        assert held is not None
        assert held[0].tolist() == rows and held[1].tolist() == how_often
    assert counts.postings("harbour") is None
    assert counts.lengths.tolist() == [len(analyse(text)) for text in texts]
    assert len(TermCounts.build([])) == 0


def test_bm25_statistics_count_only_live_rows_across_segments() -> None:
    """Two segments with a dead row score as one fresh build of the live rows would."""
    live_texts = ["The ferry leaves at noon.", "Pier 7 was repaired.", "The ferry is late."]
    fresh = LexicalIndex.build(live_texts).scores("ferry pier")
    first = TermCounts.build([live_texts[0], "The ferry was sold to the harbour."])
    second = TermCounts.build(live_texts[1:])
    split = LexicalIndex([first, second], [0, 2], np.array([True, False, True, True]))
    scores = split.scores("ferry pier")
    assert scores[1] == 0
    assert np.allclose(scores[[0, 2, 3]], fresh)


@pytest.mark.parametrize("dead_share", [0.03, 0.6])
def test_bm25_over_a_segment_with_few_or_many_dead_rows_equals_a_fresh_build(
    dead_share: float,
) -> None:
    """A term's live rows are counted by looking up the few dead rows among its postings,
    or by reading the live mask when many are dead; both give a fresh build's scores."""
    rng = np.random.default_rng(7)
    words = ["ferry", "pier", "harbour", "tram", "budget", "council"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 12)))) for _ in range(200)]
    live = rng.random(len(texts)) >= dead_share
    split = LexicalIndex([TermCounts.build(texts)], [0], live)
    fresh = LexicalIndex.build([text for text, alive in zip(texts, live, strict=True) if alive])
    for question in ("ferry", "tram budget", "council harbour pier"):
        scores = split.scores(question)
        assert not scores[~live].any()
        assert np.allclose(scores[live], fresh.scores(question))


def test_bm25_top_keeps_equal_scores_in_row_order() -> None:
    scores = np.array([0.2, 0.5, 0.0, 0.5, 0.2, 0.2, 0.9], dtype=np.float32)
    assert [row for row, _ in LexicalIndex.top(scores, 4)] == [6, 1, 3, 0]
    assert [row for row, _ in LexicalIndex.top(scores, 10)] == [6, 1, 3, 0, 4, 5]
    assert LexicalIndex.top(np.zeros(3, dtype=np.float32), 5) == []


# --- fusion -------------------------------------------------------------------------------


def test_term_counts_selected_and_concatenated_score_as_a_fresh_build() -> None:
    first = ["Ferries to the island resumed in May.", "Паром до острова ходить двічі на день."]
    second = ["The council cut the tram budget.", "Ferries stopped in June.", "Трамвай ходит."]
    kept_first, kept_second = np.array([1]), np.array([0, 2])
    merged = TermCounts.concatenate(
        [TermCounts.build(first).select(kept_first), TermCounts.build(second).select(kept_second)]
    )
    texts = [first[1], second[0], second[2]]
    fresh = LexicalIndex.build(texts)
    joined = LexicalIndex([merged], [0], np.ones(len(texts), dtype=bool))
    for question in ("паром острова", "tram budget", "трамвай", "ferries"):
        assert joined.scores(question) == pytest.approx(fresh.scores(question))
    assert "may" not in merged.terms  # only held by a row left out


def test_fusion_methods_order_complete_pairs() -> None:
    dense = {1: 0.90, 2: 0.85, 3: 0.80}
    lexical = {1: 0.0, 2: 0.6, 3: 0.1}
    assert Fusion("convex", 0.0).order(dense, lexical) == [1, 2, 3]
    assert Fusion("convex", 1.0).order(dense, lexical) == [2, 3, 1]
    for method in METHODS:
        assert Fusion(method, 0.5).order(dense, lexical)[0] == 2, method
    with pytest.raises(ValueError, match="fusion must be one of"):
        Fusion("sum")


# --- one search path, in three languages ----------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "How many troops did Russia withdraw from Crimea?",
        "Сколько военных Россия отвела из оккупированного Крыма?",
        "Скільки військових Росія вивела з окупованого Криму?",
    ],
)
def test_the_seed_answers_in_english_russian_and_ukrainian(seed_engine: Engine, question: str):
    answer = seed_engine.search(question, k=3)
    assert answer.answered and answer.calibrated
    assert "3,500 troops" in answer.hits[0].passage.text
    top = answer.hits[0]
    assert top.dense > 0.8 and top.score >= seed_engine.scoring.min_score


def test_off_topic_questions_in_three_languages_are_not_answered(seed_engine: Engine) -> None:
    for question in (
        "Who won the 2018 World Cup?",
        "Как испечь ржаной хлеб на закваске?",
        "Який рецепт українського борщу?",
    ):
        assert not seed_engine.search(question, k=3).answered, question


def test_eval_ranks_documents_the_way_search_ranks_hits(seed_engine: Engine) -> None:
    searcher = seed_engine.searcher()
    question = "What did Russia restrict in the Black Sea?"
    hits = searcher.search(question, k=5, explain=False).hits
    ranked = rank_documents(searcher, question)
    assert ranked[0] == hits[0].source.doc_id == SEED_FILE


def test_an_encoder_failure_reaches_the_asker(seed_engine: Engine) -> None:
    """The question is encoded in a thread of its own while BM25 runs; its error still
    comes back to whoever asked, and nothing is answered without the dense signal."""
    encoder = seed_engine.encoder

    class Failing:
        name, build, dim, max_tokens = encoder.name, encoder.build, encoder.dim, 512
        encode_passages, count_tokens = encoder.encode_passages, encoder.count_tokens

        def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
            raise CitebotError("the model's file went missing")

    searcher = Searcher(seed_engine.searcher().index, Failing(), seed_engine.searcher().scoring)
    question = "How many troops did Russia withdraw from Crimea?"
    with pytest.raises(CitebotError, match="went missing"):
        searcher.search(question, 5)
    with pytest.raises(CitebotError, match="went missing"):
        searcher.rank([question], 50)


def test_an_uncalibrated_model_claims_no_answer(seed_engine: Engine) -> None:
    scoring = default_scoring("someone/uncalibrated-model")
    assert scoring.min_score is None
    searcher = Searcher(seed_engine.searcher().index, seed_engine.encoder, scoring)
    answer = searcher.search("How many troops did Russia withdraw from Crimea?", 3)
    assert not answer.answered and not answer.calibrated and answer.hits
    assert "no calibrated threshold" in format_answer(answer)
    assert default_scoring("someone/uncalibrated-model", min_score=0.5).min_score == 0.5


# --- near duplicates ------------------------------------------------------------------------

STORY = (
    "The port of Odesa reopened for grain ships on Monday after a two-week closure. "
    "Harbour officials said twelve vessels were waiting to load wheat and maize, and the "
    "first convoy left under naval escort in the afternoon."
)
OTHER_STORY = (
    "Grain traders in Odesa warned that insurance costs for ships calling at Ukrainian "
    "ports have tripled since spring, and several shipping lines suspended bookings."
)


def test_a_syndicated_story_shows_once_with_its_other_sources(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "agency.txt").write_text(f"Odesa port reopens\n\n{STORY}")
    (corpus / "paper.txt").write_text(
        f"Odesa reopens port\n\n{STORY.replace('Monday', 'Monday morning')}"
    )
    (corpus / "site.txt").write_text(
        f"Port reopened\n\nODESA (Reuters) - {STORY} More ships are expected this week."
    )
    (corpus / "analysis.txt").write_text(f"Insurance for grain ships\n\n{OTHER_STORY}")
    options = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert run_cli(capsys, "index", *options)[0] == 0

    _, out, _ = run_cli(
        capsys, "ask", "--json", "When did the port of Odesa reopen for grain ships?", *options
    )
    hits = json.loads(out)["hits"]
    paths = [hit["source"]["path"] for hit in hits]
    also = {other["path"] for other in hits[0]["also_in"]}
    assert {paths[0], *also} == {"agency.txt", "paper.txt", "site.txt"}
    assert "analysis.txt" in paths and not also & set(paths)
    _, out, _ = run_cli(capsys, "ask", "When did the port of Odesa reopen?", *options)
    assert "Also in: " in out


def test_telegram_lists_the_other_sources(seed_engine: Engine) -> None:
    hit = seed_engine.search("Kerch Strait navigation", k=1).hits[0]
    line = source_line(ENGLISH, replace(hit, also_in=(Source("copy.txt", "copy.txt", "Copy"),)))
    assert line.endswith("📎 also in: copy.txt")


# --- news filters -----------------------------------------------------------------------------


def dated(corpus: Path, name: str, date: str, url: str, text: str) -> None:
    (corpus / name).write_text(f"---\ndate: {date}\nurl: {url}\n---\n{text}")


def test_filters_by_date_and_source(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    dated(
        corpus,
        "may.txt",
        "2021-05-06",
        "https://www.reuters.com/a",
        "Ferries to the island resumed in May.",
    )
    dated(
        corpus,
        "june.txt",
        "2021-06-20",
        "https://kyivindependent.com/b",
        "Ferries to the island stopped in June.",
    )
    (corpus / "undated.txt").write_text("Ferries to the island run twice a day.")
    options = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert run_cli(capsys, "index", *options)[0] == 0

    def paths(*flags: str) -> list[str]:
        code, out, err = run_cli(
            capsys, "ask", "--json", "--k", "5", *flags, "island ferries", *options
        )
        assert code == 0, err
        return sorted(hit["source"]["path"] for hit in json.loads(out)["hits"])

    assert paths() == ["june.txt", "may.txt", "undated.txt"]
    assert paths("--since", "2021-06") == ["june.txt"]
    assert paths("--until", "2021-05") == ["may.txt"]
    assert paths("--source", "REUTERS") == ["may.txt"]
    assert paths("--source", "undated") == ["undated.txt"]
    code, out, _ = run_cli(capsys, "ask", "--since", "2030", "island ferries", *options)
    assert code == 0 and "No document matches these filters." in out and "since 2030-01-01" in out
    with pytest.raises(SystemExit):
        main(["ask", "--since", "May 2021", "island ferries", *options])
    assert "is not a date like 2021-05-06" in capsys.readouterr().err


def test_filter_words_in_a_telegram_question() -> None:
    filters, question = parse_filters(["since:2021-05", "ferries", "source:reuters", "today"])
    assert filters == Filters("2021-05-01", None, "reuters") and question == "ferries today"
    assert date_bound("2024-02", end=True) == "2024-02-29"
    with pytest.raises(BadDateError) as bad:
        parse_filters(["until:yesterday", "ferries"])
    assert bad.value.value == "yesterday"


# --- the encoder ------------------------------------------------------------------------------


def test_e5_reads_three_languages_into_one_space(encoder: Encoder) -> None:
    passages = encoder.encode_passages(
        ["Russia withdrew 3,500 troops from Crimea.", "A recipe for rye bread with sourdough."]
    )
    for question in (
        "Сколько войск Россия вывела из Крыма?",
        "Скільки військ Росія вивела з Криму?",
    ):
        scores = passages @ encoder.encode_queries([question])[0]
        assert scores[0] > scores[1] + 0.1


def test_passages_are_cut_by_the_e5_tokenizer(encoder: Encoder) -> None:
    text = " ".join(["Військові навчання тривали кілька тижнів біля кордону."] * 60)
    document = Document("uk.txt", "uk.txt", "Навчання", text, "hash")
    passages = embed_documents([document], encoder, PassageSettings()).rows.passages
    assert len(passages) > 1
    assert all(encoder.count_tokens(p.text) <= 200 for p in passages)


def test_the_bot_applies_filter_words_and_says_when_nothing_matches(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    chat = 7001

    async def scenario(application: Application) -> None:
        bot_api.push_message(chat, "/ask source:reuters how many troops left Crimea?")
        [nothing] = await replies(bot_api, chat, 1)
        assert nothing.text == "No document matches these filters (source:reuters)."
        bot_api.push_message(chat, f"/ask source:{SEED_FILE[:8]} how many troops left Crimea?")
        answers = await replies(bot_api, chat, 2)
        assert "3,500 troops" in answers[-1].text

    talk(bot_api, seed_engine, scenario)
    assert bot_api.errors == []


def test_near_duplicates_fold_into_the_best_ranked_copy() -> None:
    story = "The ferry to Odesa leaves from pier 7 at night, the port authority said on Monday."
    edited = story.replace("on Monday", "on Monday evening")  # a syndicated copy, lightly edited
    passages = {
        10: Passage(1, "a.txt", story, 0, 80, 0),
        11: Passage(2, "b.txt", edited, 0, 90, 0),
        12: Passage(3, "a.txt", story.replace("7", "9"), 90, 170, 1),  # same file: a fact
        13: Passage(4, "c.txt", "Grain exports rose this spring.", 0, 31, 0),
        14: Passage(5, "d.txt", story, 0, 80, 0),
        15: Passage(6, "a.txt", story, 200, 280, 2),  # the same text again in one file
    }
    assert fold_near_duplicates(passages) == [(10, ("b.txt", "d.txt")), (12, ()), (13, ())]
    # A limit keeps the same first passages, with everything folded into them.
    assert fold_near_duplicates(passages, 1) == [(10, ("b.txt", "d.txt"))]
    assert fold_near_duplicates(passages, 2) == [(10, ("b.txt", "d.txt")), (12, ())]
