"""One segment of the index: passages with their vectors and term counts, written once.

    segments/seg-<ns>/
      vectors.npy       float32 rows × dim, memory-mapped for scans, a few rows read with
                        pread for candidates (npy_rows.py)
      ids.npy           int64 passage id of each row
      keys.npy          uint64 hashes of the rows' embedded texts (title + passage), sorted,
                        and keys.rows.npy the row of each, so a vector is found by its text
      passages.sqlite   each row's passage (document, text, offsets), read a few at a time
      sentences.npy     float16 vectors of the sentences of each row with more than one,
                        rows' first sentence in sentences.first.npy (search/best_sentence.py)
      terms.*.npy, vocabulary.json   term counts for BM25 (lexical.py)
      approximate.faiss an HNSW graph over the vectors, for a big segment (ann.py)
      segment.json      rows, dimension, and the size of every file above, written last

A reindex writes one new segment for the documents it encoded; the generation then names
which rows of each segment are live. Nothing is ever changed in place, so a process can
keep serving a segment while another writes the next generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.records import Passage
from retrieval.store.ann import APPROXIMATE_FILE, build_graph, read_graph
from retrieval.store.lexical import TermCounts
from retrieval.store.npy_rows import NpyRows

SEGMENTS = "segments"
VECTORS = "vectors.npy"
IDS = "ids.npy"
KEYS = "keys.npy"
KEY_ROWS = "keys.rows.npy"
PASSAGES = "passages.sqlite"
SENTENCES = "sentences.npy"
SENTENCE_FIRST = "sentences.first.npy"
INFO = "segment.json"
_SQL_BATCH = 500  # SQLite's limit on parameters is 999 in old builds


def text_key(text: str) -> int:
    """The key a vector is found again by: a 64-bit hash of exactly the text encoded."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class SegmentRows:
    """What a new segment holds, row by row: passages, the texts encoded, their vectors."""

    passages: Sequence[Passage]
    texts: Sequence[str]  # titled_text(title, passage.text): what was embedded and indexed
    vectors: np.ndarray
    terms: TermCounts
    # Each row's sentence vectors (sentences × dim), empty where there are none: a passage
    # of one sentence, or an encoder that cannot give them.
    sentences: Sequence[np.ndarray]


def new_segment_name() -> str:
    return f"seg-{time.time_ns()}"


def write_segment(root: Path, rows: SegmentRows, build_approximate: bool = False) -> str:
    """Write a segment under `root`/segments/ and return its name; all or nothing."""
    name = new_segment_name()
    (root / SEGMENTS).mkdir(parents=True, exist_ok=True)
    with staged(root / SEGMENTS, name) as staging:
        vectors = np.ascontiguousarray(rows.vectors, dtype=np.float32)
        np.save(staging / VECTORS, vectors)
        np.save(staging / IDS, np.fromiter((p.id for p in rows.passages), dtype=np.int64))
        keys = np.fromiter((text_key(t) for t in rows.texts), dtype=np.uint64)
        order = np.argsort(keys, kind="stable")
        np.save(staging / KEYS, keys[order])
        np.save(staging / KEY_ROWS, order.astype(np.int64))
        _write_passages(staging / PASSAGES, rows.passages)
        _write_sentences(staging, rows.sentences, vectors.shape[1])
        files = [VECTORS, IDS, KEYS, KEY_ROWS, PASSAGES, SENTENCES, SENTENCE_FIRST]
        files += rows.terms.save(staging)
        if build_approximate:
            build_graph(vectors, staging / APPROXIMATE_FILE)
            files.append(APPROXIMATE_FILE)
        info = {
            "rows": len(rows.passages),
            "dim": int(vectors.shape[1]),
            "files": {file: (staging / file).stat().st_size for file in files},
        }
        (staging / INFO).write_text(json.dumps(info), encoding="utf-8")
    return name


