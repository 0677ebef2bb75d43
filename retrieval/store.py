"""The index folder on disk: generations of plain files, switched in atomically.

    embeddings/
      CURRENT              name of the live generation (replaced with os.replace)
      gen-<ns>/manifest.json   format version, model, dimension, passage settings, documents
      gen-<ns>/index.faiss     the vectors, ids = passage ids
      gen-<ns>/passages.jsonl  one passage a line
      gen-<ns>/lexical.npz, vocabulary.json   the BM25 index (retrieval/lexical.py)

A generation is written under a temporary name, renamed into place, and only then named
in CURRENT, so a reader sees the old index or the new one, never half of one. The manifest
records the size of every file beside it, so damage is found without loading anything.
Clean-up deletes only folders of exactly the shape this module writes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from retrieval.errors import IndexMismatchError, IndexMissingError, IndexStoreError
from retrieval.index import PassageIndex
from retrieval.lexical import LEXICAL_FILE, VOCABULARY_FILE, LexicalIndex
from retrieval.records import Passage, SkippedFile, Source

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
VECTORS = "index.faiss"
PASSAGES = "passages.jsonl"
GENERATIONS_KEPT = 2
_GENERATION = re.compile(r"gen-(\d{19})")
_STAGING = re.compile(r"\.gen-\d{19}\.tmp")
_WRITE_ADVICE = "make the folder writable or choose another with --index"


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
    # Size in bytes of each file of the generation, recorded as it is written.
    files: dict[str, int] = field(default_factory=dict)

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
        """Raises ValueError for anything but a manifest this module wrote."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("documents"), dict):
            raise ValueError("the manifest has the wrong shape")
        data.pop("counts", None)
        try:
            data["documents"] = {
                path: DocumentEntry(**{**entry, "passage_ids": tuple(entry["passage_ids"])})
                for path, entry in data["documents"].items()
            }
            data["skipped"] = tuple(SkippedFile(**s) for s in data["skipped"])
            data["failed"] = tuple(SkippedFile(**s) for s in data["failed"])
            manifest = cls(**data)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"the manifest has the wrong shape ({exc})") from None
        if not isinstance(manifest.dim, int) or not isinstance(manifest.files, dict):
            raise ValueError("the manifest has the wrong shape")
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
        manifest = Manifest.from_json((generation / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
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


def damage(root: Path) -> list[str]:
    """What is wrong with the live generation's files, judged against its manifest.

    Sizes and the passage count only: cheap enough for `status`, and it catches truncated,
    missing and swapped files. Raises IndexStoreError when even the manifest is unreadable.
    """
    generation = _live_generation(root)
    manifest = _manifest_at(root, generation)
    problems = []
    for name in sorted({VECTORS, PASSAGES, *manifest.files}):
        try:
            size = (generation / name).stat().st_size
        except OSError as exc:
            problems.append(f"{name} is missing ({exc.strerror})")
            continue
        recorded = manifest.files.get(name)
        if recorded is not None and size != recorded:
            problems.append(f"{name} is {size:,} bytes, the manifest records {recorded:,}")
    if not problems:
        with open(generation / PASSAGES, "rb") as lines:
            count = sum(1 for _ in lines)
        if count != manifest.passage_count:
            problems.append(
                f"{PASSAGES} holds {count:,} passages, the manifest records "
                f"{manifest.passage_count:,}"
            )
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


def load_index(root: Path, *, model: str, passage_settings: str | None) -> StoredIndex:
    """Load the live generation, refusing one built with another model or passage settings.

    `passage_settings=None` accepts any: the indexer reuses vectors across a settings change.
    """
    import faiss

    generation = _live_generation(root)
    manifest = _manifest_at(root, generation)
    check_compatible(manifest, root, model, passage_settings)
    for name, recorded in manifest.files.items():
        if _size(generation / name) != recorded:
            raise IndexStoreError(f"the index in {root}/ is damaged ({name} has the wrong size)")
    try:
        faiss_index = faiss.read_index(str(generation / VECTORS))
        with open(generation / PASSAGES, encoding="utf-8") as lines:
            passages = [Passage(**json.loads(line)) for line in lines]
        # A generation from before lexical search has none: it is built on first use.
        lexical = LexicalIndex.load(generation) if (generation / LEXICAL_FILE).exists() else None
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise IndexStoreError(f"the index in {root}/ is damaged ({exc})") from exc
    if faiss_index.d != manifest.dim or faiss_index.ntotal != len(passages):
        raise IndexStoreError(
            f"the index in {root}/ is inconsistent "
            f"({faiss_index.ntotal} vectors, {len(passages)} passages)"
        )
    if lexical is not None and len(lexical) != len(passages):
        raise IndexStoreError(f"the index in {root}/ is inconsistent (lexical index)")
    index = PassageIndex.restore(
        manifest.dim,
        faiss_index,
        [manifest.source(d) for d in manifest.documents],
        passages,
        lexical,
    )
    return StoredIndex(manifest, index, generation.name)


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


def save_index(root: Path, manifest: Manifest, index: PassageIndex) -> str:
    """Write a new generation and make it the live one; returns its name.

    Any failure (a full disk, a folder turned read-only) leaves the previous one live.
    """
    try:
        return _write_generation(root, manifest, index)
    except OSError as exc:
        raise IndexStoreError(
            f"could not write the new index in {root}/ ({exc.strerror or exc}); "
            "the previous one is still served",
            _WRITE_ADVICE,
        ) from exc


def _write_generation(root: Path, manifest: Manifest, index: PassageIndex) -> str:
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
        index.lexical.save(staging)
        sizes = {
            file: _size(staging / file)
            for file in (VECTORS, PASSAGES, LEXICAL_FILE, VOCABULARY_FILE)
        }
        (staging / MANIFEST).write_text(replace(manifest, files=sizes).to_json(), encoding="utf-8")
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


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(root: Path, keep: str) -> None:
    """Drop old generations and leftovers of interrupted writes, keeping the newest few.

    Only folders named as `save_index` names them are touched, oldest first by their
    timestamp; a user's own `gen-2021-photos` beside them is never deleted.
    """
    older = sorted(
        (int(match.group(1)), path)
        for path in _own_folders(root)
        if (match := _GENERATION.fullmatch(path.name)) and path.name != keep
    )
    stale = [path for _, path in older[: max(0, len(older) - (GENERATIONS_KEPT - 1))]]
    stale += [path for path in _own_folders(root) if _STAGING.fullmatch(path.name)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


def _own_folders(root: Path) -> list[Path]:
    return [path for path in root.iterdir() if path.is_dir() and not path.is_symlink()]
