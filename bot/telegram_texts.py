"""The bot's fixed replies and its command replies, as Telegram HTML (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.telegram_format import NOT_INDEXED, escape, shorten
from bot.telegram_split import split_html
from retrieval.indexer import IndexReport
from retrieval.records import SkippedFile
from retrieval.store import Manifest

COMMANDS = (
    ("ask", "Ask the documents a question"),
    ("sources", "List the indexed documents"),
    ("status", "Index size, model, last indexing, skipped files"),
    ("help", "How to ask, in private chats and groups"),
    ("start", "What this bot knows"),
    ("reindex", "Index new and changed documents (admins)"),
)
REFUSAL = "Sorry, this bot answers only the people and chats it was set up for."
NOT_ADMIN = "Sorry, only the bot's admins can reindex."
REINDEXING = "Indexing the documents… I'll reply with what changed."
ASK_USAGE = "Ask me a question, e.g. <code>/ask what happened in May?</code>"
APOLOGY = "Sorry, something went wrong on my side. Please try again in a moment."
STALE = "This result is from an older index. Please ask again."
FORGOTTEN = "I no longer have this result (too old, or I restarted). Please ask again."
NO_MORE = "No more passages."
LISTED_NAMES = 10
LISTED_SOURCES = 50


def start_text(manifest: Manifest | None, username: str) -> str:
    if manifest is None or not manifest.documents:
        return f"Hello! I answer questions from a folder of documents. {NOT_INDEXED}"
    example = escape(shorten(next(iter(manifest.documents.values())).title, 120))
    return (
        f"Hello! I answer questions from <b>{_count(len(manifest.documents), 'document')}</b> "
        f"({_count(manifest.passage_count, 'passage')}) with the passages that answer them, "
        f"each with its source.\n\n"
        f"Ask in your own words, for example:\n<i>{example}</i>\n\n"
        f"{help_text(username)}"
    )


def help_text(username: str) -> str:
    handle = escape(f"@{username}")
    return (
        "<b>How to ask</b>\n"
        "• In a private chat: just type your question.\n"
        f"• In a group: <code>/ask your question</code>, reply to one of my messages, "
        f"or mention {handle}.\n"
        f"• In any chat: type <code>{handle} your question</code> and pick a passage to share.\n"
        "• Narrow it down: <code>/ask since:2021-05 until:2021-06-15 source:reuters "
        "your question</code> (dates as 2021, 2021-05 or 2021-05-06; source: part of the "
        "file name, link or site).\n\n"
        "Each answer shows the best passages with the best sentence in bold, the source and "
        "how well it matches. <b>More</b> shows the next passages, <b>Context</b> the text "
        "around one.\n\n"
        "/sources lists the documents, /status shows the index, "
        "/reindex updates it (admins)."
    )


def sources_text(manifest: Manifest) -> list[str]:
    if not manifest.documents:
        return [NOT_INDEXED]
    lines = [
        f"<b>{_count(len(manifest.documents), 'document')}</b>, "
        f"{_count(manifest.passage_count, 'passage')}"
    ]
    for path, entry in list(manifest.documents.items())[:LISTED_SOURCES]:
        date = f" · {escape(entry.date)}" if entry.date else ""
        lines.append(
            f"• <b>{escape(shorten(entry.title, 150))}</b> — {escape(shorten(path, 150))}{date}"
        )
    if len(manifest.documents) > LISTED_SOURCES:
        lines.append(f"… and {len(manifest.documents) - LISTED_SOURCES} more.")
    return split_html("\n".join(lines))


def status_text(manifest: Manifest) -> list[str]:
    lines = [
        f"<b>Documents:</b> {len(manifest.documents)}",
        f"<b>Passages:</b> {manifest.passage_count}",
        f"<b>Model:</b> {escape(manifest.model)} ({manifest.dim} dimensions)",
        f"<b>Last indexed:</b> {escape(manifest.created_at)}",
        f"<b>Skipped files:</b> {len(manifest.skipped)}",
    ]
    lines += _problems(manifest.skipped)
    if manifest.failed:
        lines.append(f"<b>Unreadable now, previous version kept:</b> {len(manifest.failed)}")
        lines += _problems(manifest.failed)
    return split_html("\n".join(lines))


def index_report_text(report: IndexReport) -> list[str]:
    lines = []
    if report.rebuild_reason:
        lines.append(f"Rebuilt the whole index: {escape(report.rebuild_reason)}.")
    lines.append(
        f"<b>Indexed in {report.seconds:.1f} s:</b> {report.counts()} · "
        f"{report.passages_total} passages."
    )
    for label, names in (
        ("Added", report.added),
        ("Updated", report.updated),
        ("Removed", report.removed),
    ):
        if names:
            lines.append(f"<b>{label}:</b> {_names(names)}")
    for label, problems in (
        ("Skipped", report.skipped),
        ("Kept the previous version of", report.failed),
    ):
        if problems:
            lines.append(f"<b>{label}:</b>")
            lines += _problems(problems)
    return split_html("\n".join(lines))


def _problems(files: Sequence[SkippedFile]) -> list[str]:
    lines = [
        f"• {escape(shorten(f.path, 150))}: {escape(shorten(f.reason, 200))}"
        for f in files[:LISTED_NAMES]
    ]
    if len(files) > LISTED_NAMES:
        lines.append(f"… and {len(files) - LISTED_NAMES} more.")
    return lines


def _names(names: Sequence[str]) -> str:
    listed = ", ".join(escape(shorten(name, 200)) for name in names[:LISTED_NAMES])
    extra = len(names) - LISTED_NAMES
    return f"{listed} and {extra} more" if extra > 0 else listed


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
