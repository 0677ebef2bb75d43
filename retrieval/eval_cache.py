"""Vectors an earlier `citebot eval` computed, so running a set again encodes nothing.

One folder per set, model and passage settings under the user's cache directory
(`$XDG_CACHE_HOME/citebot/eval`, else `~/.cache/citebot/eval`). Vectors are reused the
way the indexer reuses them, by title and passage text, so an edited set re-encodes only
what changed; a damaged cache is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from retrieval.index import PassageIndex
from retrieval.records import Passage, Source

log = logging.getLogger(__name__)

_VECTORS = "index.faiss"
_PASSAGES = "passages.jsonl"
_SOURCES = "sources.jsonl"


def cache_folder(set_folder: Path, model: str, passage_settings: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.blake2b(
        f"{set_folder.resolve()}\0{model}\0{passage_settings}".encode(), digest_size=8
    ).hexdigest()
    return base / "citebot" / "eval" / f"{set_folder.name}-{key}"


def load_cached(folder: Path, dim: int) -> PassageIndex | None:
    import faiss

    try:
        vectors = faiss.read_index(str(folder / _VECTORS))
        sources = [Source(**json.loads(line)) for line in _lines(folder / _SOURCES)]
        passages = [Passage(**json.loads(line)) for line in _lines(folder / _PASSAGES)]
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        if folder.exists():
            log.warning("ignoring the damaged evaluation cache %s: %s", folder, exc)
        return None
    if vectors.d != dim or vectors.ntotal != len(passages):
        return None
    return PassageIndex.restore(dim, vectors, sources, passages)


def save_cached(folder: Path, index: PassageIndex) -> None:
    """Best effort: a cache that cannot be written only costs the next run its speed."""
    import faiss

    staging = folder.with_name(folder.name + ".tmp")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        faiss.write_index(index.faiss_index, str(staging / _VECTORS))
        for name, records in (
            (_SOURCES, index.sources.values()),
            (_PASSAGES, index.passages.values()),
        ):
            with open(staging / name, "w", encoding="utf-8") as out:
                out.writelines(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records)
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(staging, folder)
    except OSError as exc:
        log.warning("could not write the evaluation cache %s: %s", folder, exc)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()
