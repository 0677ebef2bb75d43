"""Indexing a corpus folder: bad files, updates, the lock, and the files on disk."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from retrieval.encoders.base import DEFAULT_MODEL, Encoder
from retrieval.errors import IndexLockedError, IndexMismatchError, IndexStoreError
from retrieval.passages.cutting import PassageSettings
from retrieval.store.generations import load_index, read_manifest
from retrieval.store.indexer import index_corpus
from retrieval.store.lock import index_lock

SETTINGS = PassageSettings()
SEED_FILE = "000_e2df237fec6388f8.txt"


def write_bad_files(corpus: Path) -> dict[str, str]:
    """One file of each kind that cannot be indexed, and a word its reason must contain."""
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "junk.txt").write_bytes(bytes(range(256)) * 40)
    (corpus / "garbage.pdf").write_bytes(b"this is not a pdf at all")
    (corpus / "truncated.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    with zipfile.ZipFile(corpus / "junk.docx", "w") as archive:
        archive.writestr("junk.bin", b"\x00\x01 nothing like a word document")
    (corpus / "debris-only.html").write_text(
        "<html><body><p>Видео дня</p><p>Share on Facebook</p></body></html>", encoding="utf-8"
    )
    return {
        "empty.txt": "empty",
        "junk.txt": "binary",
        "garbage.pdf": "PDF",
        "truncated.pdf": "PDF",
        "junk.docx": "docx",
        "debris-only.html": "no text",
    }


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_indexed(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    expected = write_bad_files(seed_corpus)
    report = index_corpus(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == set(expected)
    for path, word in expected.items():
        assert word.lower() in reasons[path].lower(), (path, reasons[path])
    assert report.added == [SEED_FILE]
    manifest = read_manifest(tmp_path / "index")
    assert {s.path for s in manifest.skipped} == set(expected)
    assert list(manifest.documents) == [SEED_FILE]


def test_reindex_encodes_only_what_changed(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    index_dir = tmp_path / "index"
    first = index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    assert first.passages_encoded == first.passages_total > 0

    again = index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    assert (again.unchanged, again.passages_encoded, again.changed) == ([SEED_FILE], 0, False)
    assert again.generation == first.generation

    (seed_corpus / "note.md").write_text(
        "# Grain corridor\n\nShips left Odesa with 26,000 tonnes of corn.", encoding="utf-8"
    )
    added = index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    assert added.added == ["note.md"]
    assert added.passages_encoded == 1
    assert added.passages_reused == 0

    shutil.move(seed_corpus / SEED_FILE, seed_corpus / "renamed.txt")
    renamed = index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    assert renamed.added == ["renamed.txt"] and renamed.removed == [SEED_FILE]
    assert renamed.passages_encoded == 0
    assert renamed.passages_reused == first.passages_total

    (seed_corpus / "note.md").unlink()
    removed = index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    assert removed.removed == ["note.md"]
    stored = load_index(index_dir, model=encoder.name, passage_settings=SETTINGS.fingerprint())
    assert {p.doc_id for p in stored.index.iter_passages()} == {"renamed.txt"}
    assert len(stored.index) == first.passages_total


def test_changed_settings_trigger_a_full_rebuild(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    index_dir = tmp_path / "index"
    index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    other = PassageSettings(max_tokens=64)
    with pytest.raises(IndexMismatchError, match="other settings"):
        load_index(index_dir, model=encoder.name, passage_settings=other.fingerprint())
    report = index_corpus(seed_corpus, index_dir, encoder, other)
    assert report.rebuild_reason and "other settings" in report.rebuild_reason
    assert report.added == [SEED_FILE]
    load_index(index_dir, model=encoder.name, passage_settings=other.fingerprint())


def test_a_second_indexer_is_refused(seed_corpus: Path, tmp_path: Path, encoder: Encoder) -> None:
    index_dir = tmp_path / "index"
    with index_lock(index_dir), pytest.raises(IndexLockedError, match="another indexer"):
        index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    index_corpus(seed_corpus, index_dir, encoder, SETTINGS)  # the lock is free again


def test_generations_switch_atomically_and_old_ones_are_pruned(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    index_dir = tmp_path / "index"
    names = []
    for n in range(4):
        (seed_corpus / "extra.txt").write_text(f"Extra note number {n} on the Black Sea.")
        names.append(index_corpus(seed_corpus, index_dir, encoder, SETTINGS).generation)
    assert (index_dir / "CURRENT").read_text().strip() == names[-1]
    assert sorted(p.name for p in index_dir.glob("gen-*")) == names[-2:]
    assert not list(index_dir.glob(".*.tmp"))


def test_damaged_manifest_is_reported_with_the_fix(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    index_dir = tmp_path / "index"
    generation = index_corpus(seed_corpus, index_dir, encoder, SETTINGS).generation
    (index_dir / generation / "manifest.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(IndexStoreError, match=r"damaged .*citebot index --rebuild"):
        read_manifest(index_dir)


def test_manifest_records_model_dimension_and_hashes(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    index_dir = tmp_path / "index"
    generation = index_corpus(seed_corpus, index_dir, encoder, SETTINGS).generation
    data = json.loads((index_dir / generation / "manifest.json").read_text(encoding="utf-8"))
    assert data["format_version"] == 2
    assert data["model"] == DEFAULT_MODEL
    assert data["dim"] == 384
    assert data["passage_settings"] == SETTINGS.fingerprint()
    entry = data["documents"][SEED_FILE]
    assert len(entry["content_hash"]) == 64
    assert entry["passages"] == data["counts"]["passages"] > 0
    assert list(data["segments"]) == [entry["segment"]] and entry["first_row"] == 0
    stored = load_index(index_dir, model=encoder.name, passage_settings=SETTINGS.fingerprint())
    assert [p.doc_id for p in stored.index.iter_passages()] == [SEED_FILE] * entry["passages"]


def test_same_size_edit_within_one_clock_tick_is_caught(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    note = seed_corpus / "note.txt"
    note.write_text("The ferry leaves at noon.", encoding="utf-8")
    index_corpus(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    stamp = note.stat()
    note.write_text("The ferry leaves at nine.", encoding="utf-8")  # same size
    os.utime(note, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # as a coarse clock would
    report = index_corpus(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    assert report.updated == ["note.txt"]


def test_sidecar_edit_updates_the_source(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    sidecar = seed_corpus / f"{SEED_FILE}.meta.json"
    sidecar.write_text('{"url": "https://example.org/a", "date": "2021-05-25"}')
    index_corpus(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    sidecar.write_text('{"url": "https://example.org/b", "date": "2021-05-25"}')
    report = index_corpus(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    assert report.updated == [SEED_FILE]
    assert report.passages_encoded == 0, "same title and text: vectors are reused"
    manifest = read_manifest(tmp_path / "index")
    assert manifest.documents[SEED_FILE].url == "https://example.org/b"


def test_a_sidecar_added_later_is_found_by_either_name(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    index_corpus(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    stem = Path(SEED_FILE).stem
    (seed_corpus / f"{stem}.meta.json").write_text('{"url": "https://example.org/late"}')
    report = index_corpus(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    assert report.updated == [SEED_FILE]
    assert read_manifest(tmp_path / "index").documents[SEED_FILE].url == "https://example.org/late"
    (seed_corpus / f"{SEED_FILE}.meta.json").write_text('{"url": "https://example.org/own"}')
    report = index_corpus(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    assert report.updated == [SEED_FILE]  # NAME.EXT.meta.json comes first
    assert read_manifest(tmp_path / "index").documents[SEED_FILE].url == "https://example.org/own"


def test_a_file_that_turns_unreadable_keeps_its_previous_passages(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    index_dir = tmp_path / "index"
    first = index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    (seed_corpus / SEED_FILE).write_bytes(b"\x00\x01\x02 binary garbage now" * 50)
    report = index_corpus(seed_corpus, index_dir, encoder, SETTINGS)
    assert [f.path for f in report.failed] == [SEED_FILE]
    assert "binary" in report.failed[0].reason
    assert report.passages_total == first.passages_total
    manifest = read_manifest(index_dir)
    assert [f.path for f in manifest.failed] == [SEED_FILE]
    (seed_corpus / SEED_FILE).unlink()
    gone = index_corpus(seed_corpus, index_dir, encoder, SETTINGS, allow_empty=True)
    assert gone.removed == [SEED_FILE] and gone.passages_total == 0
