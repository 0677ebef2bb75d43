"""Pure functions that turn answers into Telegram HTML; every piece of document text is escaped.

A page of an answer lists hits as blocks separated by blank lines, so `split_html` cuts
between hits before it cuts inside one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)
from telegram.constants import ParseMode

from bot.telegram.phrases import Phrases
from bot.telegram.search import context_data, more_data
from bot.telegram.split import split_html, utf16_len
from retrieval.records import Answer, Hit, Passage

# A hit this far above the threshold reads as a strong match.
STRONG_MARGIN = 0.15
INLINE_PASSAGE_CHARS = 3000
_LINKABLE = re.compile(r"https?://[^\s<>\"]+")


def escape(text: str) -> str:
    """Text safe between Telegram HTML tags (quotes need escaping only inside attributes)."""
    return html.escape(text, quote=False)


def plain(text: str) -> str:
    """Telegram HTML as plain text, for the places that show no markup (button alerts)."""
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def format_page(phrases: Phrases, answer: Answer, offset: int, count: int) -> list[str]:
    """Hits offset+1 … offset+count of the answer (which has hits), as one or more messages."""
    blocks = []
    if offset == 0 and not answer.answered:
        blocks.append(phrases.no_good_match)
    elif offset > 0:
        last = min(offset + count, len(answer.hits))
        blocks.append(f"<i>{phrases.passages_range.format(first=offset + 1, last=last)}</i>")
    for rank, hit in enumerate(answer.hits[offset : offset + count], offset + 1):
        blocks.append(format_hit(phrases, hit, rank, _threshold(answer)))
    return split_html("\n\n".join(blocks))


def _threshold(answer: Answer) -> float:
    """An uncalibrated model's hits are all weak: nothing vouches for them."""
    return answer.threshold if answer.calibrated else float("inf")


def answer_keyboard(
    phrases: Phrases, key: str, hits: int, offset: int, page_size: int, total: int
) -> InlineKeyboardMarkup:
    """A Context button for each passage on the page, and More while further ones remain."""
    shown = range(offset + 1, min(offset + page_size, hits) + 1)
    rows = [
        [
            InlineKeyboardButton(
                phrases.context_button.format(n=n), callback_data=context_data(key, n)
            )
            for n in shown
        ]
    ]
    if offset + page_size < total:
        more = more_data(key, offset + page_size)
        rows.append([InlineKeyboardButton(phrases.more_button, callback_data=more)])
    return InlineKeyboardMarkup(rows)


def format_hit(
    phrases: Phrases, hit: Hit, rank: int, threshold: float, *, max_chars: int | None = None
) -> str:
    """One passage with its best sentence in bold, its source and a confidence cue."""
    text = hit.passage.text.strip()
    if max_chars is not None and len(text) > max_chars:
        text = shorten(text, max_chars)
    return (
        f"<b>{rank}.</b> {emphasise(text, hit.best_sentence)}\n"
        f"{source_line(phrases, hit)}\n"
        f"<i>{confidence(phrases, hit.score, threshold)}</i>"
    )


def emphasise(text: str, sentence: str) -> str:
    """`text` escaped, with `sentence` in bold where it occurs (spacing may differ)."""
    words = sentence.split()
    if not words:
        return escape(text)
    match = re.search(r"\s+".join(re.escape(word) for word in words), text)
    if match is None:
        return escape(text)
    return (
        f"{escape(text[: match.start()])}<b>{escape(match.group())}</b>"
        f"{escape(text[match.end() :])}"
    )


def source_line(phrases: Phrases, hit: Hit) -> str:
    source = hit.source
    parts = [f"“{escape(shorten(source.title, 200))}”", escape(shorten(source.path, 200))]
    if source.date:
        parts.append(escape(source.date))
    if source.url and _LINKABLE.fullmatch(source.url):
        parts.append(f'<a href="{html.escape(source.url, quote=True)}">{phrases.link}</a>')
    elif source.url:
        parts.append(escape(shorten(source.url, 200)))
    line = "📄 " + " · ".join(parts)
    if hit.also_in:
        also = ", ".join(escape(shorten(other.path, 100)) for other in hit.also_in[:5])
        extra = len(hit.also_in) - 5
        more = f" {phrases.and_more.format(n=extra)}" if extra > 0 else ""
        line += f"\n📎 {phrases.also_in}: {also}{more}"
    return line