@contextmanager
def staged(parent: Path, name: str) -> Iterator[Path]:
    """A folder filled under a temporary name, then fsynced and renamed to `name`; all or
    nothing, removed if the filling fails."""
    staging = parent / f".{name}.tmp"
    staging.mkdir()
    try:
        yield staging
        for path in staging.iterdir():
            fsync(path)
        os.rename(staging, parent / name)
        fsync(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_passages(path: Path, passages: Sequence[Passage]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")  # the file is fsynced before it is named
        db.execute(
            "CREATE TABLE passages (row INTEGER PRIMARY KEY, id INTEGER NOT NULL, "
            'doc_id TEXT NOT NULL, text TEXT NOT NULL, start INTEGER NOT NULL, "end" '
            "INTEGER NOT NULL, paragraph INTEGER NOT NULL)"
        )
        db.executemany(
            "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (row, p.id, p.doc_id, p.text, p.start, p.end, p.paragraph)
                for row, p in enumerate(passages)
            ),
        )
    db.close()


def _write_sentences(folder: Path, sentences: Sequence[np.ndarray], dim: int) -> None:
    counts = [len(vectors) for vectors in sentences]
    np.save(folder / SENTENCE_FIRST, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    stacked = [v for v in sentences if len(v)]
    flat = np.concatenate(stacked) if stacked else np.zeros((0, dim))
    np.save(folder / SENTENCES, flat.astype(np.float16))


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recorded_sizes(folder: Path) -> dict[str, int]:
    """The file sizes segment.json records. Raises OSError or ValueError."""
    info = json.loads((folder / INFO).read_text(encoding="utf-8"))
    if not isinstance(info, dict) or not isinstance(info.get("files"), dict):
        raise ValueError(f"{INFO} has the wrong shape")
    return {str(name): int(size) for name, size in info["files"].items()}


class Segment:
    """A written segment, opened for reading: vectors and arrays memory-mapped, the rows a
    question needs (candidates' vectors, hits' sentences, passages) read from disk when it
    needs them. Safe to share between threads."""

    def __init__(self, folder: Path) -> None:
        """Raises OSError or ValueError when the segment is missing or damaged."""
        self.name = folder.name
        info = json.loads((folder / INFO).read_text(encoding="utf-8"))
        for file, size in recorded_sizes(folder).items():
            if (folder / file).stat().st_size != size:
                raise ValueError(f"{self.name}/{file} has the wrong size")
        self.rows = int(info["rows"])
        self.vectors = _mapped(folder / VECTORS)
        self.vector_rows = NpyRows(folder / VECTORS)
        self.ids = _mapped(folder / IDS)
        self._keys = _mapped(folder / KEYS)
        self._key_rows = _mapped(folder / KEY_ROWS)
        self.terms = TermCounts.load(folder)
        self._sentences = NpyRows(folder / SENTENCES)
        self._sentence_first = _mapped(folder / SENTENCE_FIRST)
        if len(self._sentence_first) != self.rows + 1:
            raise ValueError(f"{self.name}/{SENTENCE_FIRST} is inconsistent")
        shapes = (len(self.ids), len(self._keys), len(self._key_rows), len(self.terms))
        if self.vectors.shape != (self.rows, int(info["dim"])) or set(shapes) != {self.rows}:
            raise ValueError(f"{self.name} is inconsistent")
        self._db = sqlite3.connect(
            (folder / PASSAGES).resolve().as_uri() + "?mode=ro&immutable=1",
            uri=True,
            check_same_thread=False,
        )
        self._db_lock = threading.Lock()
        graph = folder / APPROXIMATE_FILE
        self.approximate = read_graph(graph) if graph.exists() else None

    def passages(self, rows: Sequence[int]) -> list[Passage]:
        """The passages at these rows, in this order."""
        found: dict[int, Passage] = {}
        wanted = sorted(set(rows))
        with self._db_lock:
            for begin in range(0, len(wanted), _SQL_BATCH):
                batch = wanted[begin : begin + _SQL_BATCH]
                marks = ",".join("?" * len(batch))
                for row, *fields in self._db.execute(
                    f'SELECT row, id, doc_id, text, start, "end", paragraph FROM passages '
                    f"WHERE row IN ({marks})",
                    batch,
                ):
                    found[row] = Passage(*fields)
        return [found[row] for row in rows]

    def sentence_vectors(self, row: int) -> np.ndarray:
        """The stored vectors of a row's sentences (float32), empty when there are none."""
        first, end = int(self._sentence_first[row]), int(self._sentence_first[row + 1])
        return self._sentences.span(first, end).astype(np.float32)

    def rows_with_keys(self, keys: np.ndarray) -> np.ndarray:
        """For each key, a row whose embedded text hashes to it, or -1."""
        if not self.rows:
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._keys, keys), self.rows - 1)
        return np.where(self._keys[at] == keys, self._key_rows[at], -1)


def _mapped(path: Path) -> np.ndarray:
    """A .npy file memory-mapped (read-only), or read whole when empty (mmap needs bytes)."""
    try:
        return np.load(path, mmap_mode="r")
    except ValueError:
        return np.load(path)
