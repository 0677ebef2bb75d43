"""Plain-text and Markdown readers, and the `Extracted` record every format reader returns.

Text files carry metadata in optional front matter at the very top:

    ---
    title: …
    date: 2021-05-25
    url: https://…
    ---

A sidecar JSON file beside the document can override it (see `retrieval.documents.loading`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

from retrieval.documents.decoding import decode_bytes

logger = logging.getLogger(__name__)

TITLE_MAX_CHARS = 200
# A bullet (•, -, *, –, …) or a number like "1." / "2)" followed by a space.
LIST_ITEM = re.compile(r"^(?:[-*+•·▪●◦‣∙–]|\d{1,3}[.)])\s+")
SENTENCE_END = re.compile(r"[.!?…:;][\"'»”’)]*$")
# Hard-wrapped prose fills lines to a width in this range; other lines stand alone.
_WRAP_WIDTHS = range(50, 101)
_FILLED = 0.75

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_LINE = re.compile(r"^(\w+)\s*:\s*(.*?)\s*$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_DATE_FORMATS = ("%d.%m.%Y", "%d/%m/%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y")

_FENCE = re.compile(r"^\s*(```|~~~)")
_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT_UNDERLINE = re.compile(r"^(=+|-+)\s*$")
_HORIZONTAL_RULE = re.compile(r"^([-*_])(\s*\1){2,}\s*$")
_REFERENCE_DEFINITION = re.compile(r"^\[[^\]]+\]:\s*\S+")
_BLOCKQUOTE = re.compile(r"^(>\s?)+")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_INLINE = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # image → alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url) → text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref] → text
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),  # <url> → url
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|])"), r"\1"),
)


@dataclass(frozen=True)
class Extracted:
    """What a format reader found: body blocks in reading order and any metadata it carries."""

    blocks: tuple[str, ...]
    title: str | None = None
    date: str | None = None
    url: str | None = None


def iso_date(value: object) -> str | None:
    """An ISO `YYYY-MM-DD` for a datetime or a date string; None when it cannot be read."""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    logger.debug("ignoring unreadable date %r", text)
    return None


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split `key: value` front matter off the top of `text`; keys are lower-cased."""
    text = text.lstrip("\n")
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    for line in match.group(1).split("\n"):
        pair = _FRONT_MATTER_LINE.match(line)
        if pair and pair.group(2):
            meta[pair.group(1).lower()] = pair.group(2).strip("\"'")
    return meta, text[match.end() :]


def read_plain_text(data: bytes) -> Extracted:
    """A .txt file: paragraphs split on blank lines; a short first line alone is the title."""
    meta, text = split_front_matter(decode_bytes(data))
    chunks = [chunk.strip() for chunk in _BLANK_LINES.split(text) if chunk.strip()]
    title = meta.get("title")
    if title is None and len(chunks) > 1 and _is_title_line(chunks[0]):
        title = chunks.pop(0)
    blocks = [block for chunk in chunks for block in _chunk_blocks(chunk.split("\n"))]
    return Extracted(tuple(blocks), title, iso_date(meta.get("date")), meta.get("url"))


def read_markdown(data: bytes) -> Extracted:
    """A Markdown file with its syntax stripped lightly; the first `#` heading is the title."""
    meta, text = split_front_matter(decode_bytes(data))
    blocks, headings = _markdown_blocks(text)
    title = meta.get("title")
    if title is None:
        title = next((heading for level, heading in headings if level == 1), None)
    if title is None and headings and blocks and headings[0][1] == blocks[0]:
        title = blocks[0]
    return Extracted(tuple(blocks), title, iso_date(meta.get("date")), meta.get("url"))


def _is_title_line(chunk: str) -> bool:
    return "\n" not in chunk and len(chunk) <= TITLE_MAX_CHARS and not chunk.endswith(".")


def _chunk_blocks(lines: list[str]) -> list[str]:
    """Blocks of one blank-line-separated chunk.

    A line continues the previous one only when the chunk looks hard-wrapped and the
    previous line was filled to the wrap width; list items always start a block, and one
    paragraph per line (as scraped news has it) stays that way.
    """
    lines = [line.strip() for line in lines if line.strip()]
    width = max((len(line) for line in lines), default=0)
    blocks: list[str] = []
    previous = ""
    for line in lines:
        filled = width in _WRAP_WIDTHS and len(previous) >= _FILLED * width
        if blocks and filled and not LIST_ITEM.match(line):
            blocks[-1] = f"{blocks[-1]} {line}"
        else:
            blocks.append(line)
        previous = line
    return blocks


def _inline(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text.strip()


def _markdown_blocks(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """Blocks and (level, text) headings; code fences stay as text, one block each."""
    blocks: list[str] = []
    headings: list[tuple[int, str]] = []
    paragraph: list[str] = []
    code: list[str] | None = None

    def flush() -> None:
        if paragraph:
            blocks.append(_inline(" ".join(paragraph)))
            paragraph.clear()

    for raw in text.split("\n"):
        if _FENCE.match(raw):
            if code is None:
                flush()
                code = []
            else:
                blocks.append("\n".join(code))
                code = None
            continue
        if code is not None:
            if raw.strip():
                code.append(raw.rstrip())
            continue
        line = _BLOCKQUOTE.sub("", raw.strip()).strip()
        heading = _ATX_HEADING.match(line)
        if heading:
            flush()
            level, line = len(heading.group(1)), _inline(heading.group(2))
        elif len(paragraph) == 1 and _SETEXT_UNDERLINE.match(line):
            level, line = (1 if line.startswith("=") else 2), _inline(paragraph.pop())
        elif not line or _HORIZONTAL_RULE.match(line) or _REFERENCE_DEFINITION.match(line):
            flush()
            continue
        elif _TABLE_RULE.match(line):
            continue
        else:
            item = LIST_ITEM.match(line)
            if item:
                flush()
                line = line[item.end() :]
            paragraph.append(line)
            continue
        if line:
            blocks.append(line)
            headings.append((level, line))
    flush()
    if code:
        blocks.append("\n".join(code))
    return [block for block in blocks if block], headings
