"""Shared fixtures: a clean environment for every test, and the stores an index can live in.

Tests that take `store` or `seed_engine` run on the embedded store and on Qdrant twice over,
without a server: on Qdrant's own engine in-process (`edge:`, qdrant-edge-py) and on the
client's local mode (`local:`). Both serve one process at a time, so tests that share an
index between processes stay on the embedded store; tests/test_qdrant_store.py runs that
scenario against a real server when CITEBOT_QDRANT_URL is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_bot_api import FakeBotApi

from bot.cli import main
from retrieval.encoders.base import DEFAULT_MODEL, Encoder, load_encoder
from retrieval.engine import Engine, EngineConfig
from retrieval.passages.cutting import PassageSettings
from retrieval.qdrant.connection import QdrantSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop the project's own variables so a developer's .env or shell never leaks in."""
    for name in list(os.environ):
        if name.startswith(("CITEBOT_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setattr("bot.settings.PROJECT_DIR", Path("/nonexistent/citebot"))


SEED_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The real packaged default model (multilingual-e5-small), loaded once for the run."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return load_encoder(DEFAULT_MODEL)


@pytest.fixture
def seed_corpus(tmp_path: Path) -> Path:
    """A private copy of the shipped corpus, free to edit."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    return corpus


# qdrant-client's local mode is a pure-Python stand-in for a server: its copies of the
# store behaviour tests take over a minute and run with -m slow; Edge runs the same code
# on Qdrant's own engine, and test_qdrant_store.py covers local mode by default.
STORES = (
    "embedded",
    "qdrant-edge",
    pytest.param("qdrant-local", marks=pytest.mark.slow),
)


@dataclass(frozen=True)
class Store:
    """Where a test's index lives: the embedded folder, or a Qdrant folder in-process."""

    name: str
    qdrant: QdrantSettings | None

    @classmethod
    def named(cls, name: str, folder: Path) -> Store:
        kind = name.removeprefix("qdrant-")
        in_process = QdrantSettings(f"{kind}:{folder / kind}") if kind != name else None
        return cls(name, in_process)

    def engine(
        self, corpus: Path, index_dir: Path, encoder: Encoder, passages: PassageSettings
    ) -> Engine:
        config = EngineConfig(corpus, index_dir, DEFAULT_MODEL, passages, qdrant=self.qdrant)
        return Engine(config, encoder=encoder)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Each store in turn; the command line is pointed at it too."""
    chosen = Store.named(request.param, tmp_path)
    if chosen.qdrant is not None:
        monkeypatch.setenv("CITEBOT_QDRANT_URL", chosen.qdrant.url)
    return chosen


@pytest.fixture(scope="session", params=STORES)
def seed_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, encoder: Encoder
) -> Engine:
    """An engine over the shipped seed article, indexed once per store and shared read-only."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    engine = Store.named(request.param, index_dir).engine(
        SEED_CORPUS, index_dir, encoder, PassageSettings()
    )
    engine.build_index()
    return engine


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    """A strict fake Telegram Bot API on 127.0.0.1 (tests/fake_bot_api.py), privacy mode on."""
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture
def indexed(seed_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Command-line options for a freshly indexed copy of the seed corpus."""
    options = ["--corpus", str(seed_corpus), "--index", str(tmp_path / "index")]
    code = main(["index", *options])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "1 added" in out
    return options
