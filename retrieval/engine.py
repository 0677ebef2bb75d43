"""The engine both faces hold: one corpus, one index store, one encoder, one live searcher.

The store is the embedded one (an index folder) or, with CITEBOT_QDRANT_URL, a Qdrant
collection; nothing above the engine tells them apart. The encoder loads once, on first
use. A new embedded generation, from this process or any other, is swapped in under a lock
by the next search; a question in flight finishes on the index it started with. A Qdrant
collection is read afresh by every question, so a reindex from any machine shows at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.encoders.base import Encoder, canonical_model_name, load_encoder
from retrieval.errors import CitebotError, IndexMissingError, IndexStoreError
from retrieval.passages.cutting import PassageSettings
from retrieval.qdrant.connection import QdrantSettings
from retrieval.records import Answer, Passage
from retrieval.search.candidates import SearchIndex
from retrieval.search.filters import Filters
from retrieval.search.reranker import RERANK_DEPTH, Reranker
from retrieval.search.searcher import Scoring, Searcher, default_scoring
from retrieval.store.ann import APPROXIMATE_FROM
from retrieval.store.generations import (
    Manifest,
    StoredIndex,
    check_writable,
    live_generation,
    load_index,
    read_manifest,
)

if TYPE_CHECKING:
    from retrieval.store.indexer import IndexReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    corpus: Path
    index_dir: Path
    model: str
    passages: PassageSettings
    min_score: float | None = None
    fusion: str | None = None
    lexical_weight: float | None = None
    reranker: str | None = None  # a CrossEncoder's hub name or folder
    rerank_depth: int = RERANK_DEPTH
    # Passages from which search goes through HNSW graphs, and a new segment gets one.
    approximate_from: int = APPROXIMATE_FROM
    qdrant: QdrantSettings | None = None  # the index lives in Qdrant instead of index_dir


class Engine:
    def __init__(self, config: EngineConfig, *, encoder: Encoder | None = None) -> None:
        self.config = config
        self.model_name = canonical_model_name(config.model)
        self.scoring: Scoring = default_scoring(
            self.model_name,
            method=config.fusion,
            lexical_weight=config.lexical_weight,
            min_score=config.min_score,
        )
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._encoder = encoder
        self._reranker: Reranker | None = None
        self._stored: StoredIndex | None = None
        self._unloadable: str | None = None
        self._qdrant_client: Any = None

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

    @property
    def reranker(self) -> Reranker | None:
        """The configured cross-encoder, loaded on first use; None when none is set."""
        if self.config.reranker is None:
            return None
        with self._lock:
            if self._reranker is None:
                self._reranker = Reranker(self.config.reranker, self.config.rerank_depth)
            return self._reranker

    def manifest(self) -> Manifest:
        """The live index's manifest, read without loading the model."""
        if self.config.qdrant is not None:
            from retrieval.qdrant.indexing import read_manifest as read_collection

            return read_collection(self.qdrant_client, self.config.qdrant)
        return read_manifest(self.config.index_dir)

    @property
    def qdrant_client(self) -> Any:
        """The one client of the Qdrant store, shared by searches and indexing."""
        from retrieval.qdrant.connection import connect

        assert self.config.qdrant is not None
        with self._lock:
            if self._qdrant_client is None:
                self._qdrant_client = connect(self.config.qdrant)
            return self._qdrant_client

    def copy_to_qdrant(self) -> IndexReport:
        """Copy the embedded index in index_dir into the Qdrant collection, vectors and all."""
        from retrieval.qdrant.indexing import copy_index

        assert self.config.qdrant is not None
        try:
            embedded = load_index(
                self.config.index_dir,
                model=self.model_name,
                passage_settings=self.config.passages.fingerprint(),
            )
        except IndexMissingError:
            raise CitebotError(
                f"no embedded index in {self.config.index_dir}/ to copy: `citebot index` "
                "fills Qdrant from the documents directly"
            ) from None
        return copy_index(embedded, self.qdrant_client, self.config.qdrant)

    def build_index(
        self, *, rebuild: bool = False, progress: bool = False, allow_empty: bool = False
    ) -> IndexReport:
        """Index the corpus; searches pick up the new generation on their next call."""
        if self.config.qdrant is not None:
            from retrieval.qdrant.indexing import index_corpus as index_into_qdrant

            return index_into_qdrant(
                self.config.corpus,
                self.qdrant_client,
                self.config.qdrant,
                self.encoder,
                self.config.passages,
                rebuild=rebuild,
                progress=progress,
                allow_empty=allow_empty,
            )
        from retrieval.store.indexer import index_corpus  # the readers: only indexing needs them

        check_writable(self.config.index_dir)  # before loading, maybe building, the model
        return index_corpus(
            self.config.corpus,
            self.config.index_dir,
            self.encoder,
            self.config.passages,
            rebuild=rebuild,
            progress=progress,
            allow_empty=allow_empty,
            approximate_from=self.config.approximate_from,
        )

    def searcher(self) -> Searcher:
        """A searcher over the live generation; hold it to finish a question on one index."""
        if self.config.qdrant is not None:
            from retrieval.qdrant.searching import open_index

            collection = open_index(
                self.qdrant_client,
                self.config.qdrant,
                model=self.model_name,
                passage_settings=self.config.passages.fingerprint(),
            )
            index: SearchIndex = collection
            generation = collection.generation
        else:
            stored = self._live()  # before the encoder: a mismatch is told without a model load
            index, generation = stored.index, stored.generation
        return Searcher(index, self.encoder, self.scoring, self.reranker, generation)

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> Answer:
        return self.searcher().search(query, k, filters=filters)

    def more(self, answer: Answer, k: int, filters: Filters | None = None) -> Answer | None:
        """`answer` with up to `k` hits, from the index that gave it; None once a newer
        index serves (its passages and ranks may have changed)."""
        searcher = self.searcher()
        if searcher.generation != answer.generation:
            return None
        if len(answer.hits) >= k:
            return answer
        return searcher.search(answer.query, k, filters=filters)

    def neighbours(self, answer: Answer, passage: Passage) -> list[Passage] | None:
        """The passage and the ones just before and after it in its document, from the
        index that gave `answer`; None once a newer index serves."""
        searcher = self.searcher()
        if searcher.generation != answer.generation:
            return None
        passages = searcher.index.document_passages(passage.doc_id)
        ids = [p.id for p in passages]
        if passage.id not in ids:
            return None
        at = ids.index(passage.id)
        return passages[max(at - 1, 0) : at + 2]

    def _live(self) -> StoredIndex:
        """The loaded index, swapped for a newer generation once one is switched in on disk.

        Whoever wrote it (this process's `build_index`, `citebot watch`, another `citebot
        index`), the swap happens here, in the first search that sees it; searches arriving
        meanwhile keep the index already loaded rather than wait. A new generation that fails
        to load is logged and the one already loaded keeps serving. Segments the two share
        are not opened again, and the old generation is released with its last searcher.
        """
        with self._lock:
            stored = self._stored
        live = None
        try:
            live = live_generation(self.config.index_dir)
            if stored is not None and live in (stored.generation, self._unloadable):
                return stored
            if not self._load_lock.acquire(blocking=stored is None):
                return stored  # another search is loading it
            try:
                with self._lock:
                    stored = self._stored
                if stored is not None and stored.generation == live:
                    return stored
                fresh = load_index(
                    self.config.index_dir,
                    model=self.model_name,
                    passage_settings=self.config.passages.fingerprint(),
                    open_segments={s.name: s for s in stored.index.segments} if stored else None,
                    approximate_from=self.config.approximate_from,
                )
            finally:
                self._load_lock.release()
        except IndexStoreError as exc:
            if stored is None:
                raise
            self._unloadable = live  # tried once; retried when CURRENT moves on
            log.error(
                "still serving %s: the new index cannot be loaded: %s", stored.generation, exc
            )
            return stored
        with self._lock:
            self._stored = fresh
        log.info("serving index %s (%d passages)", fresh.generation, len(fresh.index))
        return fresh
