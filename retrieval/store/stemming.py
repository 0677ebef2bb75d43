"""Words → index terms for English, Russian and Ukrainian text.

Snowball (PyStemmer) stems English and Russian. It has no Ukrainian stemmer; Ukrainian
text (told apart from Russian by the letters і ї є ґ against ы э ъ) goes through
`_ukrainian_stem`, a light suffix stripper in the spirit of Snowball's Russian one. The
choice was measured with BM25 alone on uasquad_uk_dev (README, "Lexical search").
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"\w+(?:['’ʼ]\w+)*")
_APOSTROPHES = str.maketrans("", "", "'’ʼ")
_CYRILLIC = re.compile(r"[а-яёіїєґ]")
_CYRILLIC_ANY = re.compile(r"[а-яёіїєґ]", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_UKRAINIAN_LETTERS = re.compile(r"[іїєґ]")
_RUSSIAN_LETTERS = re.compile(r"[ыэъё]")

# Noun, adjective, verb and participle endings; the longest that leaves a stem is removed.
_ENDINGS_TEXT = """
    ськими цькими ського цького ському цькому ських цьких ським цьким
    ська цька ське цьке ські цькі ську цьку
    ування ювання ання яння ення іння ття ість ості істю
    іший іша іше іші ішого ішому ішим ішій іших ішими ішою ішу
    ого ому ими ий ій ім их ою ею ах ях ам ям ами ями ові еві єві
    ати яти іти ити ути ють ять уть ить еть ємо имо ете ите єте ла ли ло
    вши вшись ся сь ши
    а я о е є і ї и у ю ь й
"""
_UKRAINIAN_ENDINGS = tuple(sorted(set(_ENDINGS_TEXT.split()), key=len, reverse=True))
_MIN_STEM = 3


def analyse(text: str) -> list[str]:
    """The index terms of `text`: lower-cased words, stemmed by their language."""
    lowered = text.casefold().replace("ё", "е")
    words = [word.translate(_APOSTROPHES) for word in _WORD.findall(lowered)]
    ukrainian = _is_ukrainian(lowered)
    return [_stem(word, ukrainian) for word in words]


def is_cyrillic(text: str) -> bool:
    """True when most letters of `text` are Cyrillic."""
    letters = _LETTER.findall(text)
    return len(_CYRILLIC_ANY.findall(text)) > 0.5 * max(1, len(letters))


def _is_ukrainian(text: str) -> bool:
    ukrainian = len(_UKRAINIAN_LETTERS.findall(text))
    return ukrainian > 0 and ukrainian > len(_RUSSIAN_LETTERS.findall(text))


@lru_cache(maxsize=200_000)
def _stem(word: str, ukrainian: bool) -> str:
    if not _CYRILLIC.search(word):
        return _stemmer("english").stemWord(word) if word.isascii() else word
    if ukrainian:
        return _ukrainian_stem(word)
    return _stemmer("russian").stemWord(word)


@lru_cache(maxsize=2)
def _stemmer(language: str):  # PyStemmer has no type stubs
    import Stemmer

    return Stemmer.Stemmer(language)


def _ukrainian_stem(word: str) -> str:
    for ending in _UKRAINIAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
            return word[: -len(ending)]
    return word
