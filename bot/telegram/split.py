"""Cut Telegram HTML into messages that each fit, without breaking a tag or an entity.

A cut prefers a blank line, then a line break, then a sentence end, then a space; tags
open at a cut are closed at the end of one message and reopened at the start of the next.
Lengths are counted on the HTML itself in UTF-16 units, which is never less than what
Telegram counts (the text after parsing), so a piece that fits here fits there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_MESSAGE = 4096

_TOKEN = re.compile(r"<[^>]*>|[^<]+")
_TAG_NAME = re.compile(r"</?([A-Za-z][\w-]*)")
# Each text unit ends where a cut may go; its weight says how good a place that is.
_UNIT = re.compile(r"[^\s]*(?:\s+|$)")
_ENTITY = re.compile(r"&[#\w]*;?")
_SENTENCE_END = re.compile(r"[.!?…][\"'”»)\]]*\s+$")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class _Unit:
    html: str
    weight: int  # of a cut right after this unit: 0 none, 1 space … 4 blank line
    openers: tuple[str, ...]  # tags open after this unit, outermost first


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Messages of at most `limit` UTF-16 units whose concatenated text is `text`'s."""
    if utf16_len(text) <= limit:
        return [text]
    units = _units(text, limit)
    messages: list[str] = []
    start, opened = 0, ()
    while start < len(units):
        end = _cut(units, start, opened, limit)
        body = "".join(unit.html for unit in units[start:end])
        closers = _closers(units[end - 1].openers)
        message = ("".join(opened) + body.rstrip() + closers).strip()
        if _visible(message):
            messages.append(message)
        start, opened = end, units[end - 1].openers
    return messages


def _cut(units: list[_Unit], start: int, opened: tuple[str, ...], limit: int) -> int:
    """End of the message that starts at `start`: the best cut among those that fit."""
    size = utf16_len("".join(opened))
    best, best_score = start + 1, -1
    for end in range(start, len(units)):
        size += utf16_len(units[end].html)
        if size + utf16_len(_closers(units[end].openers)) > limit:
            break
        if end + 1 == len(units):
            return end + 1
        # A cut in the second half always beats one in the first: messages stay full.
        score = units[end].weight + (5 if 2 * size >= limit else 0)
        if score >= best_score:
            best, best_score = end + 1, score
    return best


def _units(text: str, limit: int) -> list[_Unit]:
    """The HTML as tags and words, each word short enough to fit a message on its own."""
    units: list[_Unit] = []
    stack: list[tuple[str, str]] = []
    tail = ""  # the visible text just before, so "end.</i> Next" is seen as a sentence end
    for token in _TOKEN.findall(text):
        if token.startswith("<"):
            name = _tag_name(token)
            if token.startswith("</"):
                if stack and stack[-1][0] == name:
                    stack.pop()
            else:
                stack.append((name, token))
            units.append(_Unit(token, 0, tuple(opener for _, opener in stack)))
            continue
        openers = tuple(opener for _, opener in stack)
        for word in _UNIT.findall(token):
            if not word:
                continue
            pieces = _hard_pieces(word, max(limit // 4, 1))
            units += [_Unit(piece, 0, openers) for piece in pieces[:-1]]
            units.append(_Unit(pieces[-1], _weight(pieces[-1], tail), openers))
            tail = (tail + word)[-4:]
    return units


def _weight(word: str, before: str) -> int:
    """How good a cut right after `word` is; `before` is the visible text preceding it."""
    space = word[len(word.rstrip()) :]
    if not space:
        return 0
    if "\n\n" in space:
        return 4
    if "\n" in space:
        return 3
    return 2 if _SENTENCE_END.search(before + word) else 1


def _hard_pieces(word: str, room: int) -> list[str]:
    """A word longer than `room`, cut anywhere but inside an entity like `&amp;`."""
    pieces = []
    while utf16_len(word) > room:
        cut = room
        while cut > 1 and utf16_len(word[:cut]) > room:
            cut -= 1
        entity = word.rfind("&", max(cut - 10, 0), cut)
        if entity > 0 and (match := _ENTITY.match(word, entity)) and match.end() > cut:
            cut = entity
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word]


def _tag_name(tag: str) -> str:
    match = _TAG_NAME.match(tag)
    return match[1].lower() if match else ""


def _closers(openers: tuple[str, ...]) -> str:
    return "".join(f"</{_tag_name(opener)}>" for opener in reversed(openers))


def _visible(message: str) -> bool:
    return bool(re.sub(r"<[^>]*>", "", message).strip())
