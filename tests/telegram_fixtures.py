"""Helpers for the Telegram tests: the real bot Application, polling the strict fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fake_bot_api import FakeBotApi, StoredMessage
from telegram.ext import Application

from bot.settings import Settings
from bot.telegram.app import ALLOWED_UPDATES, build_application
from retrieval.encoders.base import DEFAULT_MODEL, Encoder
from retrieval.engine import Engine, EngineConfig
from retrieval.passages.cutting import PassageSettings

SEED_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def bot_settings(fake: FakeBotApi, **overrides: Any) -> Settings:
    """Settings pointing at the fake; no throttling unless a test asks for it."""
    values: dict[str, Any] = {
        "telegram_token": fake.token,
        "telegram_api_base_url": fake.base_url,
        "telegram_rate_limit": 0.0,
    }
    return Settings(**(values | overrides))


@contextlib.asynccontextmanager
async def serving(
    fake: FakeBotApi, engine: Engine, settings: Settings | None = None
) -> AsyncIterator[Application]:
    """The bot as `run_polling` runs it (post_init included), until the block ends."""
    application = build_application(settings or bot_settings(fake), engine)
    async with application:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        updater = application.updater
        if updater is None:
            raise RuntimeError("the application has no updater")
        await updater.start_polling(poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES)
        try:
            yield application
        finally:
            await updater.stop()
            await application.stop()
            if application.post_shutdown:
                await application.post_shutdown(application)


def talk(
    fake: FakeBotApi,
    engine: Engine,
    scenario: Callable[[Application], Awaitable[None]],
    settings: Settings | None = None,
) -> None:
    """Run `scenario` against a polling bot, in a fresh event loop."""

    async def main() -> None:
        async with serving(fake, engine, settings) as application:
            await scenario(application)

    asyncio.run(main())


async def replies(
    fake: FakeBotApi, chat_id: int, count: int, timeout: float = 20.0
) -> list[StoredMessage]:
    """Wait, off the event loop, until the bot has sent `count` messages to the chat."""
    return await asyncio.to_thread(fake.wait_for_messages, chat_id, count, timeout)


async def until(fake: FakeBotApi, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    await asyncio.to_thread(fake.wait_for, predicate, timeout)


def make_engine(
    corpus: Path,
    index_dir: Path,
    encoder: Encoder,
    *,
    index: bool = True,
    passages: PassageSettings = PassageSettings(),  # noqa: B008 (frozen)
) -> Engine:
    """An engine over `corpus`, indexed now unless told not to, sharing the session's model."""
    config = EngineConfig(corpus, index_dir, DEFAULT_MODEL, passages)
    engine = Engine(config, encoder=encoder)
    if index:
        engine.build_index()
    return engine


def corpus_with(tmp_path: Path, files: dict[str, str]) -> Path:
    """A copy of the seed corpus plus these extra files."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus
