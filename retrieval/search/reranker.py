"""An optional cross-encoder that reorders the best candidates of a question.

A cross-encoder reads the question and a passage together, so it judges the fit better
than two separately made vectors, at the cost of one model pass per pair: it only reorders
the first `depth` candidates. No PyPI package ships one, so none is on by default; set
CITEBOT_RERANKER to a sentence-transformers CrossEncoder (a hub name, or a folder).
Its score orders the hits; the calibrated confidence stays that of the dense and lexical
signals, so "no good match" keeps the threshold it was calibrated for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

from retrieval.errors import EncoderError

log = logging.getLogger(__name__)

RERANK_DEPTH = 20


class Reranker:
    """A sentence-transformers CrossEncoder scoring (question, passage) pairs on the CPU."""

    def __init__(self, name: str, depth: int = RERANK_DEPTH) -> None:
        log.info("loading reranker %s", name)
        from sentence_transformers import CrossEncoder

        try:
            self._model = CrossEncoder(name, device="cpu")
        except (OSError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EncoderError(
                f"cannot load the reranker {name!r} ({reason}): set CITEBOT_RERANKER to a "
                "CrossEncoder folder or a model in the Hugging Face cache, or unset it"
            ) from None
        self.name = name
        self.depth = depth
        self._lock = threading.Lock()  # one forward pass at a time; torch threads are shared

    def scores(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """One score per pair, higher for a better fit (its scale is the model's own)."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            scores = self._model.predict(
                list(pairs), batch_size=32, show_progress_bar=False, convert_to_numpy=True
            )
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs))
