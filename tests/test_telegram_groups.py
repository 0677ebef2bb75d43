"""The bot in groups, behind allowlists, and reindexing for admins only: end to end against
the strict fake Bot API with the real model and index."""

from __future__ import annotations

from pathlib import Path

from fake_bot_api import FakeBotApi
from telegram.ext import Application
from telegram_fixtures import bot_settings, corpus_with, make_engine, replies, talk, until

from bot.telegram.phrases import ENGLISH
from retrieval.encoders.base import Encoder
from retrieval.engine import Engine

GROUP = -100123
WITHDRAWAL = "How many troops did Russia withdraw from Crimea?"
KITCHEN = (
    "Kitchen rules\n\n"
    "The kitchen closes at ten; the cook keeps the sourdough starter in the cold room and "
    "feeds it rye flour every morning."
)


def test_group_answers_ask_replies_and_mentions_and_ignores_chatter(
    seed_engine: Engine,
) -> None:
    with FakeBotApi(privacy_mode=False) as fake:  # chatter reaches the bot; it must ignore it

        async def scenario(application: Application) -> None:
            def say(text: str, user: int = 11, **options: int) -> int:
                fake.push_message(GROUP, text, user_id=user, chat_type="group", **options)
                return len(fake.messages(GROUP, include_user=True))

            say("just chatting about troops and Crimea, nothing for the bot")
            asked = [say(f"/ask {WITHDRAWAL}")]
            [first] = await replies(fake, GROUP, 1)
            say("/ask@other_bot where was the press conference?")
            say("@someone_else where was the press conference?")
            asked.append(say("@citebot_test_bot where was the press conference?", user=12))
            asked.append(
                say("Which warships entered the Black Sea?", reply_to_message_id=first.message_id)
            )
            asked.append(say("/ask@citebot_test_bot what did NATO say about deterrence?"))
            await replies(fake, GROUP, 4)
            answers = {m.reply_to_message_id: m.text for m in fake.messages(GROUP)}
            assert sorted(answers) == asked
            assert "3,500 troops" in answers[asked[0]]
            assert "NATO headquarters" in answers[asked[1]]
            assert "Caspian Flotilla" in answers[asked[2]]

        talk(fake, seed_engine, scenario)
        assert len(fake.messages(GROUP)) == 4
        assert fake.errors == []


def test_strangers_get_one_short_refusal_and_nothing_from_the_corpus(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    settings = bot_settings(
        bot_api,
        telegram_allowed_users=frozenset({21}),
        telegram_allowed_chats=frozenset({-100500}),
        telegram_admins=frozenset({99}),
    )

    async def scenario(application: Application) -> None:
        for user in (21, 22, 99):
            bot_api.push_message(user, WITHDRAWAL)
        bot_api.push_message(-100500, f"/ask {WITHDRAWAL}", user_id=23, chat_type="group")
        bot_api.push_message(-100600, f"/ask {WITHDRAWAL}", user_id=24, chat_type="group")
        for chat in (21, 22, 99, -100500, -100600):
            await replies(bot_api, chat, 1)
        [answer] = bot_api.messages(21)
        bot_api.push_callback(21, answer.message_id, "m:x:3", user_id=22, check_button=False)
        bot_api.push_inline_query(WITHDRAWAL, user_id=22)
        bot_api.push_inline_query(WITHDRAWAL, user_id=21)
        await until(bot_api, lambda: len(bot_api.inline_answers) == 2)
        await until(bot_api, lambda: len(bot_api.callback_answers) == 1)

    talk(bot_api, seed_engine, scenario, settings)
    for chat in (21, 99, -100500):
        [answer] = bot_api.messages(chat)
        assert "3,500 troops" in answer.text
    for chat in (22, -100600):
        [refusal] = bot_api.messages(chat)
        assert refusal.text == ENGLISH.refusal
    [button] = bot_api.callback_answers
    assert (button.text, button.show_alert) == (ENGLISH.refusal, True)
    by_user = {a.params["inline_query_id"]: len(a.results) for a in bot_api.inline_answers}
    assert sorted(by_user.values()) == [0, 3]
    assert bot_api.errors == []


def test_reindex_is_for_admins_and_reports_what_changed(
    bot_api: FakeBotApi, tmp_path: Path, encoder: Encoder
) -> None:
    corpus = corpus_with(tmp_path, {})
    engine = make_engine(corpus, tmp_path / "index", encoder)
    settings = bot_settings(bot_api, telegram_admins=frozenset({99}))

    async def scenario(application: Application) -> None:
        bot_api.push_message(98, "/reindex")
        [refused] = await replies(bot_api, 98, 1)
        assert refused.text == ENGLISH.not_admin
        bot_api.push_message(99, WITHDRAWAL)
        [old] = await replies(bot_api, 99, 1)
        (corpus / "kitchen.txt").write_text(KITCHEN, encoding="utf-8")
        bot_api.push_message(99, "/reindex")
        working, report = (await replies(bot_api, 99, 3, timeout=60))[1:]
        assert working.text == ENGLISH.reindexing
        assert "1 added, 0 updated, 0 removed, 1 unchanged, 0 skipped" in report.text
        assert "Added: kitchen.txt" in report.text
        more = next(b["callback_data"] for b in old.reply_markup["inline_keyboard"][-1])
        bot_api.push_callback(99, old.message_id, more)
        await until(bot_api, lambda: len(bot_api.callback_answers) == 1)
        bot_api.push_message(99, "Where does the cook keep the sourdough starter?")
        fresh = (await replies(bot_api, 99, 4))[-1]
        assert fresh.text.startswith("1. ") and "cold room" in fresh.text.split("\n\n2. ")[0]

    talk(bot_api, engine, scenario, settings)
    assert [a.text for a in bot_api.callback_answers] == [ENGLISH.stale]
    assert bot_api.messages(99)[0].history == ()  # the old answer was left as it was
    assert bot_api.errors == []
