"""Cutting a document's cleaned text into passages, the units that are embedded and cited.

`Document.text` holds blocks (paragraphs, headings, list items) separated by "\\n\\n".
A block that fits is one passage, so passages start where the reader's paragraphs start.
A short block (a heading) joins the blocks after it; a block too long for the encoder is
cut at sentences, consecutive pieces sharing a sentence so that no statement loses its
context at a cut. Every passage is a contiguous span of the text and nothing is dropped.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from retrieval.passages.sentences import sentence_spans
from retrieval.records import Document, Passage

log = logging.getLogger(__name__)

# Bump whenever the same text and settings would be cut differently (here or in sentences.py).
CHUNKER_VERSION = 2
# A word the tokenizer cannot split (10,000 characters with no space) counts as one unknown
# token, so token counts alone would let it through whole. No real text averages more than
# this many characters per token; past it, length in characters sets the cost.
MAX_CHARS_PER_TOKEN = 8

_BLOCK_SEPARATOR = "\n\n"
_WORD = re.compile(r"\S+")
_ID_MASK = 2**63 - 1

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class PassageSettings:
    max_tokens: int = 200
    min_tokens: int = 24
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, not {self.max_tokens}")
        if self.min_tokens < 0:
            raise ValueError(f"min_tokens must be 0 or more, not {self.min_tokens}")
        if self.overlap_sentences < 0:
            raise ValueError(f"overlap_sentences must be 0 or more, not {self.overlap_sentences}")

    def fingerprint(self) -> str:
        """Recorded in the index manifest, so an index cut another way is detected."""
        return (
            f"chunker{CHUNKER_VERSION}-max{self.max_tokens}"
            f"-min{self.min_tokens}-overlap{self.overlap_sentences}"
        )


def split_passages(
    document: Document, count_tokens: TokenCounter, settings: PassageSettings
) -> list[Passage]:
    """Cut `document.text` into passages of at most `settings.max_tokens` tokens each.

    `count_tokens` is the encoder's tokenizer; it is called once per block and, inside
    blocks that must be cut, once per sentence and piece.
    """
    text = document.text
    blocks = _blocks(text)
    starts = [block.start for block in blocks]
    passages = []
    for start, end in _Cutter(text, count_tokens, settings).spans(blocks):
        paragraph = blocks[bisect.bisect_right(starts, start) - 1].index
        passage_text = text[start:end]
        passages.append(
            Passage(
                id=passage_id(document.doc_id, start, passage_text),
                doc_id=document.doc_id,
                text=passage_text,
                start=start,
                end=end,
                paragraph=paragraph,
            )
        )
    return passages


def passage_id(doc_id: str, start: int, text: str) -> int:
    """A stable id in [0, 2**63): the same passage of the same document keeps it across runs."""
    digest = hashlib.blake2b(f"{doc_id}\x00{start}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _ID_MASK


class _Block(NamedTuple):
    """A non-blank block; `index` counts the pieces of text.split("\\n\\n")."""

    index: int
    start: int
    end: int


class _Group(NamedTuple):
    """Consecutive blocks that become one passage, or several if they do not fit."""

    start: int
    end: int
    fits: bool


class _Unit(NamedTuple):
    """A sentence, or a piece of one too long to fit; `cost` excludes the counter's overhead."""

    start: int
    end: int
    cost: int
    whole: bool


def _blocks(text: str) -> list[_Block]:
    blocks = []
    position = 0
    for index, chunk in enumerate(text.split(_BLOCK_SEPARATOR)):
        body = chunk.strip()
        if body:
            start = position + len(chunk) - len(chunk.lstrip())
            blocks.append(_Block(index, start, start + len(body)))
        position += len(chunk) + len(_BLOCK_SEPARATOR)
    return blocks


