"""The Telegram formatting functions on their own: escaping, layout, limits, splitting."""

from __future__ import annotations

import re

import pytest
from fake_bot_content import parse_html, render_text, utf16_len
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.format import (
    answer_keyboard,
    confidence,
    emphasise,
    format_context,
    format_page,
    inline_description,
    inline_message,
    inline_title,
    shorten,
    source_line,
)
from bot.telegram.phrases import ENGLISH
from bot.telegram.search import context_data, more_data, parse_data
from bot.telegram.split import split_html
from bot.telegram.texts import index_report_text, sources_text, status_text
from retrieval.records import Answer, Hit, Passage, SkippedFile, Source
from retrieval.store.generations import DocumentEntry, Manifest
from retrieval.store.indexer import IndexReport

SOURCE = Source("doc.txt", "doc.txt", "Fish & Chips <b>Guide</b>", "2021-05-25", None)


def hit(text: str, sentence: str = "", score: float = 0.6, start: int = 0, **source: str) -> Hit:
    passage = Passage(hash(text) & 0xFFFF, "doc.txt", text, start, start + len(text), 0)
    return Hit(passage, Source(**{**SOURCE.__dict__, **source}), score, sentence or text)


def visible(html: str) -> str:
    return render_text(html, "HTML")[0]


def test_best_sentence_is_bold_and_everything_is_escaped() -> None:
    text = "Use <script> & stay safe. Never   write <b>bold</b> tags. The end."
    html = emphasise(text, "Never write <b>bold</b> tags.")
    assert html == (
        "Use &lt;script&gt; &amp; stay safe. <b>Never   write &lt;b&gt;bold&lt;/b&gt; tags.</b> "
        "The end."
    )
    plain, entities = parse_html(html)
    assert plain == text
    assert entities == [{"type": "bold", "offset": 26, "length": 31}]
    assert emphasise("a < b", "not there") == "a &lt; b"


def test_source_line_names_title_file_date_and_a_link() -> None:
    assert (
        source_line(ENGLISH, hit("x"))
        == "📄 “Fish &amp; Chips &lt;b&gt;Guide&lt;/b&gt;” · doc.txt · 2021-05-25"
    )
    linked = source_line(ENGLISH, hit("x", url="https://example.org/a?b=1&c=2"))
    assert linked.endswith('<a href="https://example.org/a?b=1&amp;c=2">link</a>')
    assert parse_html(linked)[1][-1]["url"] == "https://example.org/a?b=1&c=2"
    not_a_link = source_line(ENGLISH, hit("x", url="javascript:alert(1)", date=""))
    assert not_a_link.endswith("· doc.txt · javascript:alert(1)") and "<a" not in not_a_link


@pytest.mark.parametrize(
    ("score", "cue"),
    [(0.62, "strong match · 0.62"), (0.45, "good match · 0.45"), (0.2, "weak match · 0.20")],
)
def test_confidence_cue(score: float, cue: str) -> None:
    assert confidence(ENGLISH, score, threshold=0.4) == cue


def test_a_page_numbers_hits_and_marks_weak_answers() -> None:
    hits = tuple(hit(f"Passage number {n}.", score=0.3 - n / 100) for n in range(1, 6))
    weak = Answer("q", hits, answered=False, threshold=0.4)
    [first] = format_page(ENGLISH, weak, 0, 3)
    text = visible(first)
    assert text.startswith("No passage matches this well.")
    assert [line[:2] for line in text.split("\n") if line[:1].isdigit()] == ["1.", "2.", "3."]
    assert text.count("weak match") == 3
    [second] = format_page(ENGLISH, weak, 3, 3)
    assert visible(second).startswith("Passages 4–5\n\n4. Passage number 4.")
    assert "No passage matches" not in second


