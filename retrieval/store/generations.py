"""The index folder on disk: segments written once, and generations that name them.

    embeddings/
      CURRENT                  name of the live generation (replaced with os.replace)
      gen-<ns>/manifest.json   format version, model, dimension, passage settings, and the
                               documents, each with the segment rows holding its passages
      segments/seg-<ns>/       passages, vectors and term counts (retrieval/store/segment.py)

A reindex writes one segment for what it encoded and a new manifest; unchanged documents
keep pointing at the rows they had, so the work follows the change, not the corpus. The
manifest is written under a temporary name, renamed into place, and only then named in
CURRENT, so a reader sees the old index or the new one, never half of one. It records the
size of every segment file, so damage is found without loading anything. Clean-up deletes
only folders of exactly the shape this module writes, and segments no kept generation names.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from retrieval.errors import IndexMismatchError, IndexMissingError, IndexStoreError
from retrieval.records import SkippedFile, Source
from retrieval.store.ann import APPROXIMATE_FROM
from retrieval.store.index import DocumentRows, PassageIndex
from retrieval.store.segment import IDS, SEGMENTS, Segment, fsync, recorded_sizes, staged

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 1: one FAISS file and one JSON-lines file of passages per generation
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
GENERATIONS_KEPT = 2
_GENERATION = re.compile(r"gen-(\d{19})")
_STAGING = re.compile(r"\.gen-\d{19}\.tmp")
_SEGMENT = re.compile(r"seg-\d{19}")
_SEGMENT_STAGING = re.compile(r"\.seg-\d{19}\.tmp")
_WRITE_ADVICE = "make the folder writable or choose another with --index"


@dataclass(frozen=True)
class DocumentEntry:
    """What the manifest remembers of one indexed file."""

    title: str
    content_hash: str
    size: int
    mtime_ns: int
    indexed_at: str
    verified_ns: int  # when the run that last read the content began (changes.FileStamp)
    segment: str  # its passages are `passages` rows of this segment from `first_row`
    first_row: int
    passages: int
    date: str | None = None
    url: str | None = None
    meta_mtime_ns: int = 0  # the sidecar's, 0 without one

    @property
    def rows(self) -> DocumentRows:
        return DocumentRows(self.segment, self.first_row, self.passages)


@dataclass(frozen=True)
class Manifest:
    model: str
    dim: int
    passage_settings: str
    created_at: str
    documents: dict[str, DocumentEntry] = field(default_factory=dict)
    skipped: tuple[SkippedFile, ...] = ()
    # Files indexed before that failed to read this time: their previous passages stay.
    failed: tuple[SkippedFile, ...] = ()
    encoder_build: str = ""  # the encoder's `build` that made the vectors ("" before it was kept)
    format_version: int = FORMAT_VERSION
    # The segments the documents' rows are in: name → size in bytes of each of its files.
    segments: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def passage_count(self) -> int:
        return sum(entry.passages for entry in self.documents.values())

    def to_json(self) -> str:
        """Compact JSON: the C encoder, which `indent` and `asdict` would both leave for
        Python code (a manifest of 100,000 files took seconds)."""
        data = {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "documents": {doc_id: vars(entry) for doc_id, entry in self.documents.items()},
            "skipped": [vars(skipped) for skipped in self.skipped],
            "failed": [vars(failed) for failed in self.failed],
            "counts": {
                "documents": len(self.documents),
                "passages": self.passage_count,
                "skipped": len(self.skipped),
                "failed": len(self.failed),
            },
        }
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Raises ValueError for anything but a manifest this module wrote."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("documents"), dict):
            raise ValueError("the manifest has the wrong shape")
        data.pop("counts", None)
        try:
            data["documents"] = {
                path: DocumentEntry(**entry) for path, entry in data["documents"].items()
            }
            data["skipped"] = tuple(SkippedFile(**s) for s in data["skipped"])
            data["failed"] = tuple(SkippedFile(**s) for s in data["failed"])
            manifest = cls(**data)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"the manifest has the wrong shape ({exc})") from None
        if not isinstance(manifest.dim, int) or not isinstance(manifest.segments, dict):
            raise ValueError("the manifest has the wrong shape")
        documents = manifest.documents.values()
        if any(e.passages and e.segment not in manifest.segments for e in documents):
            raise ValueError("the manifest names a segment it does not list")
        return manifest

    def source(self, doc_id: str) -> Source:
        entry = self.documents[doc_id]
        return Source(doc_id, doc_id, entry.title, entry.date, entry.url)


@dataclass(frozen=True)
class StoredIndex:
    manifest: Manifest
    index: PassageIndex
    generation: str


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _live_generation(root: Path) -> Path:
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexMissingError(f"no index in {root}/ yet", "run `citebot index`") from None
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"cannot read the index in {root}/ ({exc})") from exc
    if not _GENERATION.fullmatch(name):
        raise IndexStoreError(f"the index in {root}/ is damaged ({CURRENT} names {name[:40]!r})")
    return root / name


def _manifest_at(root: Path, generation: Path) -> Manifest:
    try:
        text = (generation / MANIFEST).read_text(encoding="utf-8")
        version = json.loads(text).get("format_version") if text.startswith("{") else None
        if version is not None and version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"the index in {root}/ has format {version}, this citebot reads {FORMAT_VERSION}",
                "run `citebot index` to rebuild it",
            )
        return Manifest.from_json(text)
    except (OSError, ValueError) as exc:
        raise IndexStoreError(f"the index in {root}/ is damaged ({exc})") from exc


def live_generation(root: Path) -> str:
    """Name of the generation CURRENT points to: one small read, cheap enough per question."""
    return _live_generation(root).name


def read_manifest(root: Path) -> Manifest:
    """The live generation's manifest, without loading vectors (for `status`)."""
    return _manifest_at(root, _live_generation(root))