class _Cutter:
    """The cutting of one document's text: its counter, settings and the text itself."""

    def __init__(self, text: str, count_tokens: TokenCounter, settings: PassageSettings) -> None:
        self.text = text
        self.count_tokens = count_tokens
        self.max = settings.max_tokens
        self.min = settings.min_tokens
        self.overlap = settings.overlap_sentences

    def spans(self, blocks: list[_Block]) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for group in self._groups(blocks):
            if group.fits:
                spans.append((group.start, group.end))
            else:
                spans.extend(self._cut(group.start, group.end))
        return spans

    def _count(self, start: int, end: int) -> int:
        text = self.text[start:end]
        return max(self.count_tokens(text), -(-len(text) // MAX_CHARS_PER_TOKEN))

    @cached_property
    def _overhead(self) -> int:
        """Tokens the counter adds to any text (special tokens), so sentence counts add up."""
        return max(0, self.count_tokens(""))

    def _groups(self, blocks: list[_Block]) -> list[_Group]:
        """Blocks of at least min_tokens stand alone; shorter ones join their neighbours."""
        counts = [self._count(block.start, block.end) for block in blocks]
        groups: list[_Group] = []
        following = 0
        while following < len(blocks):
            first = blocks[following]
            tokens = counts[following]
            following += 1
            while tokens < self.min and following < len(blocks):
                merged = self._count(first.start, blocks[following].end)
                if merged > self.max:
                    break
                tokens = merged
                following += 1
            end = blocks[following - 1].end
            if tokens < self.min and following < len(blocks) and counts[following] > self.max:
                # A heading before a block that must be cut anyway leads its first piece.
                groups.append(_Group(first.start, blocks[following].end, fits=False))
                following += 1
                continue
            if tokens < self.min and following == len(blocks) and groups and groups[-1].fits:
                previous = groups[-1]
                if self._count(previous.start, end) <= self.max:
                    groups[-1] = _Group(previous.start, end, fits=True)
                    continue
            groups.append(_Group(first.start, end, fits=tokens <= self.max))
        return groups

    def _cut(self, start: int, end: int) -> list[tuple[int, int]]:
        """Pieces of text[start:end] that fit, cut at sentences where possible."""
        units: list[_Unit] = []
        for sentence_start, sentence_end in sentence_spans(self.text[start:end]):
            sentence_start += start
            sentence_end += start
            tokens = self._count(sentence_start, sentence_end)
            if tokens <= self.max:
                units.append(_Unit(sentence_start, sentence_end, tokens - self._overhead, True))
            else:
                units.extend(self._cut_sentence(sentence_start, sentence_end))
        return [(units[first].start, units[last - 1].end) for first, last in self._pack(units)]

    def _pack(self, units: list[_Unit]) -> list[tuple[int, int]]:
        """Ranges [first, last) of units, each a piece; neighbours share whole sentences."""
        ranges: list[tuple[int, int]] = []
        first = done = 0
        while done < len(units):
            while (last := self._extend(units, first)) <= done:
                first += 1  # the shared sentences leave no room for a new one: share fewer
            ranges.append((first, last))
            piece_start, done, first = first, last, last
            while (
                first > piece_start + 1 and last - first < self.overlap and units[first - 1].whole
            ):
                first -= 1
        return ranges

    def _extend(self, units: list[_Unit], first: int) -> int:
        """The end of the longest run of units from `first` that fits (at least one unit)."""
        last = first + 1
        total = self._overhead + units[first].cost
        while last < len(units) and total + units[last].cost <= self.max:
            total += units[last].cost
            last += 1
        # Sentence counts are an estimate of the whole; the whole is what must fit.
        while last > first + 1 and self._count(units[first].start, units[last - 1].end) > self.max:
            last -= 1
        return last

    def _cut_sentence(self, start: int, end: int) -> list[_Unit]:
        """A sentence over max_tokens, cut at words, or inside a word longer than the limit."""
        log.debug("sentence of %d characters cut at words", end - start)
        words = list(_WORD.finditer(self.text, start, end))
        word_starts = [word.start() for word in words]
        word_ends = [word.end() for word in words]
        units: list[_Unit] = []
        begin, current = start, 0
        while current < len(words):
            reach, tokens = self._fit(begin, word_ends, current)
            if reach >= 0:
                cut = word_ends[reach]
            else:
                inside = range(begin + 1, word_ends[current])
                reach, tokens = self._fit(begin, inside, 0)
                cut = inside[reach] if reach >= 0 else begin + 1
                if reach < 0:  # one character over the limit: kept, never dropped
                    tokens = self._count(begin, cut)
            units.append(_Unit(begin, cut, tokens - self._overhead, False))
            while current < len(words) and word_ends[current] <= cut:
                current += 1
            if current < len(words):
                begin = max(cut, word_starts[current])
        return units

    def _fit(self, begin: int, cuts: Sequence[int], first: int) -> tuple[int, int]:
        """The furthest index i >= first with text[begin:cuts[i]] within max_tokens, and its
        count; (-1, 0) if none. Galloping keeps the calls few and no longer than needed."""
        fit, fit_tokens, fail = first - 1, 0, len(cuts)
        step = 1
        while fit + step < fail:
            tokens = self._count(begin, cuts[fit + step])
            if tokens > self.max:
                fail = fit + step
                break
            fit, fit_tokens = fit + step, tokens
            step *= 2
        while fail - fit > 1:
            middle = (fit + fail) // 2
            tokens = self._count(begin, cuts[middle])
            if tokens > self.max:
                fail = middle
            else:
                fit, fit_tokens = middle, tokens
        return (fit, fit_tokens) if fit >= first else (-1, 0)