def test_a_long_page_splits_between_hits() -> None:
    hits = tuple(hit(f"Hit {n}. " + "word " * 300, score=0.9) for n in range(5))
    pages = format_page(ENGLISH, Answer("q", hits, True, 0.4), 0, 5)
    assert len(pages) >= 2
    for page in pages:
        text = visible(page)
        assert utf16_len(text) <= 4096
        assert text.count("📄") == len(re.findall(r"^\d\. Hit", text, flags=re.MULTILINE))


def test_context_joins_overlapping_neighbours_once() -> None:
    document = "First block ends here.\n\nShared sentence. Hit text is this.\n\nLast block."
    before = Passage(1, "doc.txt", document[:40], 0, 40, 0)
    target = Passage(2, "doc.txt", document[24:58], 24, 58, 1)
    after = Passage(3, "doc.txt", document[60:], 60, len(document), 2)
    found = Hit(target, SOURCE, 0.7, "Hit text is this.")
    [html] = format_context(ENGLISH, found, 2, [after, target, before])
    assert visible(html) == (
        "Context of passage 2 · 📄 “Fish & Chips <b>Guide</b>” · doc.txt · 2021-05-25\n\n"
        "First block ends here.\n\n"
        "Shared sentence. Hit text is this.\n\n"
        "Last block."
    )
    assert "<blockquote>Shared sentence. <b>Hit text is this.</b></blockquote>" in html


def test_inline_results_fit_telegrams_limits() -> None:
    huge = hit("Words " * 2000, "Words Words", title="T" * 500, url="https://e.org/" + "x" * 900)
    message = inline_message(ENGLISH, "q" * 1000, huge, 1, 0.4)
    assert utf16_len(visible(message)) <= 4096
    assert len(inline_title(ENGLISH, huge, 1, 0.4)) <= 100
    assert inline_title(ENGLISH, hit("x", score=0.1), 2, 0.4).endswith("(weak)")
    assert len(inline_description(huge)) <= 200


def test_shorten_counts_utf16_and_cuts_at_a_space() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("alpha beta gamma delta", 20) == "alpha beta gamma…"
    assert shorten("alphabetagammadelta", 10) == "alphabeta…"
    assert utf16_len(shorten("😀" * 100, 11)) <= 11


def test_keyboard_offers_context_per_passage_and_more_while_passages_remain() -> None:
    first = answer_keyboard(ENGLISH, "k", hits=3, offset=0, page_size=3, total=9)
    assert [[(b.text, b.callback_data) for b in row] for row in first.inline_keyboard] == [
        [("Context 1", "c:k:1"), ("Context 2", "c:k:2"), ("Context 3", "c:k:3")],
        [("More ▸", "m:k:3")],
    ]
    last = answer_keyboard(ENGLISH, "k", hits=8, offset=6, page_size=3, total=8)
    assert [[b.text for b in row] for row in last.inline_keyboard] == [["Context 7", "Context 8"]]


def test_callback_data_round_trips_within_64_bytes() -> None:
    for data in (more_data("AbC-_123", 6), context_data("AbC-_123", 9)):
        assert len(data.encode()) <= 64
    assert parse_data(more_data("AbC-_123", 6)) == ("m", "AbC-_123", 6)
    assert parse_data(context_data("k", 2)) == ("c", "k", 2)
    for foreign in (None, "", "m:k", "x:k:1", "m:k:1:2", "m:" + "k" * 40 + ":1"):
        assert parse_data(foreign) is None


def test_reports_cap_long_lists() -> None:
    report = IndexReport(
        added=[f"new-{n}.txt" for n in range(25)],
        removed=["<gone>.txt"],
        skipped=[SkippedFile("bad.pdf", "no text layer (scanned?)")],
        passages_total=99,
        seconds=1.25,
    )
    [text] = index_report_text(ENGLISH, report)
    plain = visible(text)
    assert "25 added, 0 updated, 1 removed, 0 unchanged, 1 skipped, 0 failed · 99 passages" in plain
    assert "new-9.txt and 15 more" in plain and "new-10.txt" not in plain
    assert "Removed: <gone>.txt" in plain
    assert "• bad.pdf: no text layer (scanned?)" in plain


