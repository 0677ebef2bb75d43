"""The bot under pressure: injected 429 and 5xx, a thousand questions at once, SIGTERM,
and a token that never reaches the logs."""

from __future__ import annotations

import collections
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_bot_api import FakeBotApi
from fake_bot_content import utf16_len
from telegram.ext import Application
from telegram_fixtures import replies, talk, until

from bot.cli import main
from bot.settings import Settings
from bot.telegram.app import RedactToken
from retrieval.engine import Engine
from retrieval.errors import CitebotError

ROOT = Path(__file__).resolve().parents[1]
SEED_FILE = "000_e2df237fec6388f8.txt"
QUESTIONS = [
    "How many troops did Russia withdraw from Crimea?",
    "Where did Stoltenberg hold the press conference?",
    "What did NATO say about the Black Sea?",
    "Which warships entered the Black Sea?",
    "What heavy weapons did Russia deploy to Crimea?",
    "When did Shoigu announce the withdrawal?",
    "How many battalion tactical groups were deployed in March?",
    "What did the Secretary General say about deterrence?",
    "Who is the Prime Minister of Estonia?",
    "Where were Su-25SM3 warplanes moved?",
]


def test_429_and_5xx_on_send_are_retried_and_the_answer_arrives_once(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    async def scenario(application: Application) -> None:
        bot_api.fail_next("sendMessage", 429, retry_after=1)
        bot_api.push_message(1, QUESTIONS[0])
        [first] = await replies(bot_api, 1, 1)
        assert "3,500 troops" in first.text
        bot_api.fail_next("sendMessage", 500)
        bot_api.fail_next("sendMessage", 502)
        bot_api.push_message(2, QUESTIONS[1])
        [second] = await replies(bot_api, 2, 1)
        assert "NATO headquarters" in second.text

    started = time.monotonic()
    talk(bot_api, seed_engine, scenario)
    assert time.monotonic() - started >= 1  # waited out retry_after
    assert [(e.method, e.status) for e in bot_api.errors] == [
        ("sendmessage", 429),
        ("sendmessage", 500),
        ("sendmessage", 502),
    ]
    assert all(e.injected for e in bot_api.errors)
    assert [len(bot_api.messages(chat)) for chat in (1, 2)] == [1, 1]


def test_polling_carries_on_after_5xx_and_network_errors(
    bot_api: FakeBotApi, seed_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(application: Application) -> None:
        await until(bot_api, lambda: bot_api.polls_waiting == 1)
        bot_api.fail_next("getUpdates", 502)
        bot_api.fail_next("getUpdates", 500)
        bot_api.push_message(3, QUESTIONS[0])
        [answer] = await replies(bot_api, 3, 1)
        assert "3,500 troops" in answer.text

    talk(bot_api, seed_engine, scenario)
    assert [(e.method, e.status) for e in bot_api.errors] == [
        ("getupdates", 502),
        ("getupdates", 500),
    ]


def test_a_thousand_questions_at_once_are_each_answered_once(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    chats = range(10_000, 10_200)
    asked: dict[int, set[int]] = collections.defaultdict(set)

    async def scenario(application: Application) -> None:
        for round_ in range(5):
            for n, chat in enumerate(chats):
                question = QUESTIONS[(n + round_) % len(QUESTIONS)]
                bot_api.push_message(chat, f"{question} ({round_})")
                asked[chat].add(len(bot_api.messages(chat, include_user=True)))
        total = lambda: sum(len(bot_api.messages(chat)) for chat in chats)  # noqa: E731
        await until(bot_api, lambda: total() >= 1000, timeout=90)
        await until(bot_api, lambda: bot_api.pending_updates == 0)

    talk(bot_api, seed_engine, scenario)
    for chat in chats:
        sent = bot_api.messages(chat)
        assert sorted(m.reply_to_message_id for m in sent) == sorted(asked[chat])
        assert all(utf16_len(m.text) <= 4096 for m in sent)
        assert all(m.parse_mode == "HTML" and "\n1. " in f"\n{m.text}" for m in sent)
        assert all(SEED_FILE in m.text for m in sent)
    # "typing…" only for questions kept waiting past TYPING_AFTER, which depends on how fast
    # this machine answers a batch (test_telegram_bot checks a slow search shows it).
    assert {a.action for a in bot_api.chat_actions()} <= {"typing"}
    assert bot_api.errors == []


def test_sigterm_shuts_down_cleanly_and_the_token_stays_out_of_logs(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    environment = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": bot_api.token,
        "TELEGRAM_API_BASE_URL": bot_api.base_url,
        "CITEBOT_INDEX": str(seed_engine.config.index_dir),
        "CITEBOT_CORPUS": str(seed_engine.config.corpus),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--verbose"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        bot_api.wait_for(lambda: bot_api.polls_waiting == 1, timeout=60)
        bot_api.push_message(4, QUESTIONS[0])
        bot_api.wait_for_messages(4, 1, timeout=30)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Application started" in output  # --verbose logs at INFO level
    assert bot_api.token not in output
    assert bot_api.token.split(":")[1] not in output


def test_redaction_covers_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    token = "123:SECRET-token"
    caplog.handler.addFilter(RedactToken(token))
    log = logging.getLogger("httpx")
    log.warning("POST https://api.telegram.org/bot%s/getMe", token)
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{token}/getUpdates")
    except ConnectionError:
        log.exception("request failed")
    assert token not in caplog.text
    assert "bot<token>/getMe" in caplog.text and "bot<token>/getUpdates" in caplog.text


def test_no_token_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["telegram"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "TELEGRAM_BOT_TOKEN" in err and "@BotFather" in err


def test_bot_settings_parse_and_are_documented() -> None:
    settings = Settings.from_mapping(
        {
            "TELEGRAM_ALLOWED_USERS": " 1, 2,",
            "TELEGRAM_ALLOWED_CHATS": "-1001234567890",
            "TELEGRAM_ADMINS": "2",
            "TELEGRAM_RATE_LIMIT": "0",
        }
    )
    assert settings.telegram_allowed_users == frozenset({1, 2})
    assert settings.telegram_allowed_chats == frozenset({-1001234567890})
    assert (settings.telegram_admins, settings.telegram_rate_limit) == (frozenset({2}), 0.0)
    assert Settings().telegram_rate_limit == 30
    for name, bad in (("TELEGRAM_ADMINS", "@alice"), ("TELEGRAM_RATE_LIMIT", "-1")):
        with pytest.raises(CitebotError, match=name):
            Settings.from_mapping({name: bad})
    read = set(re.findall(r'"(TELEGRAM_\w+)"', (ROOT / "bot" / "settings.py").read_text()))
    documented = set(re.findall(r"^(TELEGRAM_\w+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read == documented
