"""Bytes → normalised text, for the text-based formats.

Tried in order: a BOM (UTF-8, UTF-16 LE/BE), strict UTF-8, an encoding the file itself
declares (HTML `charset`), then cp1251 — accepted only when the result reads as Cyrillic,
because cp1251 maps almost every byte to some character and would "decode" anything. A
declared single-byte charset is not taken on trust either: Russian bytes read as Latin-1
decode without error into "Ïîðò îòêðûëñÿ", so such a reading must look like words.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata

from retrieval.errors import DocumentError

logger = logging.getLogger(__name__)

_BINARY_REASON = "looks like binary data, not text"
_UNDECODABLE_REASON = "cannot decode the text (not UTF-8, UTF-16 or cp1251); re-save it as UTF-8"

# Control bytes (other than tab, newlines, form feed, escape) in more than 5% of a file
# mean it is not text.
_CONTROL_BYTES = bytes(byte for byte in range(32) if byte not in b"\t\n\r\f\v\x1b") + b"\x7f"
_MAX_CONTROL_RATIO = 0.05
_CYRILLIC_SAMPLE = 100_000

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"\w+")
# Non-letters that cp1251 text legitimately carries above ASCII: quotes, dashes, №, ….
_CP1251_PUNCTUATION = frozenset("«»„“”‘’‚–—…№•·°±§©®™\u00a0\u00ad")

_SPACES = re.compile(r"[\u00a0\u2007\u202f]")
_INVISIBLE = re.compile(r"[\u200b\ufeff]")
# C0 controls but tab and newline, DEL, C1 controls: terminal escapes and junk, never prose.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
# Words wholly made of Latin-1 letters (À-ÿ): what cp1251 or KOI8 text read as Latin-1 is.
_LATIN1_WORD = re.compile(r"\b[\u00c0-\u00ff]{2,}\b")
_ACCENTED_WORD = re.compile(r"\b\w*[\u00c0-\u00ff]\w*\b")
_MOJIBAKE_SHARE = 0.8


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode `data` and normalise it; raise DocumentError if it is not text."""
    if data.startswith(codecs.BOM_UTF8):
        return normalise_text(_strict(data[len(codecs.BOM_UTF8) :], "utf-8"))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _strict(data, "utf-16")
        if "\x00" in text:
            raise DocumentError(_BINARY_REASON)
        return normalise_text(text)
    if _looks_binary(data):
        raise DocumentError(_BINARY_REASON)
    try:
        return normalise_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    codec = _known_codec(declared)
    if codec is not None:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            pass
        else:
            if not _looks_like_mojibake(text):
                return normalise_text(text)
            logger.info("the declared charset %s does not fit the text; trying cp1251", declared)
            if not _plausibly_cyrillic(_cp1251(data, declared)):
                raise DocumentError(
                    f"the file declares charset {declared} but its text does not read as "
                    f"{declared}; re-save it as UTF-8"
                )
    text = _cp1251(data, declared)
    if not _plausibly_cyrillic(text):
        raise DocumentError(_UNDECODABLE_REASON)
    return normalise_text(text)


def strip_control_characters(text: str) -> str:
    """Drop terminal escapes and other control characters (tab and newline stay)."""
    return _CONTROL_CHARACTERS.sub("", text)


def replace_invalid(text: str) -> tuple[str, int]:
    """Text from argv, stdin or a file name with its undecodable bytes replaced by U+FFFD.

    Python hands such bytes over as lone surrogates, which no encoder or tokenizer accepts.
    Returns the repaired text and how many bad characters it had.
    """
    bad = len(_SURROGATES.findall(text))
    if not bad:
        return text, 0
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), bad
    except UnicodeEncodeError:  # surrogates that no byte produced
        return _SURROGATES.sub("\ufffd", text), bad


def normalise_text(text: str) -> str:
    """Unify newlines, compose characters (NFC) and turn no-break spaces into spaces.

    A soft hyphen at a line end marks a word split across lines, so the two halves join.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00ad\n", "").replace("\u00ad", "")
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return _SPACES.sub(" ", text)


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DocumentError(f"the file claims to be {encoding.upper()} but is not valid") from exc


def _cp1251(data: bytes, declared: str | None) -> str:
    try:
        return data.decode("cp1251")
    except UnicodeDecodeError as exc:
        if declared:
            raise DocumentError(
                f"the file declares charset {declared} but its text does not read as "
                f"{declared}; re-save it as UTF-8"
            ) from exc
        raise DocumentError(_UNDECODABLE_REASON) from exc


def _looks_like_mojibake(text: str) -> bool:
    """True when most accented words are made of nothing but Latin-1 letters.

    French or German prose has accented letters inside otherwise plain words ("café",
    "Straße"); Cyrillic bytes read as Latin-1 give words with no plain letter at all.
    """
    sample = text[:_CYRILLIC_SAMPLE]
    accented = len(_ACCENTED_WORD.findall(sample))
    return accented >= 3 and len(_LATIN1_WORD.findall(sample)) >= _MOJIBAKE_SHARE * accented


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    return controls > _MAX_CONTROL_RATIO * len(data)


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _plausibly_cyrillic(text: str) -> bool:
    """True when the non-ASCII characters are Cyrillic words, not mis-decoded Latin-1."""
    text = text[:_CYRILLIC_SAMPLE]
    non_ascii = [char for char in text if ord(char) > 0x7F]
    cyrillic = sum(1 for char in non_ascii if _CYRILLIC.match(char))
    if not cyrillic:
        return False
    expected = cyrillic + sum(1 for char in non_ascii if char in _CP1251_PUNCTUATION)
    if expected < 0.9 * len(non_ascii):
        return False
    words = [word for word in _WORD.findall(text) if _CYRILLIC.search(word)]
    mixed = sum(1 for word in words if _LATIN.search(word))
    return mixed <= 0.2 * len(words)
