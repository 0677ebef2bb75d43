"""Word .docx → blocks, with python-docx.

Paragraphs (list items and headings included) and table cells, in document order. The
title is the core "Title" property, else the first Title/Heading-styled paragraph.
"""

from __future__ import annotations

import io

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from retrieval.documents.readers import Extracted, iso_date
from retrieval.errors import DocumentError


def read_docx(data: bytes) -> Extracted:
    """A .docx file; a damaged archive or a renamed .doc raises DocumentError."""
    # python-docx surfaces a bad package as zip, XML or KeyError exceptions alike.
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        heading: str | None = None
        for item in document.iter_inner_content():
            for paragraph in _paragraphs(item):
                text = paragraph.text.strip()
                if not text:
                    continue
                blocks.append(text)
                if heading is None and _is_heading(paragraph):
                    heading = text
        properties = document.core_properties
        title = (properties.title or "").strip() or heading
        created = properties.created
    except Exception as exc:
        raise DocumentError(
            "not a readable .docx file (damaged, or an old .doc renamed?); re-save it from Word"
        ) from exc
    return Extracted(tuple(blocks), title, iso_date(created))


def _paragraphs(item: Paragraph | Table) -> list[Paragraph]:
    if isinstance(item, Paragraph):
        return [item]
    paragraphs: list[Paragraph] = []
    for row in item.rows:
        seen: set[object] = set()
        for cell in row.cells:
            if cell._tc not in seen:  # a merged cell repeats across the row
                seen.add(cell._tc)
                paragraphs.extend(cell.paragraphs)
    return paragraphs


def _is_heading(paragraph: Paragraph) -> bool:
    name = paragraph.style.name if paragraph.style is not None else ""
    return bool(name) and (name == "Title" or name.startswith("Heading"))
