"""What a citebot collection in Qdrant holds, point by point.

- A passage is a point whose id is the passage id. Its vectors: `dense` (the encoder's,
  unit length, so DOT is the cosine); `lexical`, the BM25 weight of each of its terms
  (our own analysis and stemming, retrieval/store/stemming.py; Qdrant multiplies in the
  IDF); `terms`, weight 1 for each term, whose only use is to read a term's IDF back (a
  one-term query scores any holder at exactly that IDF), which puts the lexical score on
  the same 0..1 scale as the embedded store's (retrieval/store/lexical.py); and, for a
  passage of several sentences, `sentences`: a vector per sentence from the run that
  embedded it (retrieval/search/best_sentence.py), float16 on disk, never searched. Its payload:
  the passage, its document's source, and `day`/`source` for the news filters.
- A document is a vector-less point holding what the embedded manifest holds of a file
  (stamps, content hash, passage count), so a reindex from any machine knows what changed.
- One `meta` point: model, passage settings, the generation, skipped and failed files.
- One `lease` point: the indexer that holds the write lease (retrieval/qdrant/lease.py).

BM25 normalises a passage's length by the average length; Qdrant stores finished weights,
so the average is the one measured when the collection was filled, kept in `meta`, and an
incremental update uses it unchanged (a rebuild measures it again).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from retrieval.records import Passage, SkippedFile, Source
from retrieval.store.generations import DocumentEntry
from retrieval.store.lexical import K1, B
from retrieval.store.stemming import analyse

FORMAT = 2
DENSE, LEXICAL, TERMS, SENTENCES = "dense", "lexical", "terms", "sentences"
KIND, PASSAGE, DOCUMENT, META, LEASE = "kind", "passage", "document", "meta", "lease"
_NAMESPACE = uuid.UUID("5f0c6a2e-9a8e-4f7e-8a3c-1d2b3c4d5e6f")
META_ID = str(uuid.uuid5(_NAMESPACE, META))
LEASE_ID = str(uuid.uuid5(_NAMESPACE, LEASE))
# The fields searches filter on, and the index type of each.
PAYLOAD_INDEXES = {
    KIND: "keyword",
    "doc_id": "keyword",
    "run": "keyword",
    "day": "integer",
    "source": "keyword",
    "key": "keyword",
}


def document_point_id(doc_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"document\x00{doc_id}"))


def hex_key(key: int) -> str:
    """A text key as a keyword (payload integers are signed 64-bit, the keys are not)."""
    return f"{key:016x}"


def term_index(term: str) -> int:
    """A term's dimension in the sparse vectors: 32 bits of its hash."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big")


def term_counts(text: str) -> Counter[int]:
    return Counter(term_index(term) for term in analyse(text))


def query_terms(question: str) -> list[int]:
    return sorted({term_index(term) for term in analyse(question)})


def bm25_weights(counts: Mapping[int, int], average_length: float) -> dict[int, float]:
    """Each term's BM25 weight in a passage, before IDF."""
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / max(average_length, 1e-9))
    return {term: n * (K1 + 1) / (n + norm) for term, n in counts.items()}


def day_number(date: str | None) -> int | None:
    """2021-05-06 → 20210506: dates compare as integers under an integer payload index."""
    return int(date.replace("-", "")) if date else None


def source_field(source: Source) -> str:
    """What a source filter searches, folded like `Filters.admits` folds it."""
    from urllib.parse import urlsplit

    site = (urlsplit(source.url).hostname or "") if source.url else ""
    return "\n".join((source.path, source.url or "", site)).casefold()


def passage_payload(passage: Passage, source: Source, key: int, run: str) -> dict[str, Any]:
    """`key` is the text key of what was embedded (retrieval/store/segment.py)."""
    return {
        KIND: PASSAGE,
        "doc_id": passage.doc_id,
        "text": passage.text,
        "start": passage.start,
        "end": passage.end,
        "paragraph": passage.paragraph,
        "path": source.path,
        "title": source.title,
        "date": source.date,
        "url": source.url,
        "day": day_number(source.date),
        "source": source_field(source),
        "key": hex_key(key),
        "run": run,  # the indexing run that wrote it: older points of its document are stale
    }


def passage_of(point_id: int, payload: Mapping[str, Any]) -> Passage:
    return Passage(
        int(point_id),
        payload["doc_id"],
        payload["text"],
        payload["start"],
        payload["end"],
        payload["paragraph"],
    )


def source_of(payload: Mapping[str, Any]) -> Source:
    return Source(
        payload["doc_id"], payload["path"], payload["title"], payload["date"], payload["url"]
    )


def document_payload(doc_id: str, entry: DocumentEntry, *, complete: bool) -> dict[str, Any]:
    """`complete` is False while its passages are being written: a run that stops there
    leaves it changed for the next one."""
    return {KIND: DOCUMENT, "doc_id": doc_id, "complete": complete, **asdict(entry)}


def entry_of(payload: Mapping[str, Any]) -> DocumentEntry:
    fields = DocumentEntry.__dataclass_fields__
    return DocumentEntry(**{name: payload[name] for name in fields if name in payload})


def skipped_payload(files: Iterable[SkippedFile]) -> list[list[str]]:
    return [[f.path, f.reason] for f in files]


def skipped_of(raw: Iterable[list[str]]) -> tuple[SkippedFile, ...]:
    return tuple(SkippedFile(path, reason) for path, reason in raw)
