"""Rule-based sentence boundaries for English, Russian and Ukrainian text.

Passages are cut at sentence boundaries and the best sentence of a hit is shown to the
user, so a wrong split costs more than a missed one: when in doubt, do not split.
A candidate end is `.`, `!`, `?`, `…` (or a run of them) plus any closing quotes or
brackets, followed by whitespace. Newlines are whitespace, but a blank line always ends
a sentence.
"""

from __future__ import annotations

import re

_CANDIDATE = re.compile(r"[.!?…]+[\"'”’»)\]}]*(?=\s|$)")
_BLANK_LINE = re.compile(r"\n\s*\n")
# Letters-only dotted words: U.S, e.g, i.e, a.m, Ph.D, т.е, т.д.
_DOTTED = re.compile(r"(?:[^\W\d_]{1,2}\.)+[^\W\d_]{1,2}")
_ENUMERATOR = re.compile(r"\(?(?:\d{1,3}|[a-z]|[ivx]{1,5}|[IVXLC]{1,6})\)?")
_OPENERS = "\"'“‘„«([{—–-•·*"
_CONTINUERS = ",;:"

# Abbreviations (lowercased, without the final dot) that are never the end of a sentence:
# titles, months, company suffixes, and Russian/Ukrainian forms that precede a name or number.
_NEVER_FINAL = frozenset(
    {
        *("mr", "mrs", "ms", "dr", "prof", "st", "mt", "ft", "rev", "hon", "pres", "gov"),
        *("gen", "lt", "col", "sgt", "capt", "maj", "cpl", "pvt", "adm", "cmdr", "brig"),
        *("sen", "rep", "vs", "cf", "approx", "dept", "inc", "ltd", "corp", "co"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
        *("г", "гг", "ул", "им", "см", "ст", "проф", "ген", "акад", "доц", "тов", "гр"),
        *("просп", "пер", "пл", "обл", "пос", "р", "рр", "вул", "ім", "див"),
    }
)
# "г." is a city before a name ("г. Москва") but a year after a number, where it may end a
# sentence ("… в 2021 г. Москва …" reads as two); the Ukrainian "р." likewise.
_YEAR = frozenset({"г", "гг", "р", "рр"})
# Abbreviations that introduce a number: "No. 5", "p. 12", "д. 7"; "No. He left." still splits.
_BEFORE_NUMBER = frozenset(
    {"no", "nos", "vol", "art", "fig", "p", "pp", "ch", "sec", "д", "кв", "стр", "с", "п", "ч"}
)
# Abbreviations that often do end a sentence ("… 5 млн. В 2021 …", "… etc. The"): they
# end one only before a capital letter, so "5 руб. 50 коп." and "etc. and" stay whole.
_FINAL_BEFORE_CAPITAL = frozenset(
    {
        *("etc", "al", "jr", "sr", "т.д", "т.п", "т.ін", "др", "пр", "ін"),
        *("млн", "млрд", "трлн", "тыс", "тис", "руб", "коп", "грн", "долл", "дол"),
    }
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence, stripped of surrounding whitespace, in order.

    The spans cover every non-whitespace character of `text`.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for blank in _BLANK_LINE.finditer(text):
        _segment_spans(text, start, blank.start(), spans)
        start = blank.end()
    _segment_spans(text, start, len(text), spans)
    return spans


def split_sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


def _segment_spans(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """Append the sentences of text[start:end], a stretch without blank lines."""
    sentence_start = start
    for candidate in _CANDIDATE.finditer(text, start, end):
        if _ends_sentence(text, sentence_start, candidate, end):
            _append_stripped(text, sentence_start, candidate.end(), spans)
            sentence_start = candidate.end()
    _append_stripped(text, sentence_start, end, spans)


def _append_stripped(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def _ends_sentence(text: str, sentence_start: int, candidate: re.Match[str], limit: int) -> bool:
    following = _next_word_char(text, candidate.end(), limit)
    if not following:
        return True
    if following.islower() or following in _CONTINUERS:
        return False
    if candidate.group() != ".":
        return True
    word = _word_before(text, sentence_start, candidate.start())
    lowered = word.lower()
    if _DOTTED.fullmatch(word):
        return lowered in _FINAL_BEFORE_CAPITAL and following.isupper()
    if len(word) == 1 and word.isupper():
        return False  # an initial: "J. K. Rowling", "В. В. Путин"
    if lowered in _YEAR and _follows_number(text, sentence_start, candidate.start() - len(word)):
        return following.isupper()
    if lowered in _NEVER_FINAL:
        return False
    if lowered in _BEFORE_NUMBER:
        return not following.isdigit()
    if lowered in _FINAL_BEFORE_CAPITAL:
        return following.isupper()
    return not _is_list_marker(text, sentence_start, candidate.start())


def _next_word_char(text: str, position: int, limit: int) -> str:
    """The first character after `position` that is neither whitespace nor an opening mark."""
    while position < limit and (text[position].isspace() or text[position] in _OPENERS):
        position += 1
    return text[position] if position < limit else ""


def _word_before(text: str, sentence_start: int, position: int) -> str:
    """The letters, digits and inner dots that end right before `position`."""
    begin = position
    while begin > sentence_start and (text[begin - 1].isalnum() or text[begin - 1] == "."):
        begin -= 1
    return text[begin:position].lstrip(".")


def _is_list_marker(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is only a list marker ("1", "b", "(iv)"), a sentence's start."""
    return end - start <= 24 and _ENUMERATOR.fullmatch(text[start:end].strip()) is not None


def _follows_number(text: str, sentence_start: int, position: int) -> bool:
    while position > sentence_start and text[position - 1].isspace():
        position -= 1
    return position > sentence_start and text[position - 1].isdigit()