def damage(root: Path) -> list[str]:
    """What is wrong with the live generation's segments, judged against its manifest.

    Sizes and row counts only: cheap enough for `status`, and it catches truncated,
    missing and swapped files. Raises IndexStoreError when even the manifest is unreadable.
    """
    manifest = _manifest_at(root, _live_generation(root))
    problems = []
    for name, files in sorted(manifest.segments.items()):
        folder = root / SEGMENTS / name
        for file, recorded in sorted(files.items()):
            try:
                size = (folder / file).stat().st_size
            except OSError as exc:
                problems.append(f"{name}/{file} is missing ({exc.strerror})")
                continue
            if size != recorded:
                problems.append(
                    f"{name}/{file} is {size:,} bytes, the manifest records {recorded:,}"
                )
    if not problems:
        for name in manifest.segments:
            rows = len(np.load(root / SEGMENTS / name / IDS, mmap_mode="r"))
            needed = max(
                (
                    e.first_row + e.passages
                    for e in manifest.documents.values()
                    if e.segment == name
                ),
                default=0,
            )
            if rows < needed:
                problems.append(f"{name} holds {rows:,} passages, the manifest needs {needed:,}")
    return problems


def check_compatible(
    manifest: Manifest, root: Path, model: str, passage_settings: str | None
) -> None:
    """Refuse another model, or other passage settings unless `passage_settings` is None."""
    if manifest.model != model:
        raise IndexMismatchError(
            f"the index in {root}/ was built with model {manifest.model!r} "
            f"but {model!r} is configured",
            f"run `citebot index --rebuild` (or set CITEBOT_MODEL={manifest.model})",
        )
    if passage_settings is not None and manifest.passage_settings != passage_settings:
        raise IndexMismatchError(
            f"the index in {root}/ was cut into passages with other settings "
            f"({manifest.passage_settings}, now {passage_settings})"
        )


def load_index(
    root: Path,
    *,
    model: str,
    passage_settings: str | None,
    open_segments: Mapping[str, Segment] | None = None,
    approximate_from: int = APPROXIMATE_FROM,
) -> StoredIndex:
    """Open the live generation, refusing one built with another model or passage settings.

    `passage_settings=None` accepts any: the indexer reuses vectors across a settings change.
    Segments already open in `open_segments` (the generation served until now) are shared,
    so a switch opens only the new ones. Search goes through the segments' HNSW graphs once
    the index holds `approximate_from` passages.
    """
    generation = _live_generation(root)
    manifest = _manifest_at(root, generation)
    check_compatible(manifest, root, model, passage_settings)
    index = open_generation(root, manifest, open_segments, approximate_from)
    return StoredIndex(manifest, index, generation.name)


