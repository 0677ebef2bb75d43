"""`citebot index` into Qdrant, and an embedded index copied into Qdrant as it is.

The corpus is planned exactly as for the embedded store (`plan_files`): a file whose stamp
or content is unchanged keeps its points. Changed documents are cut, embedded and written
in batches (retrieval/qdrant/writing.py); removed ones are deleted. A rebuild (asked for,
or another model or passage settings) and a copy fill a new collection and then move the
alias to it. Every run holds the collection's write lease (retrieval/qdrant/lease.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from tqdm import tqdm

from retrieval.encoders.base import Encoder
from retrieval.passages.cutting import PassageSettings
from retrieval.qdrant.collection import (
    check_meta,
    field_is,
    leftovers,
    live_collection,
    new_collection,
    read_meta,
    scroll_all,
    switch_alias,
)
from retrieval.qdrant.connection import QdrantSettings, qdrant_errors
from retrieval.qdrant.layout import (
    DENSE,
    DOCUMENT,
    FORMAT,
    KIND,
    SENTENCES,
    entry_of,
    hex_key,
    skipped_of,
)
from retrieval.qdrant.lease import Lease, leased
from retrieval.qdrant.writing import (
    POINTS_PER_REQUEST,
    CollectionWriter,
    DocumentRows,
)
from retrieval.records import Document, titled_text
from retrieval.store.embedding import Embedded, embed_documents
from retrieval.store.generations import DocumentEntry, Manifest, StoredIndex
from retrieval.store.indexer import (
    IndexReport,
    build_changed,
    check_corpus,
    check_not_emptied,
    new_entry,
    plan_files,
)

log = logging.getLogger(__name__)

DOCUMENTS_PER_BATCH = 64  # embedded and written together
_NO_SENTENCES = np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class _Target:
    """Where a run writes: the live collection, or a new one the alias moves to at the end."""

    collection: str
    lease: Lease
    replaces: str | None = None  # the live collection a new one replaces


def index_corpus(
    corpus: Path,
    client: QdrantClient,
    settings: QdrantSettings,
    encoder: Encoder,
    passage_settings: PassageSettings,
    *,
    rebuild: bool = False,
    progress: bool = False,
    allow_empty: bool = False,
) -> IndexReport:
    """Bring the collection up to date with the files in `corpus` (see the module docstring)."""
    check_corpus(corpus)
    started = time.perf_counter()
    with qdrant_errors(settings), _live_lease(client, settings, encoder.dim) as (live, lease):
        meta = read_meta(client, live) or {}
        built = bool(meta.get("generation"))
        reason = "rebuild requested" if rebuild else _mismatch(meta, encoder, passage_settings)
        report = IndexReport(rebuild_reason=reason if built else None)
        if report.rebuild_reason:
            log.warning("rebuilding into a new collection: %s", reason)
        indexed = read_documents(client, live) if built else {}
        kept = {} if reason else {d: e for d, (e, complete) in indexed.items() if complete}
        started_ns = time.time_ns()
        entries, to_embed = plan_files(corpus, kept, report, started_ns)
        before = {d: e for d, (e, _) in indexed.items()}
        check_not_emptied(corpus, before, entries, to_embed, allow_empty)
        report.removed = sorted(set(kept) - set(entries))
        same_vectors = (
            built
            and not rebuild
            and meta.get("model") == encoder.name
            and meta.get("encoder_build", "") == encoder.build
        )
        reuse = CollectionVectors(client, live) if same_vectors else None
        average = None if reason else meta.get("average_length")  # BM25's length norm
        with _target(client, settings, encoder.dim, live, lease, fresh=bool(reason)) as target:
            writer = CollectionWriter(client, target.collection, average)
            with tqdm(total=len(to_embed), unit="file", disable=not progress, leave=False) as bar:
                for batch in _batches(to_embed, DOCUMENTS_PER_BATCH):
                    documents = [document for document, _ in batch]
                    embedded = embed_documents(
                        documents, encoder, passage_settings, reuse_from=reuse
                    )
                    report.passages_encoded += embedded.encoded
                    report.passages_reused += embedded.reused
                    rows, first = [], 0
                    for (document, stamp), count in zip(batch, embedded.counts, strict=True):
                        entry = new_entry(document, stamp, "", 0, count, started_ns)
                        entries[document.doc_id] = entry
                        rows.append(_document_rows(document, entry, embedded, first))
                        first += count
                    writer.write(rows)
                    bar.update(len(batch))
            if target.replaces is None:
                writer.remove(sorted(set(indexed) - set(entries)))
                writer.restamp({d: e for d, e in entries.items() if d in kept and kept[d] != e})
            report.passages_total = sum(e.passages for e in entries.values())
            _settle(client, target.collection)
            report.generation = writer.finish(
                model=encoder.name,
                encoder_build=encoder.build,
                dim=encoder.dim,
                passage_settings=passage_settings.fingerprint(),
                documents=len(entries),
                passages=report.passages_total,
                skipped=report.skipped,
                failed=report.failed,
                generation=None if report.changed or reason else meta.get("generation"),
            )
            _switch(client, settings.collection, target)
    report.seconds = time.perf_counter() - started
    return report


def copy_index(stored: StoredIndex, client: QdrantClient, settings: QdrantSettings) -> IndexReport:
    """Fill a new collection from an embedded index, vectors and all, and move the alias to
    it: nothing is encoded. The documents keep their stamps, so a later `citebot index`
    against the collection reads only what changed since the embedded index was built."""
    started = time.perf_counter()
    manifest, index = stored.manifest, stored.index
    report = IndexReport(skipped=list(manifest.skipped), failed=list(manifest.failed))
    with (
        qdrant_errors(settings),
        _live_lease(client, settings, manifest.dim) as (live, lease),
        _target(client, settings, manifest.dim, live, lease, fresh=True) as target,
    ):
        # The embedded store's length norm: the same mean of analysed terms, already counted.
        writer = CollectionWriter(client, target.collection, index.lexical.average_length)
        doc_ids = list(manifest.documents)
        for begin in range(0, len(doc_ids), DOCUMENTS_PER_BATCH):
            rows = []
            for doc_id in doc_ids[begin : begin + DOCUMENTS_PER_BATCH]:
                entry = manifest.documents[doc_id]
                passages = index.document_passages(doc_id)
                rows.append(
                    DocumentRows(
                        doc_id,
                        entry,
                        passages,
                        [titled_text(entry.title, p.text) for p in passages],
                        index.vectors(p.id for p in passages),
                        index.stored_sentences(passages),
                    )
                )
            writer.write(rows)
        report.added = doc_ids
        report.passages_total = len(index)
        _settle(client, target.collection)
        report.generation = writer.finish(
            model=manifest.model,
            encoder_build=manifest.encoder_build,
            dim=manifest.dim,
            passage_settings=manifest.passage_settings,
            documents=len(doc_ids),
            passages=len(index),
            skipped=manifest.skipped,
            failed=manifest.failed,
            generation=None,
        )
        _switch(client, settings.collection, target)
    report.seconds = time.perf_counter() - started
    return report


class CollectionVectors:
    """Vectors already in a collection, dense and per sentence, by text key (retrieval/store/
    embedding.py): renamed and copied files, and the unchanged passages of an edited one,
    encode nothing."""

    def __init__(self, client: QdrantClient, collection: str) -> None:
        self.client = client
        self.collection = collection

    def known_vectors(self, keys: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        positions: dict[str, list[int]] = {}
        for at, key in enumerate(keys.tolist()):
            positions.setdefault(hex_key(key), []).append(at)
        wanted = list(positions)
        for begin in range(0, len(wanted), POINTS_PER_REQUEST):
            chunk = wanted[begin : begin + POINTS_PER_REQUEST]
            holders = models.Filter(
                must=[models.FieldCondition(key="key", match=models.MatchAny(any=chunk))]
            )
            points = scroll_all(
                self.client,
                self.collection,
                holders,
                with_payload=["key"],
                with_vectors=[DENSE, SENTENCES],
            )
            for point in points:
                key = str((point.payload or {}).get("key"))
                vectors = point.vector if isinstance(point.vector, dict) else {}
                if vectors.get(DENSE) is None:
                    continue
                dense = np.asarray(vectors[DENSE], dtype=np.float32)
                sentences = np.asarray(vectors.get(SENTENCES, _NO_SENTENCES), np.float32)
                for at in positions.pop(key, ()):
                    yield at, dense, sentences


def read_documents(client: QdrantClient, collection: str) -> dict[str, tuple[DocumentEntry, bool]]:
    """Every document point: its entry, and whether its passages were written completely."""
    documents = models.Filter(must=[field_is(KIND, DOCUMENT)])
    found: dict[str, tuple[DocumentEntry, bool]] = {}
    for point in scroll_all(client, collection, documents, with_payload=True):
        payload = point.payload or {}
        found[payload["doc_id"]] = (entry_of(payload), bool(payload.get("complete")))
    return found


def read_manifest(client: QdrantClient, settings: QdrantSettings) -> Manifest:
    """What the collection holds, in the embedded manifest's shape (for `citebot status`)."""
    with qdrant_errors(settings):
        live = live_collection(client, settings.collection)
        meta = check_meta(
            read_meta(client, live) if live else None,
            settings.where(),
            model=None,
            passage_settings=None,
        )
        documents = read_documents(client, live) if live else {}
    return Manifest(
        model=meta["model"],
        dim=meta["dim"],
        passage_settings=meta["passage_settings"],
        created_at=meta["created_at"],
        encoder_build=meta.get("encoder_build", ""),
        documents={d: e for d, (e, complete) in documents.items() if complete},
        skipped=skipped_of(meta["skipped"]),
        failed=skipped_of(meta["failed"]),
    )


