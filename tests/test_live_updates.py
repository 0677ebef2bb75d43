"""A running engine follows the index on disk: hot swap, watch mode, `chat` and the bot."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from conftest import Store
from fake_bot_api import FakeBotApi
from telegram.ext import Application
from telegram_fixtures import replies, talk
from watch_reports import Reports

from retrieval.encoders.base import DEFAULT_MODEL, Encoder
from retrieval.engine import Engine, EngineConfig
from retrieval.passages.cutting import PassageSettings
from retrieval.watch import watch_corpus

CITEBOT = Path(sys.executable).with_name("citebot")
FERRY = "The night ferry to Odesa now leaves at 23:40 from pier 7."
QUESTION = "When does the night ferry to Odesa leave?"


def engine_for(corpus: Path, index_dir: Path, encoder: Encoder) -> Engine:
    config = EngineConfig(corpus, index_dir, DEFAULT_MODEL, PassageSettings())
    return Engine(config, encoder=encoder)


def test_new_generation_is_swapped_in_and_queries_in_flight_keep_theirs(
    store: Store, seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    serving = store.engine(seed_corpus, tmp_path / "index", encoder, PassageSettings())
    serving.build_index()
    before = serving.searcher()  # a question in flight holds this searcher
    assert not before.search(QUESTION).answered

    (seed_corpus / "ferry.txt").write_text(f"Ferry timetable\n\n{FERRY}", encoding="utf-8")
    another_writer = store.engine(seed_corpus, tmp_path / "index", encoder, PassageSettings())
    another_writer.build_index()

    answer = serving.search(QUESTION)
    assert answer.answered and answer.hits[0].source.path == "ferry.txt"
    if store.qdrant is None:  # Qdrant serves every question from the live collection
        assert all(h.source.path != "ferry.txt" for h in before.search(QUESTION).hits)

    (seed_corpus / "ferry.txt").unlink()
    serving.build_index()
    assert all(h.source.path != "ferry.txt" for h in serving.search(QUESTION).hits)


def test_answers_outlive_their_index_and_know_it_is_stale(
    store: Store, seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    serving = store.engine(seed_corpus, tmp_path / "index", encoder, PassageSettings())
    serving.build_index()
    old_index = weakref.ref(serving.searcher().index)
    answer = serving.search(QUESTION, k=2)
    assert serving.more(answer, 4) is not None and len(serving.more(answer, 4).hits) == 4
    assert serving.neighbours(answer, answer.hits[0].passage)

    (seed_corpus / "ferry.txt").write_text(f"Ferry timetable\n\n{FERRY}", encoding="utf-8")
    serving.build_index()
    assert serving.more(answer, 4) is None
    assert serving.neighbours(answer, answer.hits[0].passage) is None
    gc.collect()
    assert old_index() is None  # kept answers do not keep their index alive


def test_a_new_generation_that_cannot_load_leaves_the_old_one_serving(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    index_dir = tmp_path / "index"
    serving = engine_for(seed_corpus, index_dir, encoder)
    serving.build_index()
    assert serving.search("troops withdrawn from Crimea").answered
    (index_dir / "CURRENT").write_text("gen-that-does-not-exist\n")
    assert serving.search("troops withdrawn from Crimea").answered


def test_watch_reindexes_after_a_burst_of_edits(
    store: Store, seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    engine = store.engine(seed_corpus, tmp_path / "index", encoder, PassageSettings())
    reports = Reports()
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_corpus, args=(engine, reports), kwargs={"debounce_ms": 300, "stop": stop}
    )
    watcher.start()
    try:
        assert reports.wait_for(lambda: len(reports) == 1)
        for n in range(5):  # one burst: a single reindex
            (seed_corpus / "ferry.txt").write_text(f"Ferry timetable\n\n{FERRY} Edit {n}.")
        (seed_corpus / "ignored.tmp").write_text("not a document")
        assert reports.wait_for(lambda: len(reports) >= 2)
        time.sleep(1.0)  # a second reindex for the same burst would arrive by now
        assert len(reports) == 2
        assert reports.items[1].added == ["ferry.txt"]
        assert engine.search(QUESTION).hits[0].source.path == "ferry.txt"
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive()


def test_chat_session_sees_a_reindex_without_restart(seed_corpus: Path, tmp_path: Path) -> None:
    options = ["--corpus", str(seed_corpus), "--index", str(tmp_path / "index")]
    subprocess.run([str(CITEBOT), "index", *options], check=True, capture_output=True)
    chat = subprocess.Popen(
        [str(CITEBOT), "chat", "--k", "1", *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert chat.stdin and chat.stdout
    chat.stdin.write(QUESTION + "\n")
    chat.stdin.flush()
    first = _read_answer(chat.stdout)
    assert "No passage matches this well" in first

    (seed_corpus / "ferry.txt").write_text(f"Ferry timetable\n\n{FERRY}", encoding="utf-8")
    subprocess.run([str(CITEBOT), "index", *options], check=True, capture_output=True)
    chat.stdin.write(QUESTION + "\n")
    chat.stdin.flush()
    second = _read_answer(chat.stdout)
    assert "23:40" in second and "ferry.txt" in second
    chat.stdin.close()
    assert chat.wait(timeout=60) == 0


def _read_answer(stdout) -> str:
    """Lines of one answer: from its "Q:" line up to the source line."""
    lines = []
    while True:
        line = stdout.readline()
        if not line:
            return "".join(lines)
        if line.lstrip("? ").startswith("Q:"):
            lines = []
        lines.append(line)
        if line.strip().startswith("Source:"):
            return "".join(lines)


def test_running_bot_answers_from_an_edit_indexed_elsewhere(
    store: Store, bot_api: FakeBotApi, seed_corpus: Path, tmp_path: Path, encoder: Encoder
) -> None:
    """The bot keeps polling while `citebot index` (or `watch`) runs elsewhere: another
    process on the embedded store, another engine (a client of its own on a server) on
    Qdrant."""
    serving = store.engine(seed_corpus, tmp_path / "index", encoder, PassageSettings())
    serving.build_index()
    chat = 4242

    async def scenario(application: Application) -> None:
        bot_api.push_message(chat, QUESTION)
        [before] = await replies(bot_api, chat, 1)
        assert "No passage matches this well" in before.text
        (seed_corpus / "ferry.txt").write_text(f"Ferry timetable\n\n{FERRY}", encoding="utf-8")
        other_process = store.engine(seed_corpus, tmp_path / "index", encoder, PassageSettings())
        await asyncio.to_thread(other_process.build_index)
        bot_api.push_message(chat, QUESTION)
        after = (await replies(bot_api, chat, 2))[-1]
        first = after.text.split("\n\n2. ")[0]
        assert "23:40" in first and "ferry.txt" in first

    talk(bot_api, serving, scenario)
    assert bot_api.errors == []