def open_generation(
    root: Path,
    manifest: Manifest,
    open_segments: Mapping[str, Segment] | None = None,
    approximate_from: int = APPROXIMATE_FROM,
) -> PassageIndex:
    """The index a manifest describes. Raises IndexStoreError when a segment is damaged."""
    already = open_segments or {}
    segments = []
    try:
        for name in manifest.segments:
            segment = already.get(name) or Segment(root / SEGMENTS / name)
            if segment.vectors.shape[1] != manifest.dim:
                raise ValueError(f"segment {name} has vectors of another dimension")
            segments.append(segment)
        return PassageIndex(
            manifest.dim,
            segments,
            {doc_id: entry.rows for doc_id, entry in manifest.documents.items()},
            {doc_id: manifest.source(doc_id) for doc_id in manifest.documents},
            approximate=manifest.passage_count >= approximate_from,
        )
    except (OSError, RuntimeError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise IndexStoreError(f"the index in {root}/ is damaged ({exc})") from exc


def check_writable(root: Path) -> None:
    """Fail before hours of encoding, not after, when the index folder cannot be written."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".write-test-", dir=root)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as exc:
        raise IndexStoreError(
            f"cannot write to the index folder {root}/ ({exc.strerror})", _WRITE_ADVICE
        ) from exc


def save_generation(root: Path, manifest: Manifest) -> str:
    """Write a manifest as a new generation and make it the live one; returns its name.

    Its segments must be written already. Any failure (a full disk, a folder turned
    read-only) leaves the previous generation live.
    """
    try:
        return _write_generation(root, manifest)
    except OSError as exc:
        raise IndexStoreError(
            f"could not write the new index in {root}/ ({exc.strerror or exc}); "
            "the previous one is still served",
            _WRITE_ADVICE,
        ) from exc


def segment_files(root: Path, name: str) -> dict[str, int]:
    """The sizes of a written segment's files, for the manifest."""
    return recorded_sizes(root / SEGMENTS / name)


def _write_generation(root: Path, manifest: Manifest) -> str:
    name = f"gen-{time.time_ns()}"
    with staged(root, name) as staging:
        (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    pointer = root / f".{CURRENT}.tmp"
    pointer.write_text(name + "\n", encoding="utf-8")
    fsync(pointer)
    os.replace(pointer, root / CURRENT)
    fsync(root)
    prune(root, keep=name, keep_segments=manifest.segments)
    return name


def prune(root: Path, keep: str, keep_segments: Iterable[str]) -> None:
    """Drop old generations, leftovers of interrupted writes, and segments no kept
    generation names; keep the newest few generations.

    Only folders named as this module and retrieval/store/segment.py name them are touched,
    oldest first by their timestamp; a user's own `gen-2021-photos` is never deleted. Call
    it holding the index lock: a segment being written has no generation yet.
    """
    older = sorted(
        (int(match.group(1)), path)
        for path in _own_folders(root)
        if (match := _GENERATION.fullmatch(path.name)) and path.name != keep
    )
    cut = max(0, len(older) - (GENERATIONS_KEPT - 1))
    stale = [path for _, path in older[:cut]]
    stale += [path for path in _own_folders(root) if _STAGING.fullmatch(path.name)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    named = set(keep_segments)
    for _, generation in older[cut:]:
        try:
            named |= _segments_named(generation)
        except (OSError, ValueError, TypeError, KeyError):
            return  # cannot tell what it needs: delete no segment
    folder = root / SEGMENTS
    if folder.is_dir():
        for path in _own_folders(folder):
            if _SEGMENT_STAGING.fullmatch(path.name) or (
                _SEGMENT.fullmatch(path.name) and path.name not in named
            ):
                shutil.rmtree(path, ignore_errors=True)


def _segments_named(generation: Path) -> set[str]:
    """The segments a generation's manifest lists, read without building the manifest:
    half the cost of pruning after a one-file reindex of 10,000 files."""
    segments = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))["segments"]
    if not isinstance(segments, dict):
        raise ValueError("the manifest has the wrong shape")
    return set(segments)


def _own_folders(root: Path) -> list[Path]:
    return [path for path in root.iterdir() if path.is_dir() and not path.is_symlink()]
