"""A deterministic bag-of-words encoder for plumbing tests that run many processes.

It hashes words into buckets: no model load, so a subprocess starts in a second. It only
stands in where what is tested is the store and the indexer, never answer quality.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

WORD = re.compile(r"\w+")


class HashingEncoder:
    name = "test/hashing-words"
    build = ""
    dim = 64
    max_tokens = 512

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest())
                vectors[row, bucket % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    encode_queries = encode_passages

    def count_tokens(self, text: str) -> int:
        return len(WORD.findall(text))
