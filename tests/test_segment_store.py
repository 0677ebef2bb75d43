"""The segment store: a reindex writes what changed, merges keep segments few, the
approximate index finds what exact search finds, and a swap never makes a search wait."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from fake_encoder import HashingEncoder

from retrieval.engine import Engine, EngineConfig
from retrieval.passages.cutting import PassageSettings
from retrieval.store import ann, merging
from retrieval.store.generations import CURRENT, MANIFEST, load_index, read_manifest
from retrieval.store.index import exact_search
from retrieval.store.indexer import index_corpus
from retrieval.store.npy_rows import NpyRows
from retrieval.store.segment import SEGMENTS

ENCODER = HashingEncoder()
SETTINGS = PassageSettings()
WORDS = ["harbour", "ferry", "grain", "council", "bridge", "tram", "school", "market", "budget"]


def write(corpus: Path, name: str, seed: int, paragraphs: int = 3) -> None:
    rng = np.random.default_rng(seed)
    blocks = [
        " ".join(rng.choice(WORDS, 12)).capitalize() + f" {name} {seed} {n}."
        for n in range(paragraphs)
    ]
    (corpus / name).write_text(f"{name} title\n\n" + "\n\n".join(blocks), encoding="utf-8")


def segments_on_disk(root: Path) -> set[str]:
    return {path.name for path in (root / SEGMENTS).iterdir()}


def snapshot(root: Path) -> dict[int, tuple[str, str, bytes]]:
    """Every live passage by id: its document, text and vector."""
    index = load_index(root, model=ENCODER.name, passage_settings=SETTINGS.fingerprint()).index
    passages = list(index.iter_passages())
    vectors = index.vectors(p.id for p in passages)
    return {
        p.id: (p.doc_id, p.text, np.round(v, 5).tobytes())
        for p, v in zip(passages, vectors, strict=True)
    }


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for n in range(20):
        write(folder, f"doc-{n:02}.txt", n)
    return folder


def test_an_edit_writes_one_small_segment_and_leaves_the_rest(corpus: Path, tmp_path: Path):
    root = tmp_path / "index"
    index_corpus(corpus, root, ENCODER, SETTINGS)
    before = read_manifest(root)
    write(corpus, "doc-07.txt", 1000)

    report = index_corpus(corpus, root, ENCODER, SETTINGS)

    after = read_manifest(root)
    assert report.updated == ["doc-07.txt"]
    assert report.passages_encoded == after.documents["doc-07.txt"].passages
    [new] = set(after.segments) - set(before.segments)
    assert after.documents["doc-07.txt"].segment == new
    files = json.loads((root / SEGMENTS / new / "segment.json").read_text())
    assert files["rows"] == after.documents["doc-07.txt"].passages
    for doc_id, entry in after.documents.items():  # the others keep their rows: not copied
        old = before.documents[doc_id]
        same = (entry.segment, entry.first_row) == (old.segment, old.first_row)
        assert same == (doc_id != "doc-07.txt")
    texts = [text for _, text, _ in snapshot(root).values()]
    assert any("doc-07.txt 1000" in t for t in texts) and not any(
        "doc-07.txt 7 " in t for t in texts
    )


def test_merges_keep_segments_few_and_the_index_equal_to_a_rebuild(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(merging, "MAX_SEGMENTS", 4)
    root = tmp_path / "index"
    index_corpus(corpus, root, ENCODER, SETTINGS)
    for step in range(12):
        write(corpus, f"doc-{step % 5:02}.txt", 100 + step)  # edits
        write(corpus, f"new-{step:02}.txt", 200 + step)  # additions
        if step % 3 == 0:
            (corpus / f"doc-{10 + step // 3:02}.txt").unlink()  # deletions
        index_corpus(corpus, root, ENCODER, SETTINGS)
        assert len(read_manifest(root).segments) <= 4

    rebuilt = tmp_path / "rebuilt"
    index_corpus(corpus, rebuilt, ENCODER, SETTINGS)
    assert snapshot(root) == snapshot(rebuilt)
    query = ENCODER.encode_queries(["ferry harbour doc-03.txt"])
    ours = load_index(root, model=ENCODER.name, passage_settings=None).index
    fresh = load_index(rebuilt, model=ENCODER.name, passage_settings=None).index
    assert [ours.id_at(r) for r, _ in ours.search(query, 10)[0]] == [
        fresh.id_at(r) for r, _ in fresh.search(query, 10)[0]
    ]
    lexical = (ours.lexical.scores("ferry doc-03.txt"), fresh.lexical.scores("ferry doc-03.txt"))
    assert sorted(lexical[0][lexical[0] > 0]) == pytest.approx(sorted(lexical[1][lexical[1] > 0]))


def test_a_mostly_dead_segment_is_rewritten_and_unnamed_segments_are_deleted(
    corpus: Path, tmp_path: Path
) -> None:
    root = tmp_path / "index"
    index_corpus(corpus, root, ENCODER, SETTINGS)
    before = read_manifest(root)
    [first] = before.segments
    for n in range(12):
        (corpus / f"doc-{n:02}.txt").unlink()
    index_corpus(corpus, root, ENCODER, SETTINGS)
    manifest = read_manifest(root)
    [rewritten] = manifest.segments
    left = sum(e.passages for d, e in before.documents.items() if d >= "doc-12")
    assert rewritten != first and manifest.passage_count == left
    assert json.loads((root / SEGMENTS / rewritten / "segment.json").read_text())["rows"] == left
    (root / SEGMENTS / ".seg-1234567890123456789.tmp").mkdir()  # an interrupted write
    (root / SEGMENTS / "seg-2021-photos").mkdir()  # not ours
    write(corpus, "doc-15.txt", 5000)
    index_corpus(corpus, root, ENCODER, SETTINGS)
    kept = {name for gen in root.glob("gen-*") for name in _segments_of(gen)}
    assert segments_on_disk(root) == kept | {"seg-2021-photos"}
    assert first not in kept  # named by no kept generation any more: deleted


def _segments_of(generation: Path) -> list[str]:
    return list(json.loads((generation / MANIFEST).read_text())["segments"])


def test_the_approximate_index_finds_what_exact_search_finds(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(50, 64)).astype(np.float32)
    vectors = centres[rng.integers(0, 50, 5000)] + 0.6 * rng.normal(size=(5000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[rng.choice(5000, 100, replace=False)] + 0.05 * rng.normal(size=(100, 64))
    queries = queries.astype(np.float32)
    ann.build_graph(vectors, tmp_path / ann.APPROXIMATE_FILE)
    graph = ann.read_graph(tmp_path / ann.APPROXIMATE_FILE)
    mask = rng.random(5000) > 0.2  # a fifth of the rows dead
    _, exact_rows = exact_search(vectors, queries, 10, mask)
    np.save(tmp_path / "vectors.npy", vectors)
    scores, rows = ann.search_graph(graph, NpyRows(tmp_path / "vectors.npy"), queries, 10, mask)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, exact_rows, strict=True)])
    assert recall >= 0.98
    assert mask[rows].all()  # dead rows never come back
    found = np.take_along_axis(queries @ vectors.T, rows, axis=1)
    assert np.allclose(scores, found, atol=1e-5)  # exact cosines, not 8-bit ones


def test_a_big_segment_gets_a_graph_and_searches_through_it(corpus: Path, tmp_path: Path):
    root = tmp_path / "index"
    index_corpus(corpus, root, ENCODER, SETTINGS, approximate_from=10)
    index = load_index(root, model=ENCODER.name, passage_settings=None, approximate_from=10).index
    [segment] = index.segments
    assert segment.approximate is not None
    query = ENCODER.encode_queries(["ferry harbour 4"])
    through_graph = index.search(query, 5)
    index.approximate = False
    assert through_graph == index.search(query, 5)  # a small graph finds the exact top
    index.approximate = True
    only = index.selection(["doc-09.txt"])  # a small share: scanned exactly
    assert {index.passages_at([r])[0].doc_id for r, _ in index.search(query, 5, only)[0]} == {
        "doc-09.txt"
    }


def test_a_search_never_waits_for_a_new_generation_to_load(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "index"
    config = EngineConfig(corpus, root, ENCODER.name, SETTINGS, min_score=0.1)
    engine = Engine(config, encoder=ENCODER)
    engine.build_index()
    first = engine.search("ferry harbour").generation
    write(corpus, "doc-01.txt", 777)
    engine.build_index()
    loading, release = threading.Event(), threading.Event()
    real_load = load_index

    def slow_load(*args, **kwargs):
        loading.set()
        release.wait(10)
        return real_load(*args, **kwargs)

    monkeypatch.setattr("retrieval.engine.load_index", slow_load)
    loader = threading.Thread(target=engine.search, args=("ferry",))
    loader.start()
    assert loading.wait(10)
    assert engine.search("ferry harbour").generation == first  # served at once, old index
    release.set()
    loader.join(10)
    assert engine.search("ferry harbour").generation == (root / CURRENT).read_text().strip()


def test_the_approximate_threshold_is_a_setting(
    seed_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from bot.cli import main

    monkeypatch.setenv("CITEBOT_APPROXIMATE_FROM", "1")
    options = ["--corpus", str(seed_corpus), "--index", str(tmp_path / "index")]
    assert main(["index", *options]) == 0
    assert list((tmp_path / "index" / SEGMENTS).glob(f"seg-*/{ann.APPROXIMATE_FILE}"))
    assert main(["ask", "How many Russian troops remain near Ukraine?", *options]) == 0
    assert "3,500" in capsys.readouterr().out
    monkeypatch.setenv("CITEBOT_APPROXIMATE_FROM", "-1")
    assert main(["ask", "troops", *options]) == 1
    assert "CITEBOT_APPROXIMATE_FROM='-1' is not a valid value" in capsys.readouterr().err


def test_an_index_folder_given_relative_to_the_working_folder_works(
    seed_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    options = ["--corpus", str(seed_corpus.relative_to(tmp_path)), "--index", "embeddings"]
    assert main(["index", *options]) == 0
    assert main(["ask", "How many Russian troops remain near Ukraine?", *options]) == 0
    assert "3,500" in capsys.readouterr().out


def test_rows_read_from_disk_equal_the_memory_mapped_ones(tmp_path: Path) -> None:
    matrix = np.random.default_rng(3).normal(size=(300, 24)).astype(np.float16)
    np.save(tmp_path / "m.npy", matrix)
    rows = NpyRows(tmp_path / "m.npy")
    assert rows.shape == (300, 24) and rows.dtype == np.float16
    assert np.array_equal(rows.take([299, 0, 17, 17]), matrix[[299, 0, 17, 17]])
    assert np.array_equal(rows.span(40, 90), matrix[40:90])
    assert rows.span(5, 5).shape == (0, 24)
    with pytest.raises(IndexError):
        rows.take([300])
    with pytest.raises(IndexError):
        rows.span(290, 301)
    np.save(tmp_path / "f.npy", np.asfortranarray(matrix))
    with pytest.raises(ValueError, match="C-ordered"):
        NpyRows(tmp_path / "f.npy")
