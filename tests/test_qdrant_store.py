"""The Qdrant store: what only it does, in-process on Qdrant's engine (qdrant-edge-py) and
on the client's local mode, without a server.

Collections behind an alias, the indexer's lease, a killed indexer, copying an embedded
index, quality against the embedded store, and each failure as one clear line. The
behaviours both stores share run on both through the `store` and `seed_engine` fixtures
(tests/conftest.py). The last test runs the same scenario against a real server when
CITEBOT_QDRANT_URL is set, and is skipped otherwise.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import Store
from fake_encoder import HashingEncoder
from qdrant_client import models
from test_crash_safety import write_documents
from test_indexing import write_bad_files

from bot.cli import main
from retrieval.encoders.base import Encoder
from retrieval.engine import Engine
from retrieval.errors import IndexLockedError, IndexMismatchError, StoreUnreachableError
from retrieval.evaluation import evaluate
from retrieval.passages.cutting import PassageSettings
from retrieval.qdrant import indexing
from retrieval.qdrant.collection import live_collection
from retrieval.qdrant.connection import QdrantSettings, connect
from retrieval.qdrant.layout import KIND, LEASE, LEASE_ID
from retrieval.qdrant.lease import Lease
from retrieval.qdrant.searching import open_index
from retrieval.search.fusion import Fusion
from retrieval.search.searcher import Scoring, Searcher, default_scoring

# Read before conftest's fixture clears every CITEBOT_ variable.
SERVER = os.environ.get("CITEBOT_QDRANT_URL", "")
SERVER_KEY = os.environ.get("CITEBOT_QDRANT_API_KEY")
SETTINGS = PassageSettings()
SEED_FILE = "000_e2df237fec6388f8.txt"
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
RUNNER = Path(__file__).with_name("run_indexer.py")
QUESTION = "How many troops did Russia withdraw from Crimea?"


@pytest.fixture(params=["edge", "local"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def qdrant_engine(
    tmp_path: Path, corpus: Path, encoder: Encoder, kind: str, **settings: object
) -> Engine:
    return Store.named(f"qdrant-{kind}", tmp_path).engine(
        corpus, tmp_path / "index", encoder, PassageSettings(**settings)
    )


def test_edits_renames_and_deletes_are_followed_reusing_vectors(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder, kind: str
) -> None:
    engine = qdrant_engine(tmp_path, seed_corpus, encoder, kind)
    first = engine.build_index()
    assert first.passages_encoded == first.passages_total > 0
    again = engine.build_index()
    assert (again.unchanged, again.passages_encoded, again.changed) == ([SEED_FILE], 0, False)
    assert again.generation == first.generation

    (seed_corpus / "note.md").write_text(
        "# Grain corridor\n\nShips left Odesa with 26,000 tonnes of corn.", encoding="utf-8"
    )
    added = engine.build_index()
    assert (added.added, added.passages_encoded) == (["note.md"], 1)
    assert engine.search("How much corn left Odesa?").hits[0].source.path == "note.md"

    shutil.move(seed_corpus / SEED_FILE, seed_corpus / "renamed.txt")
    renamed = engine.build_index()
    assert renamed.added == ["renamed.txt"] and renamed.removed == [SEED_FILE]
    assert (renamed.passages_encoded, renamed.passages_reused) == (0, first.passages_total)
    hits = [hit.passage for hit in engine.search(QUESTION).hits]
    assert any(len(v) > 1 for v in engine.searcher().index.stored_sentences(hits))  # reused too

    (seed_corpus / "note.md").unlink()
    assert engine.build_index().removed == ["note.md"]
    assert list(engine.manifest().documents) == ["renamed.txt"]
    hits = engine.search(QUESTION).hits
    assert {hit.source.path for hit in hits} == {"renamed.txt"}
    assert len(engine.searcher().index) == first.passages_total
    assert not (tmp_path / "index").exists()  # the embedded store is left alone


def test_skipped_files_are_reported_by_status(
    store: Store, seed_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = write_bad_files(seed_corpus)
    options = ["--corpus", str(seed_corpus), "--index", str(tmp_path / "index")]
    assert main(["index", *options]) == 0
    capsys.readouterr()
    assert main(["status", "--json", *options]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {s["path"] for s in status["skipped"]} == set(expected)
    assert list(status["documents"]) == [SEED_FILE]


def test_a_rebuild_fills_a_new_collection_and_moves_the_alias(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder, kind: str
) -> None:
    serving = qdrant_engine(tmp_path, seed_corpus, encoder, kind)
    serving.build_index()
    client = serving.qdrant_client
    before = live_collection(client, "citebot")
    assert serving.search(QUESTION).answered

    other = qdrant_engine(tmp_path, seed_corpus, encoder, kind, max_tokens=64)
    with pytest.raises(IndexMismatchError, match="other passage settings"):
        other.searcher()
    report = other.build_index()
    assert report.rebuild_reason == "the passage settings changed"
    after = live_collection(client, "citebot")
    assert after != before
    assert [c.name for c in client.get_collections().collections] == [after]
    assert other.search(QUESTION).answered
    with pytest.raises(IndexMismatchError):  # readers with the old settings are told
        serving.searcher()


def test_a_second_indexer_is_refused_and_a_dead_ones_lease_is_taken_over(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder, kind: str
) -> None:
    engine = qdrant_engine(tmp_path, seed_corpus, encoder, kind)
    engine.build_index()
    client = engine.qdrant_client
    live = live_collection(client, "citebot")
    assert live is not None

    held = Lease(client, live)
    held.acquire()
    with pytest.raises(IndexLockedError, match="another indexer"):
        engine.build_index()
    held.release()
    engine.build_index()

    ended = subprocess.Popen(["true"])
    ended.wait()
    for holder, expires, refused in [
        (f"{socket.gethostname()} pid {ended.pid} killed", time.time() + 600, False),
        ("another-machine pid 1 abc", time.time() + 600, True),
        ("another-machine pid 1 abc", time.time() - 1, False),  # lapsed
    ]:
        payload = {KIND: LEASE, "holder": holder, "expires": expires}
        client.upsert(live, [models.PointStruct(id=LEASE_ID, vector={}, payload=payload)])
        if refused:
            with pytest.raises(IndexLockedError, match="another-machine"):
                engine.build_index()
        else:
            engine.build_index()
            assert not client.retrieve(live, [LEASE_ID])  # released after the run


def test_a_held_lease_is_renewed_until_released(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = qdrant_engine(tmp_path, seed_corpus, encoder, "edge")
    engine.build_index()
    client = engine.qdrant_client
    live = live_collection(client, "citebot")
    monkeypatch.setattr("retrieval.qdrant.lease.LEASE_SECONDS", 0.4)

    def expires() -> float:
        found = client.retrieve(live, [LEASE_ID])
        return float(found[0].payload["expires"]) if found else 0.0

    held = Lease(client, live)
    held.acquire()
    first = expires()
    time.sleep(0.5)  # longer than the lease: only the renewals keep it
    assert expires() > first > 0
    held.release()
    assert expires() == 0.0


def passages_in(settings: QdrantSettings) -> set[tuple[int, str, str]]:
    client = connect(settings)
    index = open_index(
        client, settings, model=HashingEncoder.name, passage_settings=CRASH_SETTINGS.fingerprint()
    )
    return {
        (p.id, p.doc_id, p.text)
        for doc in indexing.read_manifest(client, settings).documents
        for p in index.document_passages(doc)
    }


CRASH_SETTINGS = PassageSettings(max_tokens=60)


def run_indexer(corpus: Path, url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, str(RUNNER), str(corpus), "-", url, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_leaves_the_alias_on_a_complete_collection_and_the_next_run_finishes(
    tmp_path: Path, kind: str
) -> None:
    rng = random.Random(20261201)
    corpus, pristine = tmp_path / "corpus", tmp_path / "pristine"
    corpus.mkdir()
    write_documents(corpus, 50, version=0, rng=rng)
    assert run_indexer(corpus, f"{kind}:{pristine}").wait(timeout=120) == 0

    write_documents(corpus, 56, version=1, rng=random.Random(7))  # edits and additions
    for n in range(1, 30, 7):
        (corpus / f"doc-{n:03d}.txt").unlink()
    clean = tmp_path / "clean"
    shutil.copytree(pristine, clean)
    process = run_indexer(corpus, f"{kind}:{clean}")
    assert process.stdout and process.stdout.readline() == b"indexing\n"
    started = time.perf_counter()
    assert process.wait(timeout=120) == 0
    full_run = time.perf_counter() - started
    expected = passages_in(QdrantSettings(f"{kind}:{clean}"))

    interrupted = []
    for kill, extra in enumerate([(), ("rebuild",), (), ("rebuild",)]):
        folder = tmp_path / f"killed-{kill}"
        shutil.copytree(pristine, folder)
        process = run_indexer(corpus, f"{kind}:{folder}", *extra)
        assert process.stdout and process.stdout.readline() == b"indexing\n"
        time.sleep(rng.uniform(0.0, full_run))
        interrupted.append(process.poll() is None)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

        settings = QdrantSettings(f"{kind}:{folder}")
        client = connect(settings)
        index = open_index(
            client,
            settings,
            model=HashingEncoder.name,
            passage_settings=CRASH_SETTINGS.fingerprint(),
        )
        assert len(client.get_collections().collections) in (1, 2)  # 2: a rebuild's leftover
        searcher = Searcher(index, HashingEncoder(), Scoring(Fusion(), None, None, 0.0))
        assert searcher.search("tram depot harbour", k=3, explain=False).hits

        indexing.index_corpus(corpus, client, settings, HashingEncoder(), CRASH_SETTINGS)
        assert passages_in(settings) == expected
        assert len(client.get_collections().collections) == 1
    assert sum(interrupted) >= 2  # most kills land in the middle of a run


def test_an_embedded_index_is_copied_without_encoding(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder, kind: str
) -> None:
    embedded = Store.named("embedded", tmp_path).engine(
        seed_corpus, tmp_path / "index", encoder, SETTINGS
    )
    embedded.build_index()
    copied = qdrant_engine(tmp_path, seed_corpus, encoder, kind)
    report = copied.copy_to_qdrant()
    assert report.passages_total == len(embedded.searcher().index) and not report.passages_encoded

    for question in (QUESTION, "Скільки кораблів увійшло в Чорне море?", "chocolate cake"):
        one, other = embedded.search(question, 5), copied.search(question, 5)
        assert [h.passage.id for h in one.hits] == [h.passage.id for h in other.hits]
        for a, b in zip(one.hits, other.hits, strict=True):
            assert (a.dense, a.lexical, a.score) == pytest.approx(
                (b.dense, b.lexical, b.score), abs=1e-4
            )
            assert a.best_sentence == b.best_sentence
    passages = [hit.passage for hit in embedded.search(QUESTION, 5).hits]
    kept = embedded.searcher().index.stored_sentences(passages)
    copied_sentences = copied.searcher().index.stored_sentences(passages)
    assert any(len(vectors) > 1 for vectors in kept)
    for a, b in zip(kept, copied_sentences, strict=True):  # float16 in Qdrant
        assert len(a) == len(b) and (not len(a) or np.allclose(a, b, atol=2e-3))
    again = copied.build_index()  # the stamps came along: nothing to read again
    assert (again.unchanged, again.passages_encoded) == ([SEED_FILE], 0)


def test_eval_on_qdrant_matches_the_embedded_store(
    encoder: Encoder, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the second run reuses
    scoring = default_scoring(encoder.name)
    folder = EVAL / "uasquad_uk_dev"
    embedded = evaluate(folder, encoder, SETTINGS, scoring)
    in_process = QdrantSettings(f"{kind}:{tmp_path / 'qdrant'}")
    in_qdrant = evaluate(folder, encoder, SETTINGS, scoring, qdrant=in_process)
    assert in_qdrant.passages_encoded == 0
    figures = [
        (report.metrics.hit_at_1, report.metrics.mrr_at_10, report.metrics.ndcg_at_10)
        for report in (embedded, in_qdrant)
    ]
    assert figures[1] == pytest.approx(figures[0], abs=0.005)
    assert figures[0][0] > 0.8


# --- failures: one line each, and the embedded index left alone -------------------------


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request as a Qdrant with another API key does."""

    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = b'{"status":{"error":"Must provide an API key or an Authorization bearer token"}}'
        with contextlib.suppress(BrokenPipeError):  # a client that gave up waiting
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    do_POST = do_PUT = do_GET

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_each_failure_is_one_line_and_the_embedded_index_stays(
    indexed: list[str],
    refusing_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index_dir = Path(indexed[indexed.index("--index") + 1])
    before = sorted(p.relative_to(index_dir) for p in index_dir.rglob("*"))
    unreachable = f"http://127.0.0.1:{closed_port()}"
    cases = {
        unreachable: "cannot reach Qdrant",
        refusing_server: "refused the API key",
        f"{unreachable},{refusing_server}": "refused the API key",  # the next node answered
    }
    for url, message in cases.items():
        monkeypatch.setenv("CITEBOT_QDRANT_URL", url)
        for command in (["ask", "troops"], ["index"], ["status"]):
            assert main([*command, *indexed]) == 1
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and message in err, err

    _Refusing.delay = 3.0
    monkeypatch.setenv("CITEBOT_QDRANT_URL", refusing_server)
    monkeypatch.setenv("CITEBOT_QDRANT_TIMEOUT", "1")
    try:
        assert main(["ask", "troops", *indexed]) == 1
    finally:
        _Refusing.delay = 0.0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did not answer within 1 s" in err, err
    assert sorted(p.relative_to(index_dir) for p in index_dir.rglob("*")) == before


def test_a_collection_of_another_model_is_refused_in_one_line(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder, kind: str
) -> None:
    in_process = QdrantSettings(f"{kind}:{tmp_path / kind}")
    indexing.index_corpus(seed_corpus, connect(in_process), in_process, HashingEncoder(), SETTINGS)
    engine = qdrant_engine(tmp_path, seed_corpus, encoder, kind)
    with pytest.raises(IndexMismatchError, match=f"built with model {HashingEncoder.name}"):
        engine.search(QUESTION)


def test_the_bot_apologises_when_the_store_is_out_of_reach(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    unreachable = Store("server", QdrantSettings(f"http://127.0.0.1:{closed_port()}", timeout=1))
    engine = unreachable.engine(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    with pytest.raises(StoreUnreachableError) as failed:
        engine.search(QUESTION)
    from bot.telegram.phrases import ENGLISH, UKRAINIAN

    assert "out of reach" in ENGLISH.error(failed.value)
    assert "недоступне" in UKRAINIAN.error(failed.value)


# --- a real server ----------------------------------------------------------------------


@pytest.mark.skipif(not SERVER, reason="set CITEBOT_QDRANT_URL to a Qdrant server to run this")
def test_the_whole_scenario_on_a_real_server(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    """Two engines (two clients, as two machines would have) on one server collection."""
    settings = QdrantSettings(SERVER, SERVER_KEY, collection=f"citebot_test_{os.getpid()}")
    store = Store("server", settings)
    writer = store.engine(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    reader = store.engine(seed_corpus, tmp_path / "index", encoder, SETTINGS)
    try:
        writer.build_index()
        assert reader.search(QUESTION).answered
        (seed_corpus / "ferry.txt").write_text(
            "Ferry timetable\n\nThe night ferry to Odesa leaves at 23:40 from pier 7."
        )
        writer.build_index()
        assert reader.search("When does the night ferry leave?").hits[0].source.path == "ferry.txt"
        writer.build_index(rebuild=True)
        assert reader.search(QUESTION).answered
    finally:
        client = writer.qdrant_client
        live = live_collection(client, settings.collection)
        if live:
            client.delete_collection(live)
