"""The engine both faces hold: one corpus, one index folder, one encoder, one live searcher.

The encoder loads once, on first use; indexing swaps the new generation in under a lock,
so a question in flight finishes on the index it started with.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from retrieval.encoders import Encoder, canonical_model_name, load_encoder
from retrieval.errors import CitebotError
from retrieval.indexer import IndexReport, index_corpus
from retrieval.passages import PassageSettings
from retrieval.records import Answer
from retrieval.search import Searcher, default_min_score
from retrieval.store import Manifest, StoredIndex, load_index, read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    corpus: Path
    index_dir: Path
    model: str
    passages: PassageSettings
    min_score: float | None = None


class Engine:
    def __init__(self, config: EngineConfig, *, encoder: Encoder | None = None) -> None:
        self.config = config
        self.model_name = canonical_model_name(config.model)
        self.min_score = (
            config.min_score if config.min_score is not None else default_min_score(self.model_name)
        )
        self._lock = threading.Lock()
        self._encoder = encoder
        self._stored: StoredIndex | None = None

    @property
    def encoder(self) -> Encoder:
        with self._lock:
            if self._encoder is None:
                encoder = load_encoder(self.config.model)
                if self.config.passages.max_tokens > encoder.max_tokens - 16:
                    raise CitebotError(
                        f"CITEBOT_MAX_PASSAGE_TOKENS={self.config.passages.max_tokens} does not "
                        f"fit {encoder.name} (at most {encoder.max_tokens - 16})"
                    )
                self._encoder = encoder
            return self._encoder

    def manifest(self) -> Manifest:
        """The live index's manifest, read without loading the model."""
        return read_manifest(self.config.index_dir)

    def build_index(self, *, rebuild: bool = False, progress: bool = False) -> IndexReport:
        """Index the corpus; a searcher already loaded switches to the new generation."""
        report = index_corpus(
            self.config.corpus,
            self.config.index_dir,
            self.encoder,
            self.config.passages,
            rebuild=rebuild,
            progress=progress,
        )
        with self._lock:
            loaded = self._stored is not None
        if loaded:
            self._load()
        return report

    def searcher(self) -> Searcher:
        with self._lock:
            stored = self._stored
        if stored is None:
            stored = self._load()  # before the encoder: a mismatch is told without a model load
        return Searcher(stored.index, self.encoder, self.min_score)

    def search(self, query: str, k: int = 5) -> Answer:
        return self.searcher().search(query, k)

    def _load(self) -> StoredIndex:
        stored = load_index(
            self.config.index_dir,
            model=self.model_name,
            passage_settings=self.config.passages.fingerprint(),
        )
        with self._lock:
            self._stored = stored
        log.info("serving index %s (%d passages)", stored.generation, len(stored.index))
        return stored