@contextmanager
def _live_lease(
    client: QdrantClient, settings: QdrantSettings, dim: int
) -> Iterator[tuple[str, Lease]]:
    """The live collection (created with the alias before the first index) and its lease;
    a killed rebuild's leftover collections are dropped once the lease is held."""
    live = live_collection(client, settings.collection)
    if live is None:
        live = new_collection(client, settings, dim)
        switch_alias(client, settings.collection, live)
    with leased(client, live) as lease:
        for name in leftovers(client, settings.collection):
            log.info("dropping %s, left by an interrupted rebuild", name)
            client.delete_collection(name)
        yield live, lease


def _settle(client: QdrantClient, collection: str) -> None:
    """Let the store index what a run wrote. A server optimises in the background; an Edge
    shard (retrieval/qdrant/edge.py) does it here."""
    optimize = getattr(client, "optimize_all", None)
    if optimize is not None:
        optimize(collection)


@contextmanager
def _target(
    client: QdrantClient,
    settings: QdrantSettings,
    dim: int,
    live: str,
    lease: Lease,
    *,
    fresh: bool,
) -> Iterator[_Target]:
    """The collection a run writes to: the live one, or with `fresh` a new one holding the
    same lease until the run ends (a failed run leaves it for the next run to drop)."""
    if not fresh:
        yield _Target(live, lease)
        return
    collection = new_collection(client, settings, dim)
    held = lease.held_in(collection)
    try:
        yield _Target(collection, held, replaces=live)
    finally:
        held.release()


