"""A careless or hostile user's corpus, index folder, settings file and terminal.

Every case goes through the real `citebot` entry point (in-process `main`, or the installed
command where bytes, pipes or another user are involved) with the real model and FAISS.
Nothing outside the corpus is read, nothing raw reaches the terminal, no single file stops
indexing, and only what citebot wrote is ever deleted.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watch_reports import Reports

from bot.cli import main
from retrieval.encoders.base import Encoder
from retrieval.engine import Engine, EngineConfig
from retrieval.passages.cutting import PassageSettings
from retrieval.store.generations import CURRENT, MANIFEST, load_index, read_manifest
from retrieval.store.segment import SEGMENTS, VECTORS
from retrieval.watch import watch_corpus

CITEBOT = Path(sys.executable).with_name("citebot")
SEED_QUESTION = "How many troops did Russia withdraw from Crimea?"
SECRET = "TELEGRAM_BOT_TOKEN=123456:SECRET-harbour-token"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def options(corpus: Path, index: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(index)]


def live(index: Path) -> Path:
    return index / (index / CURRENT).read_text().strip()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files beside the corpus that must never reach an answer: an app's .env and notes."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / ".env").write_text(SECRET + "\n")
    (folder / "minutes.txt").write_text("Secret minutes of the harbour board: the pier is sold.")
    (folder / "meta.json").write_text(json.dumps({"title": "Title from outside the corpus"}))
    return folder


# --- 1. symbolic links -------------------------------------------------------------------


def test_links_out_of_the_corpus_are_never_read(
    seed_corpus: Path, tmp_path: Path, outside: Path, capsys
) -> None:
    (seed_corpus / "passwd.txt").symlink_to("/etc/passwd")
    (seed_corpus / "env.txt").symlink_to(outside / ".env")
    (seed_corpus / "minutes.txt").symlink_to(Path("..") / "app" / "minutes.txt")
    (seed_corpus / "notes").mkdir()
    (seed_corpus / "notes" / "pier.txt").write_text("The northern pier reopened after repairs.")
    (seed_corpus / "pier-link.txt").symlink_to(Path("notes") / "pier.txt")
    (seed_corpus / ".git").mkdir()
    (seed_corpus / ".git" / "config.txt").write_text("url = https://user:secret@example.org")
    (seed_corpus / "git-link.txt").symlink_to(Path(".git") / "config.txt")
    (seed_corpus / "captioned.txt").write_text("A note about the harbour captain.")
    (seed_corpus / "captioned.txt.meta.json").symlink_to(outside / "meta.json")
    index = tmp_path / "index"

    code, out, _ = run_cli(capsys, "index", *options(seed_corpus, index))

    assert code == 0
    for name in ("passwd.txt", "env.txt", "minutes.txt"):
        assert f"skipped  {name}: a symbolic link to a file outside the corpus" in out
    assert "skipped  git-link.txt: a symbolic link to a hidden file" in out
    assert "skipped  captioned.txt: metadata file captioned.txt.meta.json: a symbolic link" in out
    assert "added    pier-link.txt" in out  # a link that stays inside is followed
    code, out, _ = run_cli(
        capsys,
        "ask",
        "--json",
        "--k",
        "9",
        "secret harbour board token pier",
        *options(seed_corpus, index),
    )
    texts = " ".join(hit["text"] + hit["source"]["title"] for hit in json.loads(out)["hits"])
    assert "SECRET" not in texts and "Secret minutes" not in texts and "root:" not in texts
    assert "outside the corpus" not in texts


def test_a_link_retargeted_outside_loses_what_it_had(
    seed_corpus: Path, tmp_path: Path, outside: Path, capsys
) -> None:
    (seed_corpus / "notes.txt").write_text("Harbour notes: the ferry timetable changes in May.")
    (seed_corpus / "moving.txt").symlink_to("notes.txt")
    index = tmp_path / "index"
    assert run_cli(capsys, "index", *options(seed_corpus, index))[0] == 0
    (seed_corpus / "moving.txt").unlink()
    (seed_corpus / "moving.txt").symlink_to(outside / "minutes.txt")

    code, out, _ = run_cli(capsys, "index", *options(seed_corpus, index))

    assert code == 0
    assert "skipped  moving.txt: a symbolic link to a file outside the corpus" in out
    manifest = read_manifest(index)
    assert "moving.txt" not in manifest.documents and not manifest.failed
    stored = load_index(index, model=manifest.model, passage_settings=None)
    assert not any("pier is sold" in p.text for p in stored.index.iter_passages())


# --- 2. a file name that is not UTF-8 ------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_skipped_and_the_rest_indexed(
    seed_corpus: Path, tmp_path: Path, capsys
) -> None:
    bad_name = os.fsencode(seed_corpus) + b"/bad\xff name.txt"
    Path(os.fsdecode(bad_name)).write_text("A file whose name is not UTF-8, about ferries.")
    index = tmp_path / "index"

    code, out, _ = run_cli(capsys, "index", *options(seed_corpus, index))

    assert code == 0
    assert "1 added" in out
    assert "skipped  bad\\xff name.txt: the file name is not valid UTF-8: rename the file" in out
    (seed_corpus / "ferry.txt").write_text("The ferry to the island runs twice a day.")
    code, out, _ = run_cli(capsys, "index", *options(seed_corpus, index))
    assert code == 0 and "added    ferry.txt" in out  # the next run is not stuck on it
    code, out, _ = run_cli(capsys, "status", *options(seed_corpus, index))
    assert code == 0 and "skipped  bad\\xff name.txt" in out


def test_watch_goes_on_past_bad_names_and_refuses_to_empty_the_index(
    seed_corpus: Path, tmp_path: Path, encoder: Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(
        EngineConfig(seed_corpus, tmp_path / "index", encoder.name, PassageSettings()),
        encoder=encoder,
    )
    reports = Reports()

    def wait_for(condition: Callable[[], bool], what: str) -> None:
        assert reports.wait_for(condition), f"no report: {what}"

    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_corpus, args=(engine, reports), kwargs={"debounce_ms": 200, "stop": stop}
    )
    watcher.start()
    try:
        wait_for(lambda: len(reports) == 1, "the first index")
        Path(os.fsdecode(os.fsencode(seed_corpus) + b"/bad\xfe.txt")).write_text("ferries")
        wait_for(
            lambda: any(s.path == "bad\\xfe.txt" for r in reports.items for s in r.skipped),
            "the bad name skipped",
        )
        (seed_corpus / "ferry.txt").write_text("The ferry to the island runs twice a day.")
        wait_for(lambda: any("ferry.txt" in r.added for r in reports.items), "a later edit")
        seen = len(reports)
        for path in seed_corpus.iterdir():
            path.unlink()
        time.sleep(3.0)
        assert len(reports) == seen  # the emptying run was refused, not reported
        assert "is gone from" in caplog.text and "--allow-empty" in caplog.text
        assert watcher.is_alive()
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert engine.search(SEED_QUESTION).answered  # the last good index still serves


# --- 3. terminal escapes -------------------------------------------------------------------


def test_escape_sequences_reach_the_terminal_made_visible(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    hostile = "evil\x1b]0;pwned\x07 name.txt"
    (corpus / hostile).write_text(
        "\x1b[2JThe harbour master \x1b]8;;https://evil.example\x1b\\resigned\x1b]8;;\x1b\\ "
        "on Monday after the\x9b31m storm damaged the pier."
    )
    (corpus / (hostile + ".meta.json")).write_text(
        json.dumps({"title": "\x1b[31mRed title\x1b[0m", "url": "https://x.example/\x1b[5m"})
    )
    (corpus / "line\nbreak.txt").write_text("A file whose name breaks lines, about the pier.")
    index = tmp_path / "index"

    outputs = [run_cli(capsys, "index", *options(corpus, index))]
    outputs.append(
        run_cli(capsys, "ask", "\x1b[2JWho resigned after the storm?", *options(corpus, index))
    )
    outputs.append(run_cli(capsys, "status", "--files", *options(corpus, index)))
    monkeypatch.setattr("sys.stdin", io.StringIO("harbour master\x1b]0;x\x07\nquit\n"))
    outputs.append(run_cli(capsys, "chat", *options(corpus, index)))

    for code, out, err in outputs:
        assert code == 0, err
        assert not any(control in out + err for control in RAW_CONTROLS), out + err
    index_out, ask_out, status_out, chat_out = (out for _, out, _ in outputs)
    assert "evil\\x1b]0;pwned\\x07 name.txt" in index_out
    assert "line\\nbreak.txt" in index_out and "line\\nbreak.txt" in status_out
    assert "The harbour master ]8;;https://evil.example" in ask_out  # the escapes are gone
    assert "Red title" in ask_out and "Q: [2JWho resigned" in ask_out
    assert "harbour master" in chat_out


# --- 4. invalid UTF-8 on the command line and on stdin -----------------------------------


def test_invalid_utf8_in_an_argument_is_replaced_and_reported(indexed: list[str]) -> None:
    result = subprocess.run(
        [str(CITEBOT), "ask", b"How many troops did Russia withdraw \xff from Crimea?", *indexed],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert b"3,500" in result.stdout
    assert result.stderr.count(b"not valid UTF-8: 1 bad byte(s) replaced") == 1
    assert b"Traceback" not in result.stderr


def test_invalid_utf8_on_stdin_loses_no_question(
    indexed: list[str], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = b"How many troops \xff withdrew from Crimea?\nWho restricts \xfe\xfd navigation?\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines), encoding="utf-8"))
    code, out, err = run_cli(capsys, "ask", "--json", "-", *indexed)
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["query"] for a in answers] == [
        "How many troops \ufffd withdrew from Crimea?",
        "Who restricts \ufffd\ufffd navigation?",
    ]
    assert "3,500" in answers[0]["hits"][0]["text"]
    assert err.count("not valid UTF-8") == 2

    chat = b"What did Russia restrict \xff in the Black Sea?\nquit\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(chat), encoding="utf-8"))
    code, out, _ = run_cli(capsys, "chat", "--k", "1", *indexed)
    assert code == 0 and "restrict navigation" in out


# --- 5. the .env file ----------------------------------------------------------------------


def test_a_dotenv_in_the_working_directory_is_not_read(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "CITEBOT_INDEX=planted-index\nTELEGRAM_API_BASE_URL=http://127.0.0.1:9/bot\n"
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "status")
    assert code == 1
    assert f"not reading {tmp_path / '.env'}" in err
    assert "no index in embeddings/ yet" in err  # CITEBOT_INDEX from the file was not used

    code, _, err = run_cli(capsys, "status", "--env-file", ".env")
    assert "no index in planted-index/ yet" in err and "not reading" not in err


def test_guarded_settings_from_a_file_are_announced_or_refused(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "bot.env"
    settings.write_text("TELEGRAM_API_BASE_URL=http://127.0.0.1:9/bot\nTELEGRAM_ADMINS=42\n")
    settings.chmod(0o600)
    code, _, err = run_cli(capsys, "telegram", "--env-file", str(settings))
    assert code == 1 and "TELEGRAM_BOT_TOKEN is not set" in err  # no token: it stops there
    assert f"TELEGRAM_API_BASE_URL=http://127.0.0.1:9/bot (from {settings})" in err
    assert f"TELEGRAM_ADMINS=42 (from {settings})" in err

    settings.chmod(0o666)
    code, _, err = run_cli(capsys, "status", "--env-file", str(settings))
    assert code == 1
    assert "sets TELEGRAM_API_BASE_URL, TELEGRAM_ADMINS but other users can change" in err

    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "")  # the environment wins over the file
    monkeypatch.setenv("TELEGRAM_ADMINS", "")
    code, _, err = run_cli(capsys, "status", "--env-file", str(settings))
    assert "other users can change" not in err


# --- 6. clean-up deletes only what citebot wrote -------------------------------------------


def test_cleanup_deletes_only_generations_citebot_wrote(
    seed_corpus: Path, tmp_path: Path, capsys
) -> None:
    index = tmp_path / "index"
    for name in ("gen-2021-photos", "gen-zzz", "gen-1234", ".gen-x.tmp"):
        (index / name).mkdir(parents=True)
        (index / name / "keep.txt").write_text("the user's own")
    for edit in range(4):
        (seed_corpus / "edit.txt").write_text(f"Harbour edit number {edit}.")
        assert run_cli(capsys, "index", *options(seed_corpus, index))[0] == 0
    names = sorted(path.name for path in index.iterdir())
    generations = [name for name in names if name.startswith("gen-") and len(name) == 23]
    assert len(generations) == 2 and live(index).name == generations[-1]
    for name in ("gen-2021-photos", "gen-zzz", "gen-1234", ".gen-x.tmp"):
        assert (index / name / "keep.txt").is_file()


# --- 7, 10. a damaged index: wrong manifest shape, truncated or shortened files ------------


@pytest.mark.parametrize("manifest", ['{"documents": 5}', "null", '{"documents": {"a": 1}}'])
def test_a_manifest_of_the_wrong_shape_is_damage_and_index_heals_it(
    indexed: list[str], capsys, manifest: str
) -> None:
    index = Path(indexed[-1])
    (live(index) / MANIFEST).write_text(manifest)
    for command in ("ask", "status"):
        argv = [command, SEED_QUESTION] if command == "ask" else [command]
        code, _, err = run_cli(capsys, *argv, *indexed)
        assert code == 1
        assert "is damaged (the manifest has the wrong shape" in err
        assert len(err.strip().splitlines()) == 1
    code, out, _ = run_cli(capsys, "index", *indexed)
    assert code == 0 and "Rebuilt the whole index" in out
    assert "3,500" in run_cli(capsys, "ask", SEED_QUESTION, *indexed)[1]


def test_status_checks_the_files_it_reports_on(indexed: list[str], capsys) -> None:
    index = Path(indexed[-1])
    [segment] = json.loads((live(index) / MANIFEST).read_text())["segments"]
    vectors = index / SEGMENTS / segment / VECTORS
    with open(vectors, "r+b") as file:
        file.truncate(vectors.stat().st_size // 2)
    code, out, _ = run_cli(capsys, "status", *indexed)
    assert code == 1
    assert "Damaged:" in out and f"{segment}/vectors.npy is" in out
    assert "run `citebot index`" in out
    code, _, err = run_cli(capsys, "ask", SEED_QUESTION, *indexed)
    assert code == 1 and "damaged" in err
    assert run_cli(capsys, "index", *indexed)[0] == 0
    assert run_cli(capsys, "status", *indexed)[0] == 0

    # A manifest that claims rows past the end of its segment (files swapped by hand).
    generation = live(index)
    manifest = json.loads((generation / MANIFEST).read_text())
    [entry] = manifest["documents"].values()
    entry["passages"] += 5
    (generation / MANIFEST).write_text(json.dumps(manifest))
    code, out, _ = run_cli(capsys, "status", "--json", *indexed)
    assert code == 1
    rows = entry["passages"] - 5
    assert json.loads(out)["damaged"] == [
        f"{entry['segment']} holds {rows} passages, the manifest needs {rows + 5}"
    ]


# --- 8. a read-only index folder -----------------------------------------------------------


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can enter (pytest's own temporary folders are private)."""
    folder = Path(tempfile.mkdtemp(prefix="citebot-shared-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def as_another_user(argv: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run citebot as `nobody` when we are root, since root writes a read-only folder."""
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    return subprocess.run(
        [*(prefix if os.geteuid() == 0 else []), str(CITEBOT), *argv],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(home), **env},
    )


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="needs setpriv")
def test_a_read_only_index_folder_fails_before_encoding_and_keeps_serving(
    shared_folder: Path, encoder: Encoder
) -> None:
    corpus, index, home = (shared_folder / name for name in ("corpus", "index", "home"))
    shutil.copytree(Path(__file__).resolve().parents[1] / "corpus", corpus)
    home.mkdir()
    home.chmod(0o777)
    Engine(
        EngineConfig(corpus, index, encoder.name, PassageSettings()), encoder=encoder
    ).build_index()
    for path in [shared_folder, *shared_folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (corpus / "ferry.txt").write_text("The ferry to the island runs twice a day.")
    index.chmod(0o555)

    result = as_another_user(["index", *options(corpus, index)], home)

    assert result.returncode == 1
    assert result.stderr.startswith(f"citebot: cannot write to the index folder {index}/")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    answer = as_another_user(["ask", SEED_QUESTION, *options(corpus, index)], home)
    assert answer.returncode == 0 and "3,500" in answer.stdout

    # A model cache this user may not even read (another account's XDG_CACHE_HOME).
    private = shared_folder / "private-cache"
    private.mkdir(mode=0o700)
    answer = as_another_user(
        ["ask", SEED_QUESTION, *options(corpus, index)], home, XDG_CACHE_HOME=str(private)
    )
    assert answer.returncode == 0 and "3,500" in answer.stdout


# --- 9. sidecar limits ----------------------------------------------------------------------


def test_sidecars_are_read_within_limits(seed_corpus: Path, tmp_path: Path, capsys) -> None:
    (seed_corpus / "huge.txt").write_text("A note with a giant sidecar, about the harbour.")
    with open(seed_corpus / "huge.txt.meta.json", "wb") as sidecar:
        sidecar.truncate(500 * 1024 * 1024)  # sparse: costs no disk, and must not be read
    (seed_corpus / "long-title.txt").write_text("A note whose sidecar has a long title.")
    (seed_corpus / "long-title.txt.meta.json").write_text(
        json.dumps({"title": "Harbour " * 6000, "url": "https://e.org/" + "x" * 5000})
    )
    index = tmp_path / "index"
    code, out, _ = run_cli(capsys, "index", *options(seed_corpus, index))
    assert code == 0
    assert "skipped  huge.txt: metadata file huge.txt.meta.json: file is larger than 64 KB" in out
    entry = read_manifest(index).documents["long-title.txt"]
    assert len(entry.title) <= 300 and entry.title.endswith("…")
    assert entry.url is None


# --- the smaller cases ----------------------------------------------------------------------


def test_empty_questions_and_out_of_range_k_are_refused(indexed: list[str], capsys) -> None:
    for question in ("", "   "):
        code, out, err = run_cli(capsys, "ask", question, *indexed)
        assert code == 1 and out == ""
        assert err == "citebot: the question is empty: type a few words to search for\n"
    for k in ("0", "-3", "100000", "many"):
        with pytest.raises(SystemExit) as stopped:
            main(["ask", "--k", k, SEED_QUESTION, *indexed])
        assert stopped.value.code == 2
        assert "must be a whole number from 1 to 50" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_output_quietly(indexed: list[str]) -> None:
    for argv in (["index"], ["ask", "--k", "50", SEED_QUESTION]):
        process = subprocess.Popen(
            [str(CITEBOT), *argv, *indexed],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        process.stdout.close()  # like `| head` that has read its fill
        _, err = process.communicate(timeout=120)
        assert process.returncode == 141, err
        assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_a_line_without_spaces_is_cut_to_the_passage_limit(
    tmp_path: Path, encoder: Encoder, capsys
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "dump.txt").write_text("Hexdump\n\n" + "0f3a" * 2500)
    index = tmp_path / "index"
    assert run_cli(capsys, "index", *options(corpus, index))[0] == 0
    stored = load_index(index, model=encoder.name, passage_settings=None)
    texts = [p.text for p in stored.index.document_passages("dump.txt")]
    assert len(texts) >= 7
    assert all(len(text) <= 200 * 8 for text in texts)
    assert "".join(text.removeprefix("Hexdump\n\n") for text in texts) == "0f3a" * 2500


def test_an_emptied_corpus_asks_first_and_keeps_the_index(
    indexed: list[str], seed_corpus: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in seed_corpus.iterdir():
        path.unlink()
    code, _, err = run_cli(capsys, "index", *indexed)
    assert code == 1
    assert "every one of the 1 indexed documents is gone from" in err
    assert "citebot index --allow-empty" in err
    assert "3,500" in run_cli(capsys, "ask", SEED_QUESTION, *indexed)[1]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, _ = run_cli(capsys, "index", *indexed)
    assert code == 1 and "Remove them all from the index? [y/N]" in out
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = run_cli(capsys, "index", *indexed)
    assert code == 0 and "1 removed" in out

    (seed_corpus / "again.txt").write_text("A new start for the harbour notes.")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert run_cli(capsys, "index", *indexed)[0] == 0
    for path in seed_corpus.iterdir():
        path.unlink()
    code, out, _ = run_cli(capsys, "index", "--allow-empty", *indexed)
    assert code == 0 and "1 removed" in out
