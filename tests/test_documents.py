"""Reading corpus files: walking the folder, each format, each encoding, each bad file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from document_builders import make_docx, make_pdf
from docx.document import Document as DocxDocument
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from retrieval.documents.loading import (
    SUPPORTED_SUFFIXES,
    document_from_text,
    iter_corpus_files,
    load_document,
)
from retrieval.errors import DocumentError
from retrieval.records import Document

ARTICLE = (
    "Bridge reopens after repairs\n\n"
    "The city reopened the old bridge on Monday after two years of work.\n\n"
    "Traffic will be limited to cars and buses until the autumn.\n"
)
RUSSIAN = "Мост открыли после ремонта\n\nГород открыл старый мост в понедельник.\n"
UKRAINIAN = "Міст відкрили після ремонту\n\nМісто відкрило старий міст у понеділок, «нарешті».\n"


def load(tmp_path: Path, name: str, data: bytes | str, **kwargs: int) -> Document:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return load_document(path, tmp_path, **kwargs)


def reason(tmp_path: Path, name: str, data: bytes) -> str:
    with pytest.raises(DocumentError) as caught:
        load(tmp_path, name, data)
    return str(caught.value)


# --- finding files -------------------------------------------------------------------


def test_supported_suffixes() -> None:
    assert {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"} == SUPPORTED_SUFFIXES


def test_iter_corpus_files_is_recursive_sorted_and_selective(tmp_path: Path) -> None:
    for name in [
        "b.txt", "a/z.MD", "a/y.html", "c.PDF", "d.docx", "notes.csv", "e.txt.meta.json",
        "e.meta.json", ".hidden.txt", ".git/config.txt", "~$draft.docx", "a/.cache/x.md",
        "a-b.txt", "txt", "notes.", "f.tar.gz",
    ]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    found = [path.relative_to(tmp_path).as_posix() for path in iter_corpus_files(tmp_path)]
    # Sorted part by part, as paths sort: folder a/ before the file a-b.txt.
    assert found == ["a/y.html", "a/z.MD", "a-b.txt", "b.txt", "c.PDF", "d.docx"]


def test_iter_corpus_files_survives_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    (tmp_path / "docs" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self.txt").symlink_to("self.txt")
    found = list(iter_corpus_files(tmp_path))
    assert found == [tmp_path / "docs" / "a.txt", tmp_path / "self.txt"]
    with pytest.raises(DocumentError, match="symbolic links"):
        load_document(tmp_path / "self.txt", tmp_path)


def test_iter_corpus_files_skips_an_unreadable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.txt").write_text("x")
    real_scandir = os.scandir

    def scandir(path: str) -> Iterator[os.DirEntry[str]]:
        if Path(path).name == "locked":  # what a folder without read permission gives
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert list(iter_corpus_files(tmp_path)) == [tmp_path / "a.txt"]


# --- plain text, encodings, metadata ----------------------------------------------------


def test_plain_text_title_body_and_identity(tmp_path: Path) -> None:
    document = load(tmp_path, "news/bridge.txt", ARTICLE)
    assert document.doc_id == document.path == "news/bridge.txt"
    assert document.title == "Bridge reopens after repairs"
    assert document.text == (
        "The city reopened the old bridge on Monday after two years of work.\n\n"
        "Traffic will be limited to cars and buses until the autumn."
    )
    assert document.content_hash == hashlib.sha256(ARTICLE.encode()).hexdigest()
    assert document.date is None and document.url is None


def test_plain_text_without_title_line_uses_the_file_name(tmp_path: Path) -> None:
    document = load(tmp_path, "city_council-minutes.txt", "One sentence only.\nAnother.\n")
    assert document.title == "City council minutes"
    assert document.text == "One sentence only.\n\nAnother."


def test_hard_wrapped_paragraphs_are_joined_and_list_items_kept_apart(tmp_path: Path) -> None:
    text = (
        "Notes\n\nThe plan was agreed by all members of the committee after a long\n"
        "debate about costs.\nPopulation: 2.8 million\nArea: 839 km2\n\n"
        "- first item, which is long enough to wrap onto a second line of its\n"
        "  own in the file\n- second item\n"
    )
    document = load(tmp_path, "notes.txt", text)
    assert document.text.split("\n\n") == [
        "The plan was agreed by all members of the committee after a long debate about costs.",
        "Population: 2.8 million",
        "Area: 839 km2",
        "first item, which is long enough to wrap onto a second line of its own in the file",
        "second item",
    ]


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (ARTICLE, "utf-8"),
        (ARTICLE, "utf-8-sig"),
        (RUSSIAN, "utf-8-sig"),
        (RUSSIAN, "utf-16"),
        (UKRAINIAN, "utf-16-le"),
        (UKRAINIAN, "utf-16-be"),
        (RUSSIAN, "cp1251"),
        (UKRAINIAN, "cp1251"),
    ],
)
def test_encodings(tmp_path: Path, text: str, encoding: str) -> None:
    data = text.encode(encoding)
    if encoding == "utf-16-le":
        data = b"\xff\xfe" + data
    elif encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    document = load(tmp_path, "doc.txt", data)
    title, body = text.strip().split("\n\n", 1)
    assert (document.title, document.text) == (title, body)


def test_newlines_nfc_and_no_break_spaces_are_normalised(tmp_path: Path) -> None:
    text = "Cafe\u0301 news\r\n\r\nPrices rose\u00a0by 5%.\rThen fell.\r\n"
    document = load(tmp_path, "cafe.txt", text)
    assert document.title == "Café news"
    assert document.text == "Prices rose by 5%.\n\nThen fell."


def test_front_matter_gives_title_date_and_url(tmp_path: Path) -> None:
    text = (
        "---\ntitle: Bridge reopens\ndate: 2021-05-25\nurl: https://example.com/bridge\n---\n"
        "The city reopened the old bridge.\n"
    )
    document = load(tmp_path, "bridge.txt", text)
    assert (document.title, document.date, document.url) == (
        "Bridge reopens",
        "2021-05-25",
        "https://example.com/bridge",
    )
    assert document.text == "The city reopened the old bridge."


@pytest.mark.parametrize("sidecar", ["bridge.txt.meta.json", "bridge.meta.json"])
def test_sidecar_overrides_front_matter(tmp_path: Path, sidecar: str) -> None:
    meta = {"title": "Official title", "date": "2021-06-01T09:30:00+03:00", "url": "https://x.org"}
    (tmp_path / sidecar).write_text(json.dumps(meta))
    document = load(tmp_path, "bridge.txt", "---\ntitle: Old\ndate: 2020-01-01\n---\nBody text.")
    assert (document.title, document.date, document.url) == (
        "Official title",
        "2021-06-01",
        "https://x.org",
    )
    assert [path.name for path in iter_corpus_files(tmp_path)] == ["bridge.txt"]


def test_broken_sidecar_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.txt.meta.json").write_text("{not json")
    assert "a.txt.meta.json" in reason(tmp_path, "a.txt", b"Some text.")


def test_markdown_syntax_is_stripped(tmp_path: Path) -> None:
    text = (
        "# Budget *2022*\n\nThe **council** approved [the plan](https://x.org/plan) and\n"
        "a `reserve_fund`.\n\n## Details\n\n- schools\n* roads\n1. parks\n\n"
        "> quoted words\n\n```\nprint('kept')\n```\n"
    )
    document = load(tmp_path, "budget.md", text)
    assert document.title == "Budget 2022"
    assert document.text.split("\n\n") == [
        "The council approved the plan and a reserve_fund.",
        "Details",
        "schools",
        "roads",
        "parks",
        "quoted words",
        "print('kept')",
    ]


# --- HTML -------------------------------------------------------------------------------

HTML = """<!doctype html><html><head>
<title>Bridge reopens | City News</title>
<meta property="article:published_time" content="2021-05-25T10:00:00Z">
<link rel="canonical" href="https://news.example/bridge">
<style>p { color: red }</style><script>var x = "<p>not text</p>";</script>
</head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a></nav>
<h1>Bridge reopens</h1></header>
<article><p>The city reopened the <b>old</b> bridge&nbsp;on Monday.</p>
<ul><li>Cars allowed</li><li>Buses allowed</li></ul>
<aside>Most read</aside><p>Work took two years.<br>It cost &euro;2m.</p>
<form><button>Subscribe</button></form></article>
<footer>© 2021 City News</footer></body></html>"""


def test_html_text_title_date_and_canonical_url(tmp_path: Path) -> None:
    document = load(tmp_path, "bridge.html", HTML)
    assert document.title == "Bridge reopens"
    assert document.date == "2021-05-25"
    assert document.url == "https://news.example/bridge"
    assert document.text.split("\n\n") == [
        "The city reopened the old bridge on Monday.",
        "Cars allowed",
        "Buses allowed",
        "Work took two years.",
        "It cost €2m.",
    ]


def test_html_fallbacks_og_url_meta_date_and_time(tmp_path: Path) -> None:
    page = (
        '<meta property="og:url" content="https://og.example/a"><meta name="date" '
        'content="2020-02-03"><p>Body <time datetime="2019-01-01">then</time>.</p>'
    )
    document = load(tmp_path, "page.htm", page)
    assert (document.url, document.date, document.title) == (
        "https://og.example/a",
        "2020-02-03",
        "Page",
    )
    time_only = load(tmp_path, "t.html", '<p>At <time datetime="2019-01-01T08:00">dawn</time>.</p>')
    assert time_only.date == "2019-01-01"


def test_html_in_cp1251_with_declared_charset(tmp_path: Path) -> None:
    page = '<meta charset="windows-1251"><title>Новости</title><p>Мост открыли.</p>'
    document = load(tmp_path, "ru.html", page.encode("cp1251"))
    assert (document.title, document.text) == ("Новости", "Мост открыли.")


def test_html_nested_ten_thousand_deep(tmp_path: Path) -> None:
    page = "<div>" * 10_000 + "<p>Deep text.</p>" + "<span>" * 10_000 + "Unclosed tail."
    document = load(tmp_path, "deep.html", page)
    assert document.text == "Deep text.\n\nUnclosed tail."


# --- PDF --------------------------------------------------------------------------------


def test_pdf_paragraphs_hyphens_page_numbers_and_running_headers(tmp_path: Path) -> None:
    header = "City Council Minutes 2021"
    pdf = make_pdf(
        [
            [header, "The council met in March and agreed on a new infor-",
             "mation policy for all of its regional offices.", "Page 1 of 3"],
            [header, "Members asked for a report on the costs of roads, bridges and",
             "schools before the recess.", "2"],
            [header, "The next meeting is in June.", "3"],
        ]
    )  # fmt: skip
    document = load(tmp_path, "minutes.pdf", pdf)
    assert document.text == (
        "The council met in March and agreed on a new information policy for all of its "
        "regional offices. Members asked for a report on the costs of roads, bridges and "
        "schools before the recess.\n\nThe next meeting is in June."
    )
    assert header not in document.text


def test_pdf_title_from_metadata(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Some text here."]]))))
    writer.add_metadata({"/Title": "Minutes", "/CreationDate": "D:20210525120000Z"})
    buffer = io.BytesIO()
    writer.write(buffer)
    document = load(tmp_path, "m.pdf", buffer.getvalue())
    assert (document.title, document.date, document.text) == (
        "Minutes",
        "2021-05-25",
        "Some text here.",
    )


def test_encrypted_pdf(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Secret text."]]))))
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "PDF is encrypted" in reason(tmp_path, "locked.pdf", buffer.getvalue())


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    assert "no text layer" in reason(tmp_path, "scan.pdf", make_pdf([[], []]))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"this is not a pdf at all", "not a PDF"),
        (b"%PDF-1.4\ngarbage\n%%EOF\n", "damaged"),
        (make_pdf([["Some text here."]])[:300], "truncated"),
    ],
)
def test_broken_pdfs(tmp_path: Path, data: bytes, expected: str) -> None:
    assert expected in reason(tmp_path, "broken.pdf", data)


# --- DOCX -------------------------------------------------------------------------------


def test_docx_paragraphs_headings_lists_tables_and_properties(tmp_path: Path) -> None:
    def build(document: DocxDocument) -> None:
        document.core_properties.created = datetime(2021, 5, 25, tzinfo=UTC)
        document.add_heading("Bridge report", level=1)
        document.add_paragraph("The bridge reopened on Monday.")
        document.add_paragraph("cars", style="List Bullet")
        document.add_paragraph("buses", style="List Bullet")
        table = document.add_table(rows=1, cols=2)
        table.rows[0].cells[0].text = "Cost"
        table.rows[0].cells[1].text = "€2m"

    document = load(tmp_path, "report.docx", make_docx(build))
    assert document.title == "Bridge report"
    assert document.date == "2021-05-25"
    assert document.text.split("\n\n") == [
        "The bridge reopened on Monday.",
        "cars",
        "buses",
        "Cost",
        "€2m",
    ]


def test_docx_title_from_core_properties(tmp_path: Path) -> None:
    def build(document: DocxDocument) -> None:
        document.core_properties.title = "Official title"
        document.add_paragraph("Body.")

    assert load(tmp_path, "t.docx", make_docx(build)).title == "Official title"


def test_docx_that_is_a_zip_of_junk(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("junk.bin", b"\x00\x01 nothing useful")
    assert ".docx" in reason(tmp_path, "junk.docx", buffer.getvalue())
    assert ".docx" in reason(tmp_path, "garbage.docx", b"PK\x03\x04 truncated")


# --- other bad files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n \t", "empty"),
        ("junk.txt", bytes(range(256)) * 4, "binary"),
        ("controls.txt", b"\x01\x02\x03\x04abc\x05\x06", "binary"),
        ("latin1.txt", "Café crème brûlée à volonté".encode("latin-1"), "cannot decode"),
        ("broken-bom.txt", b"\xef\xbb\xbfok \xff\xfe", "UTF-8"),
        ("debris.txt", b"Advertisement\n\nShare on Facebook\n", "page debris"),
        ("styles.html", b"<style>p{}</style><script>x()</script>", "no text"),
        ("notes.rtf", b"{\\rtf1 hello}", "unsupported"),
    ],
)
def test_bad_files_raise_document_error(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    assert expected in reason(tmp_path, name, data)


def test_file_larger_than_the_limit(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="larger than"):
        load(tmp_path, "big.txt", "word " * 1000, max_bytes=1000)


def test_vanished_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="vanished"):
        load_document(tmp_path / "gone.txt", tmp_path)
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(DocumentError, match="folder"):
        load_document(tmp_path / "folder.txt", tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("Hidden text.")
    path.chmod(0)
    try:
        with pytest.raises(DocumentError, match="permission denied"):
            load_document(path, tmp_path)
    finally:
        path.chmod(0o644)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from(sorted(SUPPORTED_SUFFIXES)))
def test_any_bytes_give_a_document_or_a_document_error(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    try:
        document = load(tmp_path, f"fuzz{suffix}", data)
    except DocumentError:
        return
    assert document.text and "\n\n\n" not in document.text
    assert all(block == block.strip() and block for block in document.text.split("\n\n"))


# --- already-extracted text -------------------------------------------------------------


def test_document_from_text() -> None:
    text = "First paragraph here.\nSecond paragraph.\n\nAdvertisement\nThird one."
    document = document_from_text("doc7", "A title / REUTERS", text, path="corpus.jsonl")
    assert (document.doc_id, document.path, document.title) == ("doc7", "corpus.jsonl", "A title")
    assert document.text == "First paragraph here.\n\nSecond paragraph.\n\nThird one."
    assert document.content_hash == hashlib.sha256(text.encode()).hexdigest()


def test_document_from_text_with_nothing_left() -> None:
    with pytest.raises(DocumentError):
        document_from_text("doc8", "", "  \n Advertisement \n")