def _switch(client: QdrantClient, alias: str, target: _Target) -> None:
    """For a new collection: move the alias to it, then drop the one it replaces."""
    if target.replaces is None:
        return
    switch_alias(client, alias, target.collection)
    client.delete_collection(target.replaces)


def _mismatch(meta: dict[str, Any], encoder: Encoder, settings: PassageSettings) -> str | None:
    """Why the collection cannot be updated in place by this encoder; None if it can."""
    if not meta.get("generation"):
        return None
    if meta.get("format") != FORMAT:
        return f"the collection has another layout ({meta.get('format')})"
    if meta["model"] != encoder.name:
        return f"the collection was built with model {meta['model']}, now {encoder.name}"
    if meta.get("encoder_build", "") != encoder.build:
        return build_changed(meta.get("encoder_build", ""), encoder.build)
    if meta["passage_settings"] != settings.fingerprint():
        return "the passage settings changed"
    return None


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


def _document_rows(
    document: Document, entry: DocumentEntry, embedded: Embedded, first: int
) -> DocumentRows:
    end = first + entry.passages
    rows = embedded.rows
    return DocumentRows(
        document.doc_id,
        entry,
        rows.passages[first:end],
        rows.texts[first:end],
        rows.vectors[first:end],
        rows.sentences[first:end],
    )
