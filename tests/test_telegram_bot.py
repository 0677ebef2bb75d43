"""The Telegram bot end to end in private chats: the real PTB Application, the real model and
FAISS index, against the strict fake Bot API. Each scenario asserts what the user receives."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from fake_bot_api import FakeBotApi, StoredMessage
from telegram.ext import Application
from telegram_fixtures import bot_settings, corpus_with, make_engine, replies, talk, until

from bot.telegram.phrases import ENGLISH
from retrieval.encoders.base import DEFAULT_MODEL, Encoder
from retrieval.engine import Engine
from retrieval.passages.cutting import PassageSettings
from retrieval.search.searcher import Searcher

CHAT = 5001
SEED_FILE = "000_e2df237fec6388f8.txt"
SEED_TITLE = "Tens of thousands of Russian troops remain in and around Ukraine"
WITHDRAWAL = "How many troops did Russia withdraw from Crimea?"


def buttons(message: StoredMessage) -> dict[str, str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


def entity_texts(message: StoredMessage, kind: str) -> list[str]:
    """The text under each entity of this kind (offsets count UTF-16 units, as Telegram's)."""
    units = message.text.encode("utf-16-le")
    return [
        units[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in message.entities
        if e["type"] == kind
    ]


def test_private_question_gets_one_sourced_answer(bot_api: FakeBotApi, seed_engine: Engine) -> None:
    async def scenario(application: Application) -> None:
        bot_api.push_message(CHAT, WITHDRAWAL)
        [answer] = await replies(bot_api, CHAT, 1)
        first = answer.text.split("\n\n2. ")[0]
        assert first.startswith("1. ")
        assert "3,500 troops" in first
        assert f"📄 “{SEED_TITLE}” · {SEED_FILE}" in first
        assert "strong match · 0." in first or "good match · 0." in first
        assert any("3,500 troops" in bold for bold in entity_texts(answer, "bold"))
        assert "3. " in answer.text and "\n\n4. " not in answer.text
        assert answer.reply_to_message_id == 1
        assert answer.parse_mode == "HTML"
        assert set(buttons(answer)) == {"Context 1", "Context 2", "Context 3", "More ▸"}
        assert all(len(data.encode()) <= 64 for data in buttons(answer).values())

    talk(bot_api, seed_engine, scenario)
    assert bot_api.commands == list(ENGLISH.commands)
    assert bot_api.errors == []


def test_a_slow_search_shows_typing_until_the_answer(
    bot_api: FakeBotApi, seed_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    search_many = Searcher.search_many

    def slow(self: Searcher, *args: Any, **kwargs: Any) -> Any:
        time.sleep(1)
        return search_many(self, *args, **kwargs)

    async def scenario(application: Application) -> None:
        monkeypatch.setattr(Searcher, "search_many", slow)
        bot_api.push_message(CHAT, WITHDRAWAL)
        await replies(bot_api, CHAT, 1)

    talk(bot_api, seed_engine, scenario)
    [typing] = bot_api.chat_actions(CHAT)
    [answer] = bot_api.sent_calls("sendMessage")
    assert typing.action == "typing"
    assert answer.at - typing.at > 0.5


def test_more_pages_in_place_and_context_shows_the_neighbours(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    passages = sorted(
        seed_engine.searcher().index.document_passages(SEED_FILE), key=lambda p: p.start
    )

    async def scenario(application: Application) -> None:
        bot_api.push_message(CHAT, WITHDRAWAL)
        [answer] = await replies(bot_api, CHAT, 1)
        bot_api.push_callback(CHAT, answer.message_id, buttons(answer)["More ▸"])
        await until(bot_api, lambda: len(bot_api.messages(CHAT)[0].history) == 1)
        [page2] = bot_api.messages(CHAT)
        assert page2.text.startswith("Passages 4–6\n\n4. ")
        assert set(buttons(page2)) == {"Context 4", "Context 5", "Context 6", "More ▸"}
        bot_api.push_callback(CHAT, answer.message_id, buttons(page2)["More ▸"])
        await until(bot_api, lambda: len(bot_api.messages(CHAT)[0].history) == 2)
        [page3] = bot_api.messages(CHAT)
        last = min(len(passages), 9)  # "More" pages through 9 passages at most
        assert page3.text.startswith(f"Passages 7–{last}\n\n7. ")
        assert set(buttons(page3)) == {f"Context {n}" for n in range(7, last + 1)}
        bot_api.push_callback(CHAT, answer.message_id, buttons(page3)["Context 7"])
        context = (await replies(bot_api, CHAT, 2))[1]
        assert context.reply_to_message_id == answer.message_id
        assert context.text.startswith("Context of passage 7 · 📄 “")
        [quoted] = entity_texts(context, "blockquote")
        at = next(n for n, p in enumerate(passages) if p.text.strip() == quoted)
        for neighbour in passages[max(at - 1, 0) : at + 2]:
            assert neighbour.text.strip() in context.text
        assert len(bot_api.messages(CHAT)) == 2

    talk(bot_api, seed_engine, scenario)
    assert [a.text for a in bot_api.callback_answers] == [None, None, None]
    assert bot_api.errors == []


def test_buttons_of_a_restarted_bot_are_answered_politely(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    answers: list[StoredMessage] = []

    async def ask(application: Application) -> None:
        bot_api.push_message(CHAT, WITHDRAWAL)
        answers.extend(await replies(bot_api, CHAT, 1))

    async def press(application: Application) -> None:
        [answer] = answers
        bot_api.push_callback(CHAT, answer.message_id, buttons(answer)["More ▸"])
        bot_api.push_callback(CHAT, answer.message_id, buttons(answer)["Context 1"])
        bot_api.push_callback(CHAT, answer.message_id, "m:xx:999", check_button=False)
        bot_api.push_callback(CHAT, answer.message_id, "from an old version", check_button=False)
        await until(bot_api, lambda: len(bot_api.callback_answers) == 4)

    talk(bot_api, seed_engine, ask)
    talk(bot_api, seed_engine, press)  # a new Application: it never saw that answer
    assert [a.text for a in bot_api.callback_answers] == [ENGLISH.forgotten] * 4
    [answer] = bot_api.messages(CHAT)
    assert answer.history == ()
    assert bot_api.errors == []


def test_commands_describe_the_corpus(bot_api: FakeBotApi, seed_engine: Engine) -> None:
    async def scenario(application: Application) -> None:
        for command in ("/start", "/help", "/sources", "/status", "/ask"):
            bot_api.push_message(CHAT, command)
        await replies(bot_api, CHAT, 5)

    talk(bot_api, seed_engine, scenario)
    by_question = {
        m.reply_to_message_id: m.text for m in bot_api.messages(CHAT) if m.reply_to_message_id
    }
    start, help_, sources, status, ask = (by_question[n] for n in (1, 2, 3, 4, 5))
    passages = seed_engine.manifest().passage_count
    assert f"1 document ({passages} passages)" in start and SEED_TITLE in start
    assert "How to ask" in start and "How to ask" in help_
    assert "@citebot_test_bot" in help_ and "/ask" in help_
    assert f"• {SEED_TITLE} — {SEED_FILE}" in sources
    assert f"Documents: 1\nPassages: {passages}\nModel: {DEFAULT_MODEL}" in status
    assert "Last indexed: 20" in status and "Skipped files: 0" in status
    assert ask.startswith("Ask me a question")


def test_inline_mode_returns_hits_within_telegrams_limits(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    async def scenario(application: Application) -> None:
        bot_api.push_inline_query(WITHDRAWAL, user_id=CHAT)
        bot_api.push_inline_query("   ", user_id=CHAT)
        await until(bot_api, lambda: len(bot_api.inline_answers) == 2)

    talk(bot_api, seed_engine, scenario)
    answered = {len(a.results): a for a in bot_api.inline_answers}
    assert set(answered) == {0, 3}
    results: list[dict[str, Any]] = answered[3].results
    assert len({r["id"] for r in results}) == 3
    assert all(1 <= len(r["id"].encode()) <= 64 for r in results)
    assert results[0]["title"] == f"1. {SEED_TITLE}"
    assert "3,500 troops" in results[0]["description"]
    content = results[0]["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert content["message_text"].startswith(f"<i>{WITHDRAWAL}</i>\n\n<b>1.</b> ")
    assert bot_api.errors == []


def test_document_text_is_escaped(bot_api: FakeBotApi, tmp_path: Path, encoder: Encoder) -> None:
    corpus = corpus_with(
        tmp_path,
        {
            "kitchen.txt": "Fish & Chips <b>Guide</b>\n\n"
            'The kitchen rule: never paste <script>alert("x")</script> into the recipe form, '
            "and write R&D budgets in full.\n\n"
            "Batter needs flour & cold sparkling water; a stray <b> tag in the old wiki "
            "made the whole recipe bold.",
        },
    )
    engine = make_engine(corpus, tmp_path / "index", encoder)

    async def scenario(application: Application) -> None:
        bot_api.push_message(CHAT, "What must never be pasted into the recipe form?")
        bot_api.push_message(CHAT + 1, "What does the batter need?")
        await replies(bot_api, CHAT, 1)
        await replies(bot_api, CHAT + 1, 1)

    talk(bot_api, engine, scenario)
    [script] = bot_api.messages(CHAT)
    assert 'never paste <script>alert("x")</script> into the recipe form' in script.text
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in script.raw_text
    assert "“Fish & Chips <b>Guide</b>” · kitchen.txt" in script.text
    assert "Fish &amp; Chips &lt;b&gt;Guide&lt;/b&gt;" in script.raw_text
    [batter] = bot_api.messages(CHAT + 1)
    assert "flour & cold sparkling water; a stray <b> tag" in batter.text
    bold = entity_texts(batter, "bold")
    assert all("<b>" not in b or "stray <b> tag" in b for b in bold)
    assert bot_api.errors == []


LIGHTHOUSE = (
    "The lighthouse keeper on {island} climbs the tower every evening at dusk. "
    "The keeper trims the wick, polishes the great brass lens and winds the clockwork "
    "that turns the light. Every ship passing the reef is written into the harbour journal "
    "with its name, its flag and the hour it was seen. When fog rolls in from the sea the "
    "keeper sounds the horn every thirty seconds until the morning. In winter storms the "
    "keeper checks the lamp each hour, because a dark lighthouse can wreck a ship on the "
    "rocks below. Twice a year the supply boat brings oil, bread, coal and letters, and the "
    "keeper signs for every barrel in the same journal. Between watches the keeper paints "
    "the iron railings, mends the roof slates and oils the hinges of the heavy doors. "
    "Visitors who row across in summer are shown the lamp room and the view from the "
    "gallery. The journal of {island} has been kept without a gap for ninety years."
)


def test_an_answer_longer_than_a_message_is_split_between_passages(
    bot_api: FakeBotApi, tmp_path: Path, encoder: Encoder
) -> None:
    islands = ["North Rock", "Gull Island", "Cape Ward", "Saltness", "Black Skerry", "Fairhead"]
    paragraphs = [LIGHTHOUSE.format(island=island) for island in islands]
    corpus = corpus_with(tmp_path, {"lighthouses.txt": "Lighthouses\n\n" + "\n\n".join(paragraphs)})
    # One paragraph, one passage: e5 counts each at ~240 tokens.
    engine = make_engine(corpus, tmp_path / "index", encoder, passages=PassageSettings(400))
    settings = bot_settings(bot_api, top_k=5)

    async def scenario(application: Application) -> None:
        bot_api.push_message(CHAT, "What does the lighthouse keeper do every evening?")
        await until(bot_api, lambda: len(bot_api.messages(CHAT)) >= 2)

    talk(bot_api, engine, scenario, settings)
    parts = bot_api.messages(CHAT)
    assert len(parts) == 2
    assert sum(len(p.text) for p in parts) > 4096
    assert all(len(p.text) <= 4096 for p in parts)
    assert parts[0].reply_to_message_id == 1 and parts[1].reply_to_message_id is None
    assert buttons(parts[0]) == {} and "Context 5" in buttons(parts[1])
    for part in parts:  # whole hits only: each passage keeps its source line and cue
        assert part.text.count("📄 “Lighthouses”") == part.text.count(" match · ")
        assert part.text.count("📄 “Lighthouses”") == part.text.count("The journal of")
    assert sum(p.text.count("📄") for p in parts) == 5
    assert bot_api.errors == []


def test_failures_reach_the_user_briefly_and_the_log_fully(
    bot_api: FakeBotApi,
    seed_engine: Engine,
    tmp_path: Path,
    encoder: Encoder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unindexed = make_engine(tmp_path / "empty", tmp_path / "index", encoder, index=False)

    async def no_index(application: Application) -> None:
        bot_api.push_message(CHAT, WITHDRAWAL)
        await replies(bot_api, CHAT, 1)

    async def broken(application: Application) -> None:
        def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the encoder fell over")

        monkeypatch.setattr(Searcher, "search_many", fail)
        bot_api.push_message(CHAT + 1, WITHDRAWAL)
        await replies(bot_api, CHAT + 1, 1)

    with caplog.at_level(logging.WARNING):
        talk(bot_api, unindexed, no_index)
        talk(bot_api, seed_engine, broken)
    [missing] = bot_api.messages(CHAT)
    assert missing.text == ENGLISH.not_indexed
    [apology] = bot_api.messages(CHAT + 1)
    assert apology.text == ENGLISH.apology
    failure = next(r for r in caplog.records if r.exc_info and "failed" in r.getMessage())
    assert "the encoder fell over" in caplog.text
    assert failure.levelno == logging.ERROR
