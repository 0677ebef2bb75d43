"""Build or update the index of a corpus folder.

Unchanged files (same size and mtime, or same content) keep their passages and vectors;
a passage whose title and text were seen before reuses its vector, so renames and copies
encode nothing. Whatever happens, the result is written as a new generation and the
previous one keeps serving until the switch.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from retrieval.documents import iter_corpus_files, load_document
from retrieval.encoders import Encoder, encode_in_batches
from retrieval.errors import CitebotError, DocumentError, IndexMissingError, IndexStoreError
from retrieval.index import PassageIndex
from retrieval.lock import index_lock
from retrieval.passages import PassageSettings, split_passages
from retrieval.records import Document, Passage, SkippedFile, Source
from retrieval.store import DocumentEntry, Manifest, StoredIndex, load_index, now_iso, save_index

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """What one `index` run did, for the CLI, the bot and the logs."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    passages_total: int = 0
    passages_encoded: int = 0
    passages_reused: int = 0
    seconds: float = 0.0
    rebuild_reason: str | None = None
    generation: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def embedding_text(document_title: str, passage_text: str) -> str:
    """The title travels with every passage: a bare list item often does not name its subject."""
    return f"{document_title}\n{passage_text}"


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


@dataclass
class _Pending:
    """Documents whose passages still need vectors, gathered so encoding runs in big batches."""

    sources: list[Source] = field(default_factory=list)
    passages: list[list[Passage]] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    missing: list[tuple[int, int, str]] = field(default_factory=list)  # (doc, row, text)


def embed_documents(
    documents: Sequence[Document],
    encoder: Encoder,
    settings: PassageSettings,
    *,
    into: PassageIndex,
    reuse_from: PassageIndex | None = None,
    progress: bool = False,
) -> tuple[int, int]:
    """Cut, encode and add documents to `into`; returns (passages encoded, passages reused)."""
    known: dict[bytes, int] = {}
    if reuse_from is not None:
        for passage in reuse_from.passages.values():
            title = reuse_from.sources[passage.doc_id].title
            known[_text_key(embedding_text(title, passage.text))] = passage.id
    pending = _Pending()
    reused = 0
    for number, document in enumerate(documents):
        passages = split_passages(document, encoder.count_tokens, settings)
        vectors = np.zeros((len(passages), encoder.dim), dtype=np.float32)
        for row, passage in enumerate(passages):
            text = embedding_text(document.title, passage.text)
            old_id = known.get(_text_key(text))
            if old_id is not None and reuse_from is not None:
                vectors[row] = reuse_from.vectors([old_id])[0]
                reused += 1
            else:
                pending.missing.append((number, row, text))
        pending.sources.append(
            Source(document.doc_id, document.path, document.title, document.date, document.url)
        )
        pending.passages.append(passages)
        pending.vectors.append(vectors)
    fresh = encode_in_batches(
        encoder.encode_passages,
        [text for _, _, text in pending.missing],
        dim=encoder.dim,
        progress=progress,
    )
    for (number, row, _), vector in zip(pending.missing, fresh, strict=True):
        pending.vectors[number][row] = vector
    for source, passages, vectors in zip(
        pending.sources, pending.passages, pending.vectors, strict=True
    ):
        into.add_document(source, passages, vectors)
    return len(pending.missing), reused


def _previous(
    root: Path, encoder: Encoder, settings: PassageSettings, rebuild: bool
) -> tuple[StoredIndex | None, str | None]:
    """The index to update, or None with the reason a full rebuild is needed."""
    if rebuild:
        return None, "rebuild requested"
    try:
        return load_index(root, model=encoder.name, passage_settings=settings.fingerprint()), None
    except IndexMissingError:
        return None, None
    except IndexStoreError as exc:
        return None, exc.reason


def index_corpus(
    corpus: Path,
    root: Path,
    encoder: Encoder,
    settings: PassageSettings,
    *,
    rebuild: bool = False,
    progress: bool = False,
) -> IndexReport:
    """Bring the index in `root` up to date with the files in `corpus`."""
    if not corpus.is_dir():
        raise CitebotError(f"corpus folder {corpus}/ does not exist: create it and add documents")
    started = time.perf_counter()
    with index_lock(root):
        previous, reason = _previous(root, encoder, settings, rebuild)
        report = IndexReport(rebuild_reason=reason)
        if reason:
            log.warning("rebuilding the whole index: %s", reason)
        old_index = previous.index if previous else None
        old_docs = previous.manifest.documents if previous else {}
        index = PassageIndex(encoder.dim)
        entries: dict[str, DocumentEntry] = {}
        to_embed: list[Document] = []
        for path in iter_corpus_files(corpus):
            doc_id = path.relative_to(corpus).as_posix()
            old = old_docs.get(doc_id)
            try:
                stat = path.stat()
                same_file = old and (old.size, old.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
                document = None if same_file else load_document(path, corpus)
            except (DocumentError, OSError) as exc:
                report.skipped.append(SkippedFile(doc_id, str(exc)))
                log.warning("skipped %s: %s", doc_id, exc)
                continue
            if (
                old
                and old_index
                and (document is None or document.content_hash == old.content_hash)
            ):
                _carry_over(doc_id, old_index, index)
                entries[doc_id] = replace(old, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
                report.unchanged.append(doc_id)
                continue
            to_embed.append(document)
            (report.updated if old else report.added).append(doc_id)
            entries[doc_id] = DocumentEntry(
                title=document.title,
                content_hash=document.content_hash,
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                passages=0,
                indexed_at=now_iso(),
                date=document.date,
                url=document.url,
            )
        report.passages_encoded, report.passages_reused = embed_documents(
            to_embed, encoder, settings, into=index, reuse_from=old_index, progress=progress
        )
        for document in to_embed:
            entry = entries[document.doc_id]
            entries[document.doc_id] = replace(
                entry, passages=len(index.document_passages(document.doc_id))
            )
        report.removed = sorted(set(old_docs) - set(entries))
        report.passages_total = len(index)
        manifest = Manifest(
            model=encoder.name,
            dim=encoder.dim,
            passage_settings=settings.fingerprint(),
            created_at=now_iso(),
            documents=entries,
            skipped=tuple(report.skipped),
        )
        if previous is None or report.changed or manifest_differs(previous.manifest, manifest):
            report.generation = save_index(root, manifest, index)
        else:
            report.generation = previous.generation
    report.seconds = time.perf_counter() - started
    return report


def manifest_differs(old: Manifest, new: Manifest) -> bool:
    """True when anything but the creation time changed (a touched file, a new skip)."""
    return old.documents != new.documents or old.skipped != new.skipped


def _carry_over(doc_id: str, old_index: PassageIndex, index: PassageIndex) -> None:
    passages = old_index.document_passages(doc_id)
    index.add_document(
        old_index.sources[doc_id], passages, old_index.vectors(p.id for p in passages)
    )


def changes_since(manifest: Manifest, corpus: Path) -> list[str]:
    """Files added, changed or removed since the index was built, judged by size and mtime."""
    known = manifest.documents
    skipped = {s.path for s in manifest.skipped}
    seen: set[str] = set()
    changes = []
    for path in iter_corpus_files(corpus):
        doc_id = path.relative_to(corpus).as_posix()
        seen.add(doc_id)
        entry = known.get(doc_id)
        try:
            stat = path.stat()
        except OSError:
            continue
        if entry is None and doc_id not in skipped:
            changes.append(f"new      {doc_id}")
        elif entry and (entry.size, entry.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            changes.append(f"changed  {doc_id}")
    changes += [f"removed  {doc_id}" for doc_id in sorted(set(known) - seen)]
    return changes
