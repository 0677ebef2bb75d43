"""The bot's handlers: read the update, call the engine off the event loop, send formatted text.

Every reply is HTML (the application's default parse mode) built by `telegram_format` or
`telegram_texts`; nothing here decides what a good answer is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import cast

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardMarkup,
    InlineQuery,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.telegram.access import Access, without_mention
from bot.telegram.format import (
    answer_keyboard,
    escape,
    format_context,
    format_page,
    inline_results,
    plain,
    shorten,
)
from bot.telegram.phrases import Phrases, phrases_for
from bot.telegram.search import RecentAnswers, SearchBatcher, more_hits, parse_data
from bot.telegram.texts import help_text, index_report_text, sources_text, start_text, status_text
from retrieval.engine import Engine
from retrieval.errors import CitebotError, IndexMissingError
from retrieval.search.filters import NO_FILTERS, Filters, date_bound
from retrieval.store.generations import Manifest

log = logging.getLogger(__name__)

SERVICES = "citebot"
TYPING_AFTER = 0.3  # seconds
Context = ContextTypes.DEFAULT_TYPE


@dataclass(frozen=True)
class Services:
    """What the handlers share, kept in `application.bot_data[SERVICES]`."""

    engine: Engine
    batcher: SearchBatcher
    answers: RecentAnswers
    access: Access
    page_size: int
    max_hits: int


def services(context: Context) -> Services:
    return cast(Services, context.bot_data[SERVICES])


def phrases(update: Update) -> Phrases:
    """The texts in the language of whoever sent the update."""
    user = update.effective_user
    return phrases_for(user.language_code if user else None)


async def gate(update: Update, context: Context) -> None:
    """Stop updates from strangers with one short refusal (runs before every other handler)."""
    if services(context).access.allows_update(update):
        return
    user, chat = update.effective_user, update.effective_chat
    log.info("refused user %s in chat %s", user and user.id, chat and chat.id)
    refusal = phrases(update).refusal
    if update.callback_query:
        await update.callback_query.answer(refusal, show_alert=True)
    elif update.inline_query:
        await update.inline_query.answer([], cache_time=0, is_personal=True)
    elif update.effective_message:
        await update.effective_message.reply_text(refusal)
    raise ApplicationHandlerStop


async def start(update: Update, context: Context) -> None:
    """/start: what the bot knows, with an example question."""
    manifest = await _manifest(context)
    await _reply(update, [start_text(phrases(update), manifest, context.bot.username)])


async def help_command(update: Update, context: Context) -> None:
    """/help: how to ask in private chats, groups and inline."""
    await _reply(update, [help_text(phrases(update), context.bot.username)])


async def sources(update: Update, context: Context) -> None:
    """/sources: the indexed documents."""
    manifest, texts = await _manifest(context), phrases(update)
    await _reply(update, sources_text(texts, manifest) if manifest else [texts.not_indexed])


async def status(update: Update, context: Context) -> None:
    """/status: documents, passages, model, last indexing and skipped files."""
    manifest, texts = await _manifest(context), phrases(update)
    await _reply(update, status_text(texts, manifest) if manifest else [texts.not_indexed])


async def reindex(update: Update, context: Context) -> None:
    """/reindex (admins only): index new and changed documents, then report what changed."""
    found, texts = services(context), phrases(update)
    user = update.effective_user
    if not found.access.is_admin(user.id if user else None):
        await _reply(update, [texts.not_admin])
        return
    await _reply(update, [texts.reindexing])
    report = await asyncio.to_thread(found.engine.build_index)
    log.info(
        "reindexed for user %s: %d added, %d updated, %d removed",
        user and user.id,
        len(report.added),
        len(report.updated),
        len(report.removed),
    )
    await _reply(update, index_report_text(texts, report))


async def ask_command(update: Update, context: Context) -> None:
    """/ask [since:DATE] [until:DATE] [source:TEXT] QUESTION: answer it (also in groups)."""
    try:
        filters, question = parse_filters(context.args or [])
    except BadDateError as exc:
        await _reply(update, [phrases(update).bad_date.format(value=escape(exc.value))])
        return
    await _answer(update, context, question, filters)


async def ask_message(update: Update, context: Context) -> None:
    """A question: any text in a private chat, a reply to the bot or a mention in a group."""
    message = cast(Message, update.effective_message)
    await _answer(update, context, without_mention(message.text or "", context.bot.username))


async def more(update: Update, context: Context) -> None:
    """The More button: edit the answer in place to show the next passages."""
    query = cast(CallbackQuery, update.callback_query)
    found, texts = services(context), phrases(update)
    parsed = parse_data(query.data)
    recent = found.answers.get(parsed[1]) if parsed else None
    if parsed is None or recent is None:
        await query.answer(texts.forgotten)
        return
    offset = parsed[2]
    answer = await asyncio.to_thread(more_hits, found.engine, recent, offset + found.page_size)
    if answer is None or offset >= len(answer.hits):
        await query.answer(texts.stale if answer is None else texts.no_more)
        return
    await query.answer()
    pages = format_page(texts, answer, offset, found.page_size)
    markup = answer_keyboard(
        texts, recent.key, len(answer.hits), offset, found.page_size, recent.total
    )
    try:
        await query.edit_message_text(pages[0], reply_markup=None if pages[1:] else markup)
    except BadRequest as exc:
        if "not modified" not in exc.message:
            raise
        return  # pressed twice: the message already shows this page
    if pages[1:] and update.effective_chat:
        await _send(context.bot, update.effective_chat.id, pages[1:], None, markup)


async def show_context(update: Update, context: Context) -> None:
    """The Context button: send the document text around one passage of the answer."""
    query = cast(CallbackQuery, update.callback_query)
    found, texts = services(context), phrases(update)
    parsed = parse_data(query.data)
    recent = found.answers.get(parsed[1]) if parsed else None
    if parsed is None or recent is None or not 0 < parsed[2] <= len(recent.answer.hits):
        await query.answer(texts.forgotten)
        return
    rank = parsed[2]
    hit = recent.answer.hits[rank - 1]
    window = await asyncio.to_thread(found.engine.neighbours, recent.answer, hit.passage)
    if window is None:
        await query.answer(texts.stale)
        return
    await query.answer()
    if update.effective_chat:
        reply_to = query.message.message_id if query.message else None
        parts = format_context(texts, hit, rank, window)
        await _send(context.bot, update.effective_chat.id, parts, reply_to)


async def unknown_button(update: Update, context: Context) -> None:
    """A button this bot does not know (another version's): answer it politely."""
    await cast(CallbackQuery, update.callback_query).answer(phrases(update).forgotten)


async def inline_query(update: Update, context: Context) -> None:
    """Inline mode (@bot question): the best passages as results to pick and post."""
    query = cast(InlineQuery, update.inline_query)
    question = " ".join(query.query.split())
    if not question:
        await query.answer([], cache_time=300)
        return
    searched = await services(context).batcher.search(question)
    await query.answer(inline_results(phrases(update), searched.answer), cache_time=30)


async def on_error(update: object, context: Context) -> None:
    """Log what failed, with its traceback, and tell the user briefly."""
    error = context.error
    if isinstance(error, CitebotError):
        log.warning("could not answer: %s", error)
    else:
        log.error("update %s failed", getattr(update, "update_id", None), exc_info=error)
    if not isinstance(update, Update):
        return
    texts = phrases(update)
    text = texts.error(error) if isinstance(error, CitebotError) else texts.apology
    with contextlib.suppress(TelegramError):
        if update.callback_query:
            await update.callback_query.answer(shorten(plain(text), 200), show_alert=True)
        elif update.effective_chat:
            await context.bot.send_message(update.effective_chat.id, text)


async def _answer(
    update: Update,
    context: Context,
    question: str,
    filters: Filters = NO_FILTERS,
) -> None:
    """Search (showing "typing…" meanwhile) and send the first page with its buttons."""
    texts = phrases(update)
    if not question.strip():
        await _reply(update, [texts.ask_usage])
        return
    found = services(context)
    message = cast(Message, update.effective_message)
    pending = asyncio.ensure_future(found.batcher.search(question, filters))
    # Only a search that makes the user wait shows "typing…": each chat action costs a
    # request of the bot's rate (~30/s), which under load is better spent on answers.
    done, _ = await asyncio.wait({pending}, timeout=TYPING_AFTER)
    if not done:
        with contextlib.suppress(TelegramError):
            await message.chat.send_action(ChatAction.TYPING)
    searched = await pending
    if not searched.answer.hits:
        words = escape(filter_words(filters))
        nothing = texts.no_filter_match.format(filters=words) if filters else texts.not_indexed
        await _send(context.bot, message.chat_id, [nothing], message.message_id)
        return
    recent = found.answers.add(searched, found.max_hits)
    hits = len(searched.answer.hits)
    markup = answer_keyboard(texts, recent.key, hits, 0, found.page_size, recent.total)
    pages = format_page(texts, searched.answer, 0, found.page_size)
    await _send(context.bot, message.chat_id, pages, message.message_id, markup)


class BadDateError(ValueError):
    """A `since:` or `until:` value that is not a date; `value` is what the user wrote."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


def parse_filters(words: list[str]) -> tuple[Filters, str]:
    """`since:`, `until:` and `source:` words anywhere in /ask's arguments, and the rest.

    Raises BadDateError for a date it cannot read.
    """
    found: dict[str, str] = {}
    rest = []
    for word in words:
        name, _, value = word.partition(":")
        if name.lower() in ("since", "until", "source") and value:
            found[name.lower()] = value
        else:
            rest.append(word)
    bounds: dict[str, str] = {}
    for name in ("since", "until"):
        if name in found:
            try:
                bounds[name] = date_bound(found[name], end=name == "until")
            except ValueError:
                raise BadDateError(found[name]) from None
    return Filters(bounds.get("since"), bounds.get("until"), found.get("source")), " ".join(rest)


def filter_words(filters: Filters) -> str:
    """The filters as /ask words ("since:2021-05-01 source:reuters"), the same in any language."""
    named = (("since", filters.since), ("until", filters.until), ("source", filters.source))
    return " ".join(f"{name}:{value}" for name, value in named if value)


async def _send(
    bot: Bot,
    chat_id: int,
    parts: list[str],
    reply_to: int | None,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Send the parts in order: the first quotes `reply_to`, the last carries the buttons."""
    for n, part in enumerate(parts):
        quote = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        await bot.send_message(
            chat_id,
            part,
            reply_parameters=quote if n == 0 else None,
            reply_markup=markup if n == len(parts) - 1 else None,
        )


async def _reply(update: Update, parts: list[str]) -> None:
    message = update.effective_message
    if message is not None:
        await _send(update.get_bot(), message.chat_id, parts, message.message_id)


async def _manifest(context: Context) -> Manifest | None:
    try:
        return await asyncio.to_thread(services(context).engine.manifest)
    except IndexMissingError:
        return None
