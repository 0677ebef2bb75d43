"""The index folder on disk: generations of plain files, switched in atomically.

    embeddings/
      CURRENT              name of the live generation (replaced with os.replace)
      gen-<ns>/manifest.json   format version, model, dimension, passage settings, documents
      gen-<ns>/index.faiss     the vectors, ids = passage ids
      gen-<ns>/passages.jsonl  one passage a line

A generation is written under a temporary name, renamed into place, and only then named
in CURRENT, so a reader sees the old index or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retrieval.errors import IndexMismatchError, IndexMissingError, IndexStoreError
from retrieval.index import PassageIndex
from retrieval.records import Passage, SkippedFile, Source

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
VECTORS = "index.faiss"
PASSAGES = "passages.jsonl"
GENERATIONS_KEPT = 2


@dataclass(frozen=True)
class DocumentEntry:
    """What the manifest remembers of one indexed file."""

    title: str
    content_hash: str
    size: int
    mtime_ns: int
    passage_ids: tuple[int, ...]
    indexed_at: str
    verified_ns: int  # when the run that last read the content began (changes.FileStamp)
    date: str | None = None
    url: str | None = None
    meta_mtime_ns: int = 0  # the sidecar's, 0 without one

    @property
    def passages(self) -> int:
        return len(self.passage_ids)


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
    format_version: int = FORMAT_VERSION

    @property
    def passage_count(self) -> int:
        return sum(len(entry.passage_ids) for entry in self.documents.values())

    def to_json(self) -> str:
        data = asdict(self)
        data["counts"] = {
            "documents": len(self.documents),
            "passages": self.passage_count,
            "skipped": len(self.skipped),
            "failed": len(self.failed),
        }
        return json.dumps(data, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data.pop("counts", None)
        data["documents"] = {
            path: DocumentEntry(**{**entry, "passage_ids": tuple(entry["passage_ids"])})
            for path, entry in data["documents"].items()
        }
        data["skipped"] = tuple(SkippedFile(**s) for s in data["skipped"])
        data["failed"] = tuple(SkippedFile(**s) for s in data["failed"])
        return cls(**data)

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
    except OSError as exc:
        raise IndexStoreError(f"cannot read the index in {root}/ ({exc})") from exc
    return root / name


def _manifest_at(root: Path, generation: Path) -> Manifest:
    try:
        manifest = Manifest.from_json((generation / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise IndexStoreError(f"the index in {root}/ is damaged ({exc})") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index in {root}/ has format {manifest.format_version}, "
            f"this citebot reads {FORMAT_VERSION}"
        )
    return manifest


def live_generation(root: Path) -> str:
    """Name of the generation CURRENT points to: one small read, cheap enough per question."""
    return _live_generation(root).name


def read_manifest(root: Path) -> Manifest:
    """The live generation's manifest, without loading vectors (for `status`)."""
    return _manifest_at(root, _live_generation(root))


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


def load_index(root: Path, *, model: str, passage_settings: str | None) -> StoredIndex:
    """Load the live generation, refusing one built with another model or passage settings.

    `passage_settings=None` accepts any: the indexer reuses vectors across a settings change.
    """
    import faiss

    generation = _live_generation(root)
    manifest = _manifest_at(root, generation)
    check_compatible(manifest, root, model, passage_settings)
    try:
        faiss_index = faiss.read_index(str(generation / VECTORS))
        with open(generation / PASSAGES, encoding="utf-8") as lines:
            passages = [Passage(**json.loads(line)) for line in lines]
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise IndexStoreError(f"the index in {root}/ is damaged ({exc})") from exc
    if faiss_index.d != manifest.dim or faiss_index.ntotal != len(passages):
        raise IndexStoreError(
            f"the index in {root}/ is inconsistent "
            f"({faiss_index.ntotal} vectors, {len(passages)} passages)"
        )
    index = PassageIndex.restore(
        manifest.dim, faiss_index, [manifest.source(d) for d in manifest.documents], passages
    )
    return StoredIndex(manifest, index, generation.name)


def save_index(root: Path, manifest: Manifest, index: PassageIndex) -> str:
    """Write a new generation and make it the live one; returns its name."""
    import faiss

    root.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.time_ns()}"
    staging = root / f".{name}.tmp"
    staging.mkdir()
    try:
        faiss.write_index(index.faiss_index, str(staging / VECTORS))
        with open(staging / PASSAGES, "w", encoding="utf-8") as out:
            for passage in index.passages.values():
                out.write(json.dumps(asdict(passage), ensure_ascii=False) + "\n")
        (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        for path in staging.iterdir():
            _fsync(path)
        os.rename(staging, root / name)
        pointer = root / f".{CURRENT}.tmp"
        pointer.write_text(name + "\n", encoding="utf-8")
        _fsync(pointer)
        os.replace(pointer, root / CURRENT)
        _fsync(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _prune(root, keep=name)
    return name


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(root: Path, keep: str) -> None:
    """Drop old generations and leftovers of interrupted writes, keeping the newest few."""
    older = sorted(p for p in root.glob("gen-*") if p.is_dir() and p.name != keep)
    stale = older[: max(0, len(older) - (GENERATIONS_KEPT - 1))]
    stale += [p for p in root.glob(".gen-*.tmp") if p.is_dir()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
