"""The Telegram face: wire the engine and the handlers into a python-telegram-bot Application.

`run` serves with long polling until SIGINT or SIGTERM. The model and the index load in
`post_init`, before the first getUpdates, so the first question is not the slow one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.settings import Settings
from bot.telegram.access import Access, AddressedToBot
from bot.telegram.handlers import (
    SERVICES,
    Services,
    ask_command,
    ask_message,
    gate,
    help_command,
    inline_query,
    more,
    on_error,
    reindex,
    show_context,
    sources,
    start,
    status,
    unknown_button,
)
from bot.telegram.phrases import ENGLISH, RUSSIAN, UKRAINIAN
from bot.telegram.search import RecentAnswers, SearchBatcher
from retrieval.engine import Engine
from retrieval.errors import CitebotError, IndexStoreError

log = logging.getLogger(__name__)

NO_TOKEN = (
    "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather in Telegram (/newbot), "
    "then put its token in .env or the environment"
)
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]
MAX_HITS = 9  # how far "More" pages
# Updates handled at once. Their questions share one search batch; more of them only queue
# on the HTTP connection pool, whose bookkeeping grows with its size (measured: 64 beats 256).
CONCURRENT_UPDATES = 64


class DeliveringRateLimiter(AIORateLimiter):
    """PTB's rate limiter, which waits out 429s, and also retries on 5xx and network errors.

    A reply that meets a Bot API hiccup is sent again after a growing pause. A timeout is
    not retried (the message may have arrived) and neither is a refusal (400 Bad Request).
    """

    def __init__(self, rate: float, *, network_retries: int = 4, backoff: float = 0.5) -> None:
        super().__init__(overall_max_rate=rate, overall_time_period=1 if rate else 0, max_retries=3)
        self._network_retries = network_retries
        self._backoff = backoff

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        attempt = 0
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except (BadRequest, TimedOut):
                raise
            except NetworkError as exc:
                if attempt >= self._network_retries:
                    raise
                delay = self._backoff * 2**attempt
                attempt += 1
                log.warning("%s failed (%s); retrying in %.1f s", endpoint, exc, delay)
                await asyncio.sleep(delay)


class RedactToken(logging.Filter):
    """Replace the bot token wherever it would reach a log (httpx logs request URLs)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = record.exc_text.replace(self._token, "<token>")
        return True


def protect_token(token: str) -> None:
    """Keep the token out of every log handler the entry point configured."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactToken(token))


def build_application(settings: Settings, engine: Engine) -> Application:
    """The Application with its handlers, the engine in bot_data, polling not started."""
    if not settings.telegram_token:
        raise CitebotError(NO_TOKEN)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .concurrent_updates(CONCURRENT_UPDATES)
        .connection_pool_size(CONCURRENT_UPDATES)
        .rate_limiter(DeliveringRateLimiter(settings.telegram_rate_limit))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram_api_base_url:
        base_url = settings.telegram_api_base_url
        builder = builder.base_url(base_url)
        if base_url.endswith("/bot"):
            builder = builder.base_file_url(base_url.removesuffix("bot") + "file/bot")
    application = builder.build()
    application.bot_data[SERVICES] = Services(
        engine=engine,
        batcher=SearchBatcher(engine, settings.top_k),
        answers=RecentAnswers(),
        access=Access.from_settings(settings),
        page_size=settings.top_k,
        max_hits=max(MAX_HITS, settings.top_k),
    )
    _add_handlers(application)
    return application


def _add_handlers(application: Application) -> None:
    addressed = filters.UpdateType.MESSAGE & AddressedToBot()
    application.add_handlers(
        [
            MessageHandler(addressed, gate),
            CallbackQueryHandler(gate),
            InlineQueryHandler(gate),
        ],
        group=-1,
    )
    application.add_handlers(
        [
            CommandHandler("start", start),
            CommandHandler("help", help_command),
            CommandHandler("ask", ask_command),
            CommandHandler("sources", sources),
            CommandHandler("status", status),
            CommandHandler("reindex", reindex),
            MessageHandler(addressed & filters.TEXT & ~filters.COMMAND, ask_message),
            CallbackQueryHandler(more, pattern=r"^m:"),
            CallbackQueryHandler(show_context, pattern=r"^c:"),
            CallbackQueryHandler(unknown_button),
            InlineQueryHandler(inline_query),
        ]
    )
    application.add_error_handler(on_error)


async def _post_init(application: Application) -> None:
    """Load the model and the index, and publish the command menu, before polling."""
    services: Services = application.bot_data[SERVICES]
    await asyncio.to_thread(warm_up, services.engine)
    await application.bot.set_my_commands(list(ENGLISH.commands))
    for translated in (RUSSIAN, UKRAINIAN):
        await application.bot.set_my_commands(
            list(translated.commands), language_code=translated.language
        )
    log.info("ready as @%s", application.bot.username)


async def _post_shutdown(application: Application) -> None:
    services: Services = application.bot_data[SERVICES]
    await services.batcher.close()


def warm_up(engine: Engine) -> None:
    """Load the model and answer one question; a missing or stale index only warns."""
    encoder = engine.encoder
    try:
        engine.searcher().search("warm up", 1)
    except IndexStoreError as exc:
        encoder.encode_queries(["warm up"])
        log.warning("cannot answer until the index is fixed: %s", exc)


def run(settings: Settings, engine: Engine) -> None:
    """Serve with long polling until SIGINT or SIGTERM."""
    application = build_application(settings, engine)
    protect_token(application.bot.token)
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
