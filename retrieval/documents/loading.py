"""Corpus files → `Document`s: find the files, read each format, clean, attach metadata.

Metadata comes from the document itself (HTML meta tags, PDF/DOCX properties, front
matter in .txt/.md) and can be overridden by a sidecar `NAME.EXT.meta.json` (or
`NAME.meta.json`) beside it with any of the keys title/date/url; sidecars are not documents.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Container, Iterator
from pathlib import Path

from retrieval.documents.cleaning import clean_blocks, clean_title
from retrieval.documents.corpus_files import corpus_id, read_inside
from retrieval.documents.decoding import normalise_text, strip_control_characters
from retrieval.documents.docx_text import read_docx
from retrieval.documents.html_text import read_html
from retrieval.documents.pdf_text import read_pdf
from retrieval.documents.readers import Extracted, iso_date, read_markdown, read_plain_text
from retrieval.errors import DocumentError
from retrieval.records import Document

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Prose paragraphs run to a few thousand characters; 100,000 without a break is a data dump
# that would only flood the index with word-salad passages.
MAX_BLOCK_CHARS = 100_000
_READERS: dict[str, Callable[[bytes], Extracted]] = {
    ".txt": read_plain_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_READERS)
_SIDECAR_SUFFIX = ".meta.json"
_SIDECAR_KEYS = ("title", "date", "url")
# A sidecar holds a title, a date and a URL: a few hundred bytes. Bigger is a mistake.
SIDECAR_MAX_BYTES = 64 * 1024
# Longer metadata values are cut (titles) or dropped (dates, URLs): they are shown in every answer.
TITLE_MAX_CHARS = 300
URL_MAX_CHARS = 2048
DATE_MAX_CHARS = 64
_LINES = re.compile(r"\n+")


def iter_corpus_files(root: Path) -> Iterator[Path]:
    """Supported files under `root`, sorted; hidden entries and unreadable folders are skipped.

    Symlinked folders are not entered, so a link loop cannot trap the walk.
    """

    def skip_folder(error: OSError) -> None:
        logger.warning("skipping unreadable folder %s: %s", error.filename, error.strerror)

    found: list[str] = []
    for folder, subfolders, files in os.walk(root, onerror=skip_folder):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        # Pipes and broken links too: reading reports them.
        found.extend(os.path.join(folder, name) for name in files if _is_corpus_file(name))
    # Sorted as paths sort (by part), on strings: Path objects cost seconds at 100,000 files.
    found.sort(key=lambda path: path.split(os.sep))
    yield from map(Path, found)


def load_document(path: Path, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read, clean and describe one corpus file; any unreadable file raises DocumentError."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DocumentError(f"unsupported file type {path.suffix!r}")
    data = read_inside(path, root, max_bytes)
    if not data.strip():
        raise DocumentError("file is empty")
    extracted = reader(data)
    metadata, sidecar_bytes = _sidecar(path, root)
    relative = corpus_id(path, root)
    title = _short_title(metadata.get("title") or extracted.title or "") or _readable_stem(path)
    return Document(
        doc_id=relative,
        path=relative,
        title=title,
        text=_body(extracted.blocks, title),
        content_hash=hashlib.sha256(data + sidecar_bytes).hexdigest(),
        date=iso_date(_bounded(metadata.get("date"), DATE_MAX_CHARS)) or extracted.date,
        url=_bounded(metadata.get("url") or extracted.url, URL_MAX_CHARS),
    )


def document_from_text(doc_id: str, title: str, text: str, path: str = "") -> Document:
    """A Document from already-extracted text (one block per line), e.g. a BEIR corpus line.

    Raises DocumentError when nothing is left after cleaning.
    """
    blocks = _LINES.split(normalise_text(text))
    clean = clean_title(title)
    return Document(
        doc_id=doc_id,
        path=path,
        title=clean or doc_id,
        text=_body(tuple(blocks), clean),
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _is_corpus_file(name: str) -> bool:
    """Not hidden, not an Office lock file (~$name.docx), and of a supported type."""
    return not name.startswith((".", "~$")) and _suffix(name) in SUPPORTED_SUFFIXES


def _suffix(name: str) -> str:
    """`Path(name).suffix.lower()`, without making a Path."""
    stem, _, suffix = name.rpartition(".")
    return f".{suffix.lower()}" if stem and suffix else ""


def sidecar_path(path: Path, names: Container[str] | None = None) -> Path | None:
    """The metadata file of a document: `NAME.EXT.meta.json`, else `NAME.meta.json`.

    `names`, the entries of the document's folder where the caller has listed it, spares
    the two stats per document that looking for a sidecar otherwise costs.
    """
    for name in (path.name + _SIDECAR_SUFFIX, path.stem + _SIDECAR_SUFFIX):
        if names is not None and name not in names:
            continue
        candidate = path.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def _sidecar(path: Path, root: Path) -> tuple[dict[str, str], bytes]:
    """title/date/url from the document's sidecar, with its raw bytes for the content hash."""
    candidate = sidecar_path(path)
    if candidate is None:
        return {}, b""
    try:
        raw_bytes = read_inside(candidate, root, SIDECAR_MAX_BYTES)
        raw = json.loads(raw_bytes.decode("utf-8"))
    except DocumentError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):  # deleted since it was found
            return {}, b""
        raise type(exc)(f"metadata file {candidate.name}: {exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(
            f"metadata file {candidate.name} is unreadable ({exc}); fix or delete it"
        ) from exc
    if not isinstance(raw, dict):
        raise DocumentError(f"metadata file {candidate.name} must hold a JSON object")
    return {key: str(raw[key]).strip() for key in _SIDECAR_KEYS if raw.get(key)}, raw_bytes


def _body(blocks: tuple[str, ...], title: str) -> str:
    """Cleaned blocks joined by blank lines; a leading copy of the title is dropped."""
    blocks = tuple(strip_control_characters(block) for block in blocks)
    if not any(block.strip() for block in blocks):
        raise DocumentError("the file contains no text")
    cleaned = clean_blocks(list(blocks))
    if cleaned and title and clean_title(cleaned[0]).casefold() == title.casefold():
        cleaned.pop(0)
    if not cleaned:
        raise DocumentError("no text left after removing page debris (menus, credits, ads)")
    longest = max(len(block) for block in cleaned)
    if longest > MAX_BLOCK_CHARS:
        raise DocumentError(
            f"one paragraph runs {longest:,} characters without a break: "
            "this looks like data or a dump, not prose"
        )
    return "\n\n".join(cleaned)


def _short_title(title: str) -> str:
    title = clean_title(title)
    return title if len(title) <= TITLE_MAX_CHARS else title[: TITLE_MAX_CHARS - 1].rstrip() + "…"


def _bounded(value: str | None, limit: int) -> str | None:
    """A metadata value, or None when it is too long to be what it claims to be."""
    value = strip_control_characters(value or "").strip()
    return value if value and len(value) <= limit and "\n" not in value else None


def _readable_stem(path: Path) -> str:
    stem = " ".join(re.sub(r"[_\-.]+", " ", path.stem).split())
    return stem[:1].upper() + stem[1:] if stem else path.name
