"""Build or update the index of a corpus folder (or of documents held in memory).

Unchanged files (same size and mtime, or same content) keep the segment rows they have;
the rest are cut, embedded (a passage whose title and text were seen before reuses its
vector, so renames and copies encode nothing) and written as one new segment. The result
is a new generation; the previous one keeps serving until the switch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from retrieval.documents.corpus_files import check_inside, corpus_id
from retrieval.documents.loading import iter_corpus_files, load_document
from retrieval.encoders.base import Encoder
from retrieval.errors import (
    CitebotError,
    CorpusEmptiedError,
    DocumentError,
    IndexMismatchError,
    IndexMissingError,
    IndexStoreError,
    RefusedDocumentError,
)
from retrieval.passages.cutting import PassageSettings
from retrieval.records import Document, SkippedFile
from retrieval.store.ann import APPROXIMATE_FROM
from retrieval.store.changes import FileStamp, FolderListings
from retrieval.store.embedding import embed_documents
from retrieval.store.generations import (
    SEGMENTS,
    DocumentEntry,
    Manifest,
    StoredIndex,
    check_writable,
    load_index,
    now_iso,
    read_manifest,
    save_generation,
    segment_files,
)
from retrieval.store.lock import index_lock
from retrieval.store.merging import merge_segments, segments_to_merge
from retrieval.store.segment import Segment, write_segment

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """What one `index` run did, for the CLI, the bot and the logs."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    failed: list[SkippedFile] = field(default_factory=list)
    passages_total: int = 0
    passages_encoded: int = 0
    passages_reused: int = 0
    seconds: float = 0.0
    rebuild_reason: str | None = None
    generation: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def tallies(self) -> tuple[tuple[str, Sequence[object]], ...]:
        """Each outcome with its files, in the order every face reports them."""
        return (
            ("added", self.added),
            ("updated", self.updated),
            ("removed", self.removed),
            ("unchanged", self.unchanged),
            ("skipped", self.skipped),
            ("failed", self.failed),
        )

    def counts(self) -> str:
        """ "2 added, 0 updated, …": the same words in the terminal and the logs."""
        return ", ".join(f"{len(paths)} {label}" for label, paths in self.tallies())


def _previous(
    root: Path, encoder: Encoder, settings: PassageSettings, rebuild: bool
) -> tuple[StoredIndex | None, str | None]:
    """The index to update (or only to take vectors from), and why it cannot be updated.

    (index, None): update it. (index, reason): passage settings changed, so every file is
    cut again, but vectors of passages whose text is unchanged are reused. (None, reason):
    another model or build of it, a damaged index or an explicit rebuild: encode everything.
    """
    if rebuild:
        return None, "rebuild requested"
    reason = None
    try:
        previous = load_index(root, model=encoder.name, passage_settings=settings.fingerprint())
    except IndexMissingError:
        return None, None
    except IndexMismatchError as exc:
        reason = exc.reason
        try:
            previous = load_index(root, model=encoder.name, passage_settings=None)
        except IndexStoreError:
            return None, reason
    except IndexStoreError as exc:
        return None, exc.reason
    if previous.manifest.encoder_build != encoder.build:
        return None, build_changed(previous.manifest.encoder_build, encoder.build)
    return previous, reason


def build_changed(recorded: str, current: str) -> str:
    """Why vectors of one model are not reused: an upgrade rebuilt its graph or weights."""
    return f"the model's build changed ({recorded or 'unrecorded'}, now {current or 'unnamed'})"


