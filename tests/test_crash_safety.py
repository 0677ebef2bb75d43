"""SIGKILL an indexer at random moments: the index on disk must always load and answer,
and the next run must end exactly where a clean rebuild does."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from fake_encoder import HashingEncoder

from retrieval.passages.cutting import PassageSettings
from retrieval.search.fusion import Fusion
from retrieval.search.searcher import Scoring, Searcher
from retrieval.store.generations import load_index
from retrieval.store.indexer import index_corpus

RUNNER = Path(__file__).with_name("run_indexer.py")
SCORING = Scoring(Fusion(), None, None, 0.0)
SETTINGS = PassageSettings(max_tokens=60)
ENCODER = HashingEncoder()
WORDS = [
    "harbour",
    "ferry",
    "bridge",
    "council",
    "budget",
    "river",
    "school",
    "station",
    "market",
    "hospital",
    "tram",
    "library",
    "stadium",
    "airport",
    "museum",
    "park",
    "street",
    "tower",
    "canal",
    "festival",
]


def write_documents(corpus: Path, count: int, version: int, rng: random.Random) -> None:
    for n in range(count):
        paragraphs = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 90))) + "."
            for _ in range(rng.randint(1, 4))
        ]
        text = f"Report {n} version {version}\n\n" + "\n\n".join(paragraphs)
        (corpus / f"doc-{n:03d}.txt").write_text(text, encoding="utf-8")


def run_indexer(corpus: Path, index_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, str(RUNNER), str(corpus), str(index_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def passages_of(index_dir: Path) -> set[tuple[int, str, str]]:
    stored = load_index(index_dir, model=ENCODER.name, passage_settings=SETTINGS.fingerprint())
    return {(p.id, p.doc_id, p.text) for p in stored.index.iter_passages()}


def test_sigkill_at_twenty_random_points_never_breaks_the_index(tmp_path: Path) -> None:
    rng = random.Random(20261130)
    corpus, pristine = tmp_path / "corpus", tmp_path / "pristine"
    corpus.mkdir()
    write_documents(corpus, 300, version=0, rng=rng)
    index_corpus(corpus, pristine, ENCODER, SETTINGS)
    old = passages_of(pristine)

    # The reindex to interrupt: files edited, deleted and added.
    write_documents(corpus, 330, version=1, rng=random.Random(7))
    for n in range(1, 60, 7):
        (corpus / f"doc-{n:03d}.txt").unlink()

    clean_dir = tmp_path / "clean-rebuild"
    started = time.perf_counter()
    clean = run_indexer(corpus, clean_dir)
    assert clean.wait(timeout=120) == 0, clean.stderr.read().decode() if clean.stderr else ""
    full_run = time.perf_counter() - started
    new = passages_of(clean_dir)
    assert new != old

    outcomes = []
    for kill in range(20):
        index_dir = tmp_path / f"killed-{kill}"
        shutil.copytree(pristine, index_dir)
        process = run_indexer(corpus, index_dir)
        time.sleep(rng.uniform(0.0, full_run))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

        current = passages_of(index_dir)  # must load: the previous generation or the new one
        assert current in (old, new)
        outcomes.append(current == new)
        searcher = Searcher(
            load_index(index_dir, model=ENCODER.name, passage_settings=None).index, ENCODER, SCORING
        )
        assert searcher.search("tram depot harbour", k=3, explain=False).hits

        index_corpus(corpus, index_dir, ENCODER, SETTINGS)
        assert passages_of(index_dir) == new
        assert not list(index_dir.glob(".gen-*.tmp")), "interrupted writes are cleaned up"
    assert not all(outcomes), "every kill came too late to interrupt anything"
