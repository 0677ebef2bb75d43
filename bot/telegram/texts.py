"""The bot's replies to /start, /help, /sources, /status and /reindex, as Telegram HTML
(pure functions, in the reader's language)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.telegram.format import escape, shorten
from bot.telegram.phrases import Phrases
from bot.telegram.split import split_html
from retrieval.records import SkippedFile
from retrieval.store.generations import Manifest
from retrieval.store.indexer import IndexReport

LISTED_NAMES = 10
LISTED_SOURCES = 50


def start_text(phrases: Phrases, manifest: Manifest | None, username: str) -> str:
    if manifest is None or not manifest.documents:
        return f"{phrases.hello_empty} {phrases.not_indexed}"
    example = escape(shorten(next(iter(manifest.documents.values())).title, 120))
    hello = phrases.hello.format(
        documents=phrases.count(len(manifest.documents), phrases.documents),
        passages=phrases.count(manifest.passage_count, phrases.passages),
        example=example,
    )
    return f"{hello}\n\n{help_text(phrases, username)}"


def help_text(phrases: Phrases, username: str) -> str:
    return phrases.help.format(handle=escape(f"@{username}"))


def sources_text(phrases: Phrases, manifest: Manifest) -> list[str]:
    if not manifest.documents:
        return [phrases.not_indexed]
    lines = [
        f"<b>{phrases.count(len(manifest.documents), phrases.documents)}</b>, "
        f"{phrases.count(manifest.passage_count, phrases.passages)}"
    ]
    for path, entry in list(manifest.documents.items())[:LISTED_SOURCES]:
        date = f" · {escape(entry.date)}" if entry.date else ""
        lines.append(
            f"• <b>{escape(shorten(entry.title, 150))}</b> — {escape(shorten(path, 150))}{date}"
        )
    if len(manifest.documents) > LISTED_SOURCES:
        lines.append(phrases.listed_more.format(n=len(manifest.documents) - LISTED_SOURCES))
    return split_html("\n".join(lines))


def status_text(phrases: Phrases, manifest: Manifest) -> list[str]:
    lines = [
        f"<b>{phrases.status_documents}:</b> {len(manifest.documents)}",
        f"<b>{phrases.status_passages}:</b> {manifest.passage_count}",
        phrases.status_model.format(model=escape(manifest.model), dim=manifest.dim),
        f"<b>{phrases.status_indexed}:</b> {escape(manifest.created_at)}",
        f"<b>{phrases.status_skipped}:</b> {len(manifest.skipped)}",
    ]
    lines += _problems(phrases, manifest.skipped)
    if manifest.failed:
        lines.append(f"<b>{phrases.status_failed}:</b> {len(manifest.failed)}")
        lines += _problems(phrases, manifest.failed)
    return split_html("\n".join(lines))


def index_report_text(phrases: Phrases, report: IndexReport) -> list[str]:
    lines = []
    if report.rebuild_reason:
        lines.append(phrases.rebuilt.format(reason=escape(report.rebuild_reason)))
    counts = ", ".join(
        template.format(n=len(paths))
        for template, (_, paths) in zip(phrases.report_counts, report.tallies(), strict=True)
    )
    lines.append(
        phrases.indexed_in.format(
            seconds=f"{report.seconds:.1f}",
            counts=counts,
            passages=phrases.count(report.passages_total, phrases.passages),
        )
    )
    added, updated, removed, skipped, failed = phrases.report_lists
    for label, names in (
        (added, report.added),
        (updated, report.updated),
        (removed, report.removed),
    ):
        if names:
            lines.append(f"<b>{label}:</b> {_names(phrases, names)}")
    for label, problems in ((skipped, report.skipped), (failed, report.failed)):
        if problems:
            lines.append(f"<b>{label}:</b>")
            lines += _problems(phrases, problems)
    return split_html("\n".join(lines))


def _problems(phrases: Phrases, files: Sequence[SkippedFile]) -> list[str]:
    lines = [
        f"• {escape(shorten(f.path, 150))}: {escape(shorten(f.reason, 200))}"
        for f in files[:LISTED_NAMES]
    ]
    if len(files) > LISTED_NAMES:
        lines.append(phrases.listed_more.format(n=len(files) - LISTED_NAMES))
    return lines


def _names(phrases: Phrases, names: Sequence[str]) -> str:
    listed = ", ".join(escape(shorten(name, 200)) for name in names[:LISTED_NAMES])
    extra = len(names) - LISTED_NAMES
    return f"{listed} {phrases.and_more.format(n=extra)}" if extra > 0 else listed
