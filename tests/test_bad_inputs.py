"""Forty kinds of bad or odd input in one corpus: none may crash indexing or cost
another file its passages, and each one that cannot be indexed is reported with a reason.

24 kinds are skipped with a reason, 12 odd-but-readable ones are indexed, and 4 are not
documents at all (a symlinked folder loop, a folder named .txt, a hidden file, an Office
lock file) and must simply not be listed.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from document_builders import make_docx, make_pdf
from pypdf import PdfReader, PdfWriter

from retrieval.encoders.base import Encoder
from retrieval.passages.cutting import PassageSettings
from retrieval.store.generations import load_index, read_manifest
from retrieval.store.indexer import index_corpus

SEED = Path(__file__).resolve().parents[1] / "corpus" / "000_e2df237fec6388f8.txt"
PROSE = "The harbour reopened on Monday after repairs to the northern pier."


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["secret minutes"]]))))
    writer.encrypt("open sesame")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def image_only_pdf() -> bytes:
    return make_pdf([[]])


# name → (content, the word its skip reason must contain); content None means "make it here"
SKIPPED: dict[str, tuple[bytes, str]] = {
    "binary-junk.txt": (bytes(range(256)) * 64, "binary"),
    "zero-bytes.txt": (b"", "empty"),
    "whitespace-only.md": (b" \n\n\t \n", "empty"),
    "all-nul.txt": (b"\x00" * 4096, "binary"),
    "gzip-named.txt": (gzip.compress(PROSE.encode() * 50), "binary"),
    "png-named.html": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "binary"),
    "utf16-without-bom.txt": (PROSE.encode("utf-16-le"), "binary"),
    "not-a-pdf.pdf": (b"<html><body>an html page saved as pdf</body></html>", "PDF"),
    "truncated.pdf": (make_pdf([[PROSE]])[:200], "PDF"),
    "encrypted.pdf": (encrypted_pdf(), "encrypted"),
    "no-text-layer.pdf": (image_only_pdf(), "text layer"),
    "zip-of-junk.docx": (b"", "docx"),  # written below: a real zip with junk inside
    "renamed-text.docx": (PROSE.encode(), "docx"),
    "empty.docx": (make_docx(lambda document: None), "no text"),
    "scripts-only.html": (
        b"<html><head><script>var a=1;</script><style>p{}</style></head><body></body></html>",
        "no text",
    ),
    "debris-only.html": (
        "<p>Видео дня</p><p>Share on Facebook</p><p>Photo: Reuters</p>".encode(),
        "debris",
    ),
    "front-matter-only.md": (b"---\ntitle: Nothing here\ndate: 2024-01-01\n---\n", "no text"),
    "fifty-megabytes.txt": (b"", "larger than"),  # written below, sparse
    "five-megabyte-line.txt": (b"", "without a break"),  # written below
    "broken-sidecar.txt": (PROSE.encode(), "metadata"),
    "list-sidecar.txt": (PROSE.encode(), "metadata"),
    "broken-link.txt": (b"", "broken symbolic link"),  # made below
    "self-link.txt": (b"", "symbolic link"),  # made below: a link to itself
    "pipe.txt": (b"", "not a regular file"),  # made below
}

# name → a phrase that must be searchable once indexed
INDEXED: dict[str, tuple[bytes, str]] = {
    "cp1251.txt": ("Порт открылся в понедельник после ремонта.".encode("cp1251"), "Порт"),
    "utf16-bom.txt": (("\ufeff" + PROSE).encode("utf-16-le"), "harbour"),
    "utf8-bom.txt": (b"\xef\xbb\xbf" + PROSE.encode(), "harbour"),
    "invalid-utf8-but-cyrillic-cp1251.md": ("Новости: мост открыт.".encode("cp1251"), "мост"),
    "crlf line endings.txt": (b"Title line\r\n\r\nFirst paragraph here.\r\nSame one.\r\n", "First"),
    "имя на кириллице.txt": ("Документ с русским именем файла.".encode(), "Документ"),
    "name\nwith newline.txt": (b"A file whose name holds a newline.", "newline"),
    "unclosed-tags.html": (b"<html><body><p>Unclosed <b>bold <i>text about ships", "ships"),
    "nested-10000.html": (
        b"<div>" * 10_000 + b"<p>Deep inside the nesting sits a sentence.</p>" + b"</div>" * 10_000,
        "Deep inside",
    ),
    ("x" * 200) + ".txt": (b"A very long file name still indexes.", "long file name"),
    "control-chars.txt": (b"Some \x07bell and \x1b escape characters in prose.", "prose"),
    # Declares Latin-1 over cp1251 bytes: read as declared, it would be "Ïîðò îòêðûëñÿ".
    "misdeclared-charset.html": (
        b'<html><head><meta charset="iso-8859-1"></head><body><p>'
        + "Порт открылся в понедельник после ремонта причала.".encode("cp1251")
        + b"</p></body></html>",
        "Порт открылся",
    ),
}


def build_corpus(corpus: Path) -> None:
    shutil.copy(SEED, corpus / SEED.name)
    for name, (content, _) in {**SKIPPED, **INDEXED}.items():
        (corpus / name).write_bytes(content)
    with zipfile.ZipFile(corpus / "zip-of-junk.docx", "w") as archive:
        archive.writestr("word/junk.bin", os.urandom(512))
    with open(corpus / "fifty-megabytes.txt", "wb") as big:
        big.truncate(50 * 1024 * 1024)
        big.seek(0)
        big.write(PROSE.encode())
    (corpus / "five-megabyte-line.txt").write_bytes(b"lorem ipsum " * (5 * 1024 * 1024 // 12))
    (corpus / "broken-sidecar.txt.meta.json").write_text("{ not json")
    (corpus / "list-sidecar.meta.json").write_text("[1, 2]")
    (corpus / "broken-link.txt").unlink()
    (corpus / "broken-link.txt").symlink_to(corpus / "missing-target.txt")
    (corpus / "self-link.txt").unlink()
    (corpus / "self-link.txt").symlink_to("self-link.txt")
    (corpus / "pipe.txt").unlink()
    os.mkfifo(corpus / "pipe.txt")
    (corpus / "loop").symlink_to(corpus, target_is_directory=True)
    (corpus / "folder.txt").mkdir()
    (corpus / ".hidden.txt").write_text("hidden files are not documents")
    (corpus / "~$lock.docx").write_bytes(b"office lock file")


@pytest.fixture(scope="module")
def indexed_bad_corpus(
    tmp_path_factory: pytest.TempPathFactory, encoder: Encoder
) -> tuple[Path, Path, object]:
    corpus = tmp_path_factory.mktemp("bad-corpus")
    build_corpus(corpus)
    index_dir = tmp_path_factory.mktemp("bad-index")
    report = index_corpus(corpus, index_dir, encoder, PassageSettings())
    return corpus, index_dir, report


@pytest.mark.parametrize("name", sorted(SKIPPED))
def test_unindexable_file_is_skipped_with_its_reason(indexed_bad_corpus, name: str) -> None:
    _, index_dir, report = indexed_bad_corpus
    reasons = {s.path: s.reason for s in read_manifest(index_dir).skipped}
    assert name in reasons, f"{name} was not reported"
    assert SKIPPED[name][1].lower() in reasons[name].lower(), reasons[name]
    assert {s.path for s in report.skipped} == set(reasons)


@pytest.mark.parametrize("name", sorted(INDEXED))
def test_odd_but_readable_file_is_indexed(indexed_bad_corpus, encoder: Encoder, name: str) -> None:
    _, index_dir, _ = indexed_bad_corpus
    stored = load_index(index_dir, model=encoder.name, passage_settings=None)
    passages = stored.index.document_passages(name)
    assert passages, f"{name} has no passages"
    assert any(INDEXED[name][1] in p.text for p in passages)


def test_nothing_else_is_listed_and_the_seed_is_whole(
    indexed_bad_corpus, seed_engine, encoder: Encoder
) -> None:
    _, index_dir, report = indexed_bad_corpus
    manifest = read_manifest(index_dir)
    assert set(manifest.documents) == {SEED.name, *INDEXED}
    stored = load_index(index_dir, model=encoder.name, passage_settings=None)
    seed_alone = seed_engine.searcher().index.document_passages(SEED.name)
    assert [p.text for p in stored.index.document_passages(SEED.name)] == [
        p.text for p in seed_alone
    ]
    assert not report.failed


def test_file_vanishing_or_changing_while_read(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    (seed_corpus / "vanishing.txt").write_text(PROSE)
    (seed_corpus / "rewritten.txt").write_text(PROSE)
    real_load = index_corpus.__globals__["load_document"]

    def racing_load(path: Path, root: Path):
        if path.name == "vanishing.txt":
            path.unlink()
        if path.name == "rewritten.txt":
            path.write_text("Rewritten while the indexer was reading: ferries resume.")
        return real_load(path, root)

    monkeypatch.setitem(index_corpus.__globals__, "load_document", racing_load)
    report = index_corpus(seed_corpus, tmp_path / "index", encoder, PassageSettings())
    assert [s.path for s in report.skipped] == ["vanishing.txt"]
    assert "vanished" in report.skipped[0].reason
    monkeypatch.undo()
    again = index_corpus(seed_corpus, tmp_path / "index", encoder, PassageSettings())
    stored = load_index(tmp_path / "index", model=encoder.name, passage_settings=None)
    assert [p.text for p in stored.index.document_passages("rewritten.txt")] == [
        "Rewritten while the indexer was reading: ferries resume."
    ]
    assert again.passages_encoded == 0
