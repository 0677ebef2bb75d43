"""PDF → paragraphs, using pypdf's text layer.

A PDF's text comes out as lines, so paragraphs are rebuilt: a line continues the previous
one unless that one ended a sentence well short of the usual line width, looked like a
heading, or the line is a list item. Page numbers and running headers/footers (the same
line at the top or bottom of most pages) are dropped first.
"""

from __future__ import annotations

import io
import re
from collections import Counter

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError

from retrieval.documents.decoding import normalise_text
from retrieval.documents.readers import (
    LIST_ITEM,
    SENTENCE_END,
    TITLE_MAX_CHARS,
    Extracted,
    iso_date,
)
from retrieval.errors import DocumentError

_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|p\.|стр\.?|страница|с\.|сторінка)\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?"
    r"(?:\s*(?:of|/|из|з)\s*\d{1,4})?$",
    re.IGNORECASE,
)
_EDGE_LINES = 2
_HYPHENATED = re.compile(r"\w-$")
_UNHELPFUL_TITLE = re.compile(r"^(?:untitled|microsoft \w+ - )|\.(?:docx?|pdf|odt|rtf)$", re.I)


def read_pdf(data: bytes) -> Extracted:
    """A .pdf file's text layer; encrypted, damaged or image-only PDFs raise DocumentError."""
    if b"%PDF-" not in data[:1024]:
        raise DocumentError("not a PDF file (no %PDF header); is the extension wrong?")
    if b"%%EOF" not in data[-2048:]:
        raise DocumentError("PDF is truncated or damaged (no end-of-file marker); re-download it")
    # pypdf reports malformed files with almost any exception type, so the boundary is broad.
    try:
        reader = PdfReader(io.BytesIO(data))
        _unlock(reader)
        pages = [normalise_text(page.extract_text() or "") for page in reader.pages]
        metadata = reader.metadata
        title = metadata.title if metadata else None
        created = metadata.creation_date if metadata else None
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(f"PDF is damaged and cannot be read ({exc})") from exc
    if not pages:
        raise DocumentError("PDF has no pages (damaged?)")
    blocks = pdf_blocks(pages)
    if not blocks:
        raise DocumentError("PDF has no text layer (scanned?); OCR it first")
    if not isinstance(title, str) or not title.strip() or _UNHELPFUL_TITLE.search(title.strip()):
        title = blocks[0] if len(blocks) > 1 and _looks_like_heading(blocks[0]) else None
    return Extracted(tuple(blocks), title, iso_date(created))


def pdf_blocks(pages: list[str]) -> list[str]:
    """Paragraphs rebuilt from the text of each page, in order."""
    page_lines = [
        [line.strip() for line in page.strip().split("\n") if not _PAGE_NUMBER.match(line.strip())]
        for page in pages
    ]
    running = _running_lines(page_lines)
    lines = [line for page in page_lines for line in page if _shape(line) not in running]
    widths = sorted(len(line) for line in lines if line)
    typical = widths[int(0.8 * (len(widths) - 1))] if widths else 0  # a full line's width
    blocks: list[str] = []
    previous = ""
    for line in lines:
        if not line:
            previous = ""
        elif previous and _continues(previous, line, typical):
            if _HYPHENATED.search(previous) and line[0].islower():
                blocks[-1] = blocks[-1][:-1] + line
            else:
                blocks[-1] += " " + line
            previous = line
        else:
            blocks.append(line)
            previous = line
    return blocks


def _unlock(reader: PdfReader) -> None:
    """Open PDFs protected only by an owner password; refuse ones that need a user password."""
    if not reader.is_encrypted:
        return
    try:
        unlocked = bool(reader.decrypt(""))
    except (DependencyError, FileNotDecryptedError, NotImplementedError) as exc:
        raise DocumentError("PDF is encrypted; save an unprotected copy") from exc
    if not unlocked:
        raise DocumentError("PDF is encrypted; save an unprotected copy")


def _shape(line: str) -> str:
    """A line with its digits masked, so "Report 2021 — page 3" matches on every page."""
    return re.sub(r"\d+", "#", " ".join(line.casefold().split()))


def _running_lines(page_lines: list[list[str]]) -> set[str]:
    """Shapes of lines that open or close more than half of the pages."""
    counts: Counter[str] = Counter()
    for lines in page_lines:
        content = [line for line in lines if line]
        edges = content[:_EDGE_LINES] + content[-_EDGE_LINES:]
        counts.update({_shape(line) for line in edges})
    pages = len(page_lines)
    return {shape for shape, count in counts.items() if count >= 2 and count > pages / 2}


def _continues(previous: str, line: str, typical: float) -> bool:
    if LIST_ITEM.match(line):
        return False
    if SENTENCE_END.search(previous) and len(previous) < 0.85 * typical:
        return False
    return not (
        _looks_like_heading(previous) and len(previous) < 0.6 * typical and line[0].isupper()
    )


def _looks_like_heading(line: str) -> bool:
    return len(line) <= TITLE_MAX_CHARS and not SENTENCE_END.search(line) and not line.endswith(",")
