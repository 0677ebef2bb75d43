"""HTML → blocks and metadata with the stdlib's event-based parser.

The parser never recurses, so absurdly deep nesting costs only a list entry per open tag.
Page furniture (scripts, navigation, headers, footers, forms…) is skipped wholesale;
whatever debris survives inside the article is left to `retrieval.documents.cleaning`.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from retrieval.documents.decoding import decode_bytes
from retrieval.documents.readers import Extracted, iso_date
from retrieval.errors import DocumentError

_SKIPPED = frozenset(
    {
        "script", "style", "nav", "header", "footer", "aside", "form", "noscript",
        "iframe", "svg", "template", "button",
    }
)  # fmt: skip
_BLOCKS = frozenset(
    {
        "address", "article", "blockquote", "body", "br", "caption", "dd", "details",
        "div", "dl", "dt", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
        "head", "hr", "html", "li", "main", "ol", "p", "pre", "section", "summary",
        "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul",
    }
)  # fmt: skip
# Where each piece of metadata may come from, strongest first: (tag, key attr, key, value attr).
_Source = tuple[str, str | None, str | None, str]
_DATE_SOURCES: tuple[_Source, ...] = (
    ("meta", "property", "article:published_time", "content"),
    ("meta", "name", "date", "content"),
    ("time", None, None, "datetime"),
)
_URL_SOURCES: tuple[_Source, ...] = (
    ("link", "rel", "canonical", "href"),
    ("meta", "property", "og:url", "content"),
)
_DECLARED_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n\s*\n")


def read_html(data: bytes) -> Extracted:
    """An .html/.htm file: visible article text, title, publication date and canonical URL."""
    declared = _DECLARED_CHARSET.search(data[:4096])
    text = decode_bytes(data, declared.group(1).decode("ascii") if declared else None)
    parser = _ArticleParser()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError as exc:  # how html.parser reports some broken <! declarations
        raise DocumentError(f"HTML is too malformed to read ({exc})") from exc
    return Extracted(
        tuple(parser.blocks),
        parser.title(),
        iso_date(_first(parser.found, _DATE_SOURCES)),
        _first(parser.found, _URL_SOURCES),
    )


def _first(found: dict[_Source, str], sources: tuple[_Source, ...]) -> str | None:
    return next((found[source] for source in sources if source in found), None)


class _ArticleParser(HTMLParser):
    """Collects visible text into blocks; block-level tags end the current block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.found: dict[_Source, str] = {}
        self._buffer: list[str] = []
        self._skipping: list[str] = []
        self._pre_depth = 0
        self._title_parts: list[str] | None = None
        self._h1_parts: list[str] | None = None
        self._title_text = ""
        self._h1_text = ""

    def title(self) -> str | None:
        """The <title>, or the first <h1> when the <title> is that heading plus a site name."""
        if self._h1_text and (not self._title_text or self._title_text.startswith(self._h1_text)):
            return self._h1_text
        return self._title_text or None

    def close(self) -> None:
        super().close()
        self._flush()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._note_metadata(tag, dict(attrs))
        if tag == "title" and not self._title_text:
            self._title_parts = []
        elif tag == "h1" and not self._h1_text:
            self._h1_parts = []
        if tag in _SKIPPED:
            self._skipping.append(tag)
        elif tag in _BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title_parts is not None:
            self._title_text = _squash("".join(self._title_parts))
            self._title_parts = None
        elif tag == "h1" and self._h1_parts is not None:
            self._h1_text = _squash("".join(self._h1_parts))
            self._h1_parts = None
        if tag in _SKIPPED:
            if tag in self._skipping:
                while self._skipping.pop() != tag:
                    pass
        elif tag in _BLOCKS:
            self._flush()
            if tag == "pre" and self._pre_depth:
                self._pre_depth -= 1

    def handle_data(self, data: str) -> None:
        for parts in (self._title_parts, self._h1_parts):
            if parts is not None:
                parts.append(data)
        if not self._skipping and self._title_parts is None:
            self._buffer.append(data if self._pre_depth else _WHITESPACE.sub(" ", data))

    def _flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer.clear()
        if self._pre_depth:
            self.blocks.extend(part.strip() for part in _BLANK_LINES.split(text) if part.strip())
        elif text.strip():
            self.blocks.append(text.strip())

    def _note_metadata(self, tag: str, attrs: dict[str, str | None]) -> None:
        for source in (*_DATE_SOURCES, *_URL_SOURCES):
            source_tag, key_attr, key, value_attr = source
            if tag != source_tag or source in self.found:
                continue
            if key_attr is not None and (attrs.get(key_attr) or "").lower() != key:
                continue
            value = attrs.get(value_attr)
            if value and value.strip():
                self.found[source] = value.strip()


def _squash(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()