def index_corpus(
    corpus: Path,
    root: Path,
    encoder: Encoder,
    settings: PassageSettings,
    *,
    rebuild: bool = False,
    progress: bool = False,
    allow_empty: bool = False,
    approximate_from: int = APPROXIMATE_FROM,
) -> IndexReport:
    """Bring the index in `root` up to date with the files in `corpus`.

    A run that would remove every indexed document at once (an unmounted share looks like
    an empty folder) raises CorpusEmptiedError unless `allow_empty`; nothing is written.
    A segment written with at least `approximate_from` passages gets an HNSW graph.
    """
    check_corpus(corpus)
    started = time.perf_counter()
    with index_lock(root):
        check_writable(root)
        previous, reason = _previous(root, encoder, settings, rebuild)
        report = IndexReport(rebuild_reason=reason)
        if reason:
            log.warning("rebuilding the whole index: %s", reason)
        old_docs = previous.manifest.documents if previous and not reason else {}
        started_ns = time.time_ns()
        entries, to_embed = plan_files(corpus, old_docs, report, started_ns)
        indexed_before = previous.manifest.documents if previous else _documents_in(root)
        check_not_emptied(corpus, indexed_before, entries, to_embed, allow_empty)
        report.removed = sorted(set(old_docs) - set(entries))
        plan = _Plan(entries, to_embed, started_ns, approximate_from)
        _commit(root, previous, plan, encoder, settings, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def index_documents(
    root: Path,
    documents: Sequence[Document],
    encoder: Encoder,
    settings: PassageSettings,
    *,
    progress: bool = False,
) -> IndexReport:
    """Bring the index in `root` up to date with documents held in memory (an evaluation
    set's corpus): a document is unchanged when its content hash is."""
    started = time.perf_counter()
    with index_lock(root):
        check_writable(root)
        previous, reason = _previous(root, encoder, settings, rebuild=False)
        report = IndexReport(rebuild_reason=reason)
        old_docs = previous.manifest.documents if previous and not reason else {}
        entries: dict[str, DocumentEntry] = {}
        to_embed: list[tuple[Document, FileStamp]] = []
        for document in documents:
            old = old_docs.get(document.doc_id)
            if old and old.content_hash == document.content_hash:
                entries[document.doc_id] = old
                report.unchanged.append(document.doc_id)
            else:
                to_embed.append((document, FileStamp(0, 0, 0)))
                (report.updated if old else report.added).append(document.doc_id)
        report.removed = sorted(set(old_docs) - set(entries))
        plan = _Plan(entries, to_embed, time.time_ns(), APPROXIMATE_FROM)
        _commit(root, previous, plan, encoder, settings, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def check_corpus(corpus: Path) -> None:
    if not corpus.is_dir():
        raise CitebotError(f"corpus folder {corpus}/ does not exist: create it and add documents")


def plan_files(
    corpus: Path, old_docs: dict[str, DocumentEntry], report: IndexReport, started_ns: int
) -> tuple[dict[str, DocumentEntry], list[tuple[Document, FileStamp]]]:
    """Read the corpus against what was indexed: the entries that stay as they are (with
    fresh stamps), and the documents to embed. Records every outcome but removals in
    `report`; whatever store the index lives in plans with this."""
    entries: dict[str, DocumentEntry] = {}
    to_embed: list[tuple[Document, FileStamp]] = []
    listings = FolderListings()
    for path in iter_corpus_files(corpus):
        doc_id = corpus_id(path, corpus)
        old = old_docs.get(doc_id)
        try:
            check_inside(path, corpus)
            stamp = FileStamp.of(path, listings)
            trusted = old is not None and stamp.trusted(old)
            document = None if trusted else load_document(path, corpus)
        except RefusedDocumentError as exc:  # never served again, whatever it held before
            report.skipped.append(SkippedFile(doc_id, str(exc)))
            log.info("refused %s: %s", doc_id, exc)
            continue
        except DocumentError as exc:
            if old is None:
                report.skipped.append(SkippedFile(doc_id, str(exc)))
                log.info("skipped %s: %s", doc_id, exc)
            else:  # keep what was indexed, and leave the stamp so the next run retries
                report.failed.append(SkippedFile(doc_id, str(exc)))
                log.warning("kept the previous version of %s: %s", doc_id, exc)
                entries[doc_id] = old
            continue
        if old and document is None:  # trusted: the stamp is the entry's own
            entries[doc_id] = old
            report.unchanged.append(doc_id)
        elif old and document.content_hash == old.content_hash:
            entries[doc_id] = replace(
                old,
                size=stamp.size,
                mtime_ns=stamp.mtime_ns,
                meta_mtime_ns=stamp.meta_mtime_ns,
                verified_ns=started_ns,
            )
            report.unchanged.append(doc_id)
        else:
            to_embed.append((document, stamp))
            (report.updated if old else report.added).append(doc_id)
    return entries, to_embed


def check_not_emptied(
    corpus: Path,
    indexed_before: dict[str, DocumentEntry],
    entries: dict[str, DocumentEntry],
    to_embed: list[tuple[Document, FileStamp]],
    allow_empty: bool,
) -> None:
    """Raise CorpusEmptiedError when a run would remove every indexed document at once."""
    if indexed_before and not entries and not to_embed and not allow_empty:
        raise CorpusEmptiedError(
            f"every one of the {len(indexed_before)} indexed documents is gone from "
            f"{corpus}/ (an unmounted share or a wrong folder?); the index is unchanged. "
            "To empty it, run `citebot index --allow-empty`",
            len(indexed_before),
        )


def new_entry(
    document: Document,
    stamp: FileStamp,
    segment: str,
    first_row: int,
    passages: int,
    read_at_ns: int,
) -> DocumentEntry:
    return DocumentEntry(
        title=document.title,
        content_hash=document.content_hash,
        size=stamp.size,
        mtime_ns=stamp.mtime_ns,
        meta_mtime_ns=stamp.meta_mtime_ns,
        indexed_at=now_iso(),
        verified_ns=read_at_ns,
        segment=segment if passages else "",
        first_row=first_row,
        passages=passages,
        date=document.date,
        url=document.url,
    )


@dataclass
class _Plan:
    """What a run decided: the entries kept as they are, and the documents to embed."""

    entries: dict[str, DocumentEntry]
    to_embed: list[tuple[Document, FileStamp]]
    read_at_ns: int  # when the run began reading
    approximate_from: int


def _commit(
    root: Path,
    previous: StoredIndex | None,
    plan: _Plan,
    encoder: Encoder,
    settings: PassageSettings,
    report: IndexReport,
    progress: bool,
) -> None:
    """Embed the plan's documents into a new segment, merge segments if due, and switch to
    a new generation of the kept entries plus those, unless nothing changed."""
    entries = plan.entries
    embedded = embed_documents(
        [document for document, _ in plan.to_embed],
        encoder,
        settings,
        reuse_from=previous.index if previous else None,
        progress=progress,
    )
    report.passages_encoded, report.passages_reused = embedded.encoded, embedded.reused
    segment = ""
    if embedded.rows.passages:
        big = len(embedded.rows.passages) >= plan.approximate_from
        segment = write_segment(root, embedded.rows, build_approximate=big)
    first_row = 0
    for (document, stamp), count in zip(plan.to_embed, embedded.counts, strict=True):
        entries[document.doc_id] = new_entry(
            document, stamp, segment, first_row, count, plan.read_at_ns
        )
        first_row += count
    entries = _merged(root, previous, segment, entries, plan.approximate_from)
    report.passages_total = sum(entry.passages for entry in entries.values())
    names = sorted({entry.segment for entry in entries.values() if entry.passages})
    manifest = Manifest(
        model=encoder.name,
        dim=encoder.dim,
        passage_settings=settings.fingerprint(),
        created_at=now_iso(),
        encoder_build=encoder.build,
        documents=entries,
        skipped=tuple(report.skipped),
        failed=tuple(report.failed),
        segments={name: segment_files(root, name) for name in names},
    )
    if previous is None or report.rebuild_reason or _differs(previous.manifest, manifest):
        report.generation = save_generation(root, manifest)
    else:
        report.generation = previous.generation


def _merged(
    root: Path,
    previous: StoredIndex | None,
    new_segment: str,
    entries: dict[str, DocumentEntry],
    approximate_from: int,
) -> dict[str, DocumentEntry]:
    """`entries`, with the segments that are due merged (retrieval/store/merging.py)."""
    segments = {s.name: s for s in previous.index.segments} if previous else {}
    if new_segment:
        segments[new_segment] = Segment(root / SEGMENTS / new_segment)
    names = segments_to_merge(entries, {name: s.rows for name, s in segments.items()})
    if not names:
        return entries
    log.info("merging %d segments", len(names))
    merged, moved = merge_segments(root, segments, names, entries, approximate_from)
    log.info("merged into %s (%d documents)", merged, len(moved))
    return {**entries, **moved}


def _documents_in(root: Path) -> dict[str, DocumentEntry]:
    """What the live index holds, when it is not being updated (a rebuild, another model)."""
    try:
        return read_manifest(root).documents
    except IndexStoreError:
        return {}


def _differs(old: Manifest, new: Manifest) -> bool:
    """True when anything but the creation time changed (an edit, a touched file, a new skip)."""
    return (old.documents, old.skipped, old.failed) != (new.documents, new.skipped, new.failed)