def test_sources_and_status_list_the_manifest() -> None:
    entry = DocumentEntry(
        title="A & B",
        content_hash="h",
        size=1,
        mtime_ns=1,
        segment="seg-1",
        first_row=0,
        passages=2,
        indexed_at="2024-01-01T00:00:00",
        verified_ns=1,
        date="2021-05-25",
    )
    documents = {f"doc-{n:03}.txt": entry for n in range(60)}
    skipped = tuple(SkippedFile(f"bad-{n}.pdf", "empty") for n in range(12))
    manifest = Manifest("model-x", 384, "s", "2024-01-02T03:04:05", documents, skipped)
    pages = sources_text(ENGLISH, manifest)
    plain = "\n".join(visible(p) for p in pages)
    assert plain.startswith("60 documents, 120 passages\n• A & B — doc-000.txt · 2021-05-25")
    assert "doc-049.txt" in plain and "doc-050.txt" not in plain and "… and 10 more." in plain
    [status] = status_text(ENGLISH, manifest)
    plain = visible(status)
    assert "Model: model-x (384 dimensions)" in plain and "Skipped files: 12" in plain
    assert "• bad-9.pdf: empty\n… and 2 more." in plain


# -- splitting -------------------------------------------------------------------------------

WORDS = st.sampled_from(
    ["alpha", "beta.", "gamma!", "&amp;", "&lt;tag&gt;", "Ünïcode", "😀", "x" * 700, "end."]
)
SPACES = st.sampled_from([" ", " ", " ", "\n", "\n\n"])
TAGS = st.sampled_from(["b", "i", "u", "s", "code", "blockquote"])


@st.composite
def html_documents(draw: st.DrawFn) -> str:
    """Telegram HTML: words and spaces, some wrapped in (possibly nested) tags."""
    parts = []
    for _ in range(draw(st.integers(1, 60))):
        words = [draw(WORDS) + draw(SPACES) for _ in range(draw(st.integers(1, 12)))]
        chunk = "".join(words)
        tag = draw(st.none() | TAGS)
        if tag == "code" or tag is None:
            parts.append(f"<{tag}>{chunk}</{tag}>" if tag else chunk)
        else:
            inner = draw(st.sampled_from(["", "i", "a"]))
            if inner == "a":
                chunk = f'<a href="https://e.org/?a=1&amp;b=2">{chunk}</a>'
            elif inner:
                chunk = f"<{inner}>{chunk}</{inner}>"
            parts.append(f"<{tag}>{chunk}</{tag}> ")
    return "".join(parts)


@settings(max_examples=150, deadline=None)
@given(html_documents(), st.sampled_from([200, 1000, 4096]))
def test_split_pieces_fit_parse_and_keep_every_character(text: str, limit: int) -> None:
    pieces = split_html(text, limit)
    for piece in pieces:
        assert utf16_len(piece) <= limit
        parse_html(piece)  # raises on a broken tag or entity
    joined = "".join(visible(piece) for piece in pieces)
    assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", parse_html(text)[0])


def test_split_prefers_blank_lines_then_sentences() -> None:
    paragraphs = ["<b>Title.</b> " + "Sentence one is here. " * 20 for _ in range(4)]
    pieces = split_html("\n\n".join(paragraphs), 1000)
    assert [p.startswith("<b>Title.</b>") for p in pieces] == [True] * len(pieces)
    one = "<i>" + "A sentence that goes on. " * 100 + "</i>"
    pieces = split_html(one, 700)
    assert all(p.startswith("<i>") and p.endswith("on.</i>") for p in pieces[:-1])


def test_split_cuts_a_giant_word_outside_entities() -> None:
    word = "<b>" + "ab&amp;" * 2000 + "</b>"
    pieces = split_html(word, 4096)
    assert len(pieces) >= 3
    for piece in pieces:
        parse_html(piece)
        assert utf16_len(piece) <= 4096
    assert "".join(visible(p) for p in pieces) == "ab&" * 2000