def confidence(phrases: Phrases, score: float, threshold: float) -> str:
    if score < threshold:
        label = phrases.weak
    elif score >= threshold + STRONG_MARGIN:
        label = phrases.strong
    else:
        label = phrases.good
    return f"{label} · {score:.2f}"


def format_context(phrases: Phrases, hit: Hit, rank: int, passages: Sequence[Passage]) -> list[str]:
    """The hit in a quote, with the document text around it (the neighbouring passages)."""
    ordered = sorted(passages, key=lambda p: p.start)
    before = _span_text([p for p in ordered if p.start < hit.passage.start], hit.passage.start)
    after = _span_text([p for p in ordered if p.end > hit.passage.end], None, hit.passage.end)
    title = phrases.context_title.format(rank=rank)
    blocks = [f"<b>{title}</b> · {source_line(phrases, hit)}"]
    if before:
        blocks.append(escape(before))
    blocks.append(
        f"<blockquote>{emphasise(hit.passage.text.strip(), hit.best_sentence)}</blockquote>"
    )
    if after:
        blocks.append(escape(after))
    return split_html("\n\n".join(blocks))


def _span_text(passages: Sequence[Passage], end: int | None, start: int | None = None) -> str:
    """The document text these passages cover from `start` up to `end`, overlaps joined once."""
    pieces: list[str] = []
    covered = start if start is not None else (passages[0].start if passages else 0)
    for passage in passages:
        stop = passage.end if end is None else min(passage.end, end)
        if stop <= covered:
            continue
        if passage.start > covered:
            pieces.append("\n\n")
            covered = passage.start
        pieces.append(passage.text[covered - passage.start : stop - passage.start])
        covered = stop
    return "".join(pieces).strip()


def inline_results(phrases: Phrases, answer: Answer) -> list[InlineQueryResultArticle]:
    """One result per hit (ids unique, within Telegram's 50 results and 64-byte ids)."""
    return [
        InlineQueryResultArticle(
            id=str(hit.passage.id),
            title=inline_title(phrases, hit, rank, _threshold(answer)),
            description=inline_description(hit),
            input_message_content=InputTextMessageContent(
                inline_message(phrases, answer.query, hit, rank, _threshold(answer)),
                ParseMode.HTML,
            ),
        )
        for rank, hit in enumerate(answer.hits[:50], 1)
    ]


def inline_title(phrases: Phrases, hit: Hit, rank: int, threshold: float) -> str:
    weak = f" {phrases.weak_mark}" if hit.score < threshold else ""
    return shorten(f"{rank}. {hit.source.title}{weak}", 100)


def inline_description(hit: Hit) -> str:
    return shorten(" ".join((hit.best_sentence or hit.passage.text).split()), 200)


def inline_message(phrases: Phrases, query: str, hit: Hit, rank: int, threshold: float) -> str:
    """What an inline result posts: the question and one hit, always within one message."""
    question = f"<i>{escape(shorten(query, 300))}</i>"
    passage = format_hit(phrases, hit, rank, threshold, max_chars=INLINE_PASSAGE_CHARS)
    return f"{question}\n\n{passage}"


def shorten(text: str, limit: int) -> str:
    """At most `limit` UTF-16 units, cut at a space where one is near, ending in "…"."""
    if utf16_len(text) <= limit:
        return text
    cut = limit - 1
    while utf16_len(text[:cut]) > limit - 1:
        cut -= 1
    space = text.rfind(" ", 0, cut)
    if space > cut * 0.7:
        cut = space
    return text[:cut].rstrip() + "…"
