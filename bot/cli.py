"""`citebot`: index a folder of documents and ask it questions from the terminal.

Only the standard library loads before a command runs, so `citebot --help` is instant.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.printable import PrintableFormatter, printable
from bot.settings import MAX_TOP_K, Environment, Settings, read_environment, top_k
from retrieval.documents.decoding import replace_invalid
from retrieval.errors import CitebotError, CorpusEmptiedError

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger(__name__)

OFFLINE_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the command must survive the subparser's defaults.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--corpus", type=Path, help="documents folder (CITEBOT_CORPUS, corpus/)")
    common.add_argument("--index", type=Path, help="index folder (CITEBOT_INDEX, embeddings/)")
    common.add_argument("--model", help="embedding model name or folder (CITEBOT_MODEL)")
    common.add_argument(
        "--env-file",
        type=Path,
        help="read settings from this file (CITEBOT_ENV_FILE); otherwise only citebot's own .env",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log what happens")

    parser = argparse.ArgumentParser(
        prog="citebot",
        description="Answer questions from a folder of documents, citing the passages.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", parents=[common], help="build or update the index")
    index.add_argument("--rebuild", action="store_true", help="re-encode everything")
    index.add_argument(
        "--allow-empty",
        action="store_true",
        help="let this run remove every document (otherwise it asks at a terminal, or refuses)",
    )

    ask = commands.add_parser("ask", parents=[common], help="answer one question (or - for stdin)")
    ask.add_argument("question", help='the question, or "-" to read one question per line')
    ask.add_argument("--k", type=_k_option, help=K_HELP)
    ask.add_argument("--json", action="store_true", help="print JSON (one line per question)")
    ask.add_argument(
        "--since", type=_since, help="only documents dated on or after (2021-05-06, 2021-05, 2021)"
    )
    ask.add_argument("--until", type=_until, help="only documents dated on or before")
    ask.add_argument("--source", help="only documents whose path, URL or site contains this")

    chat = commands.add_parser("chat", parents=[common], help="ask questions interactively")
    chat.add_argument("--k", type=_k_option, help=K_HELP)

    status = commands.add_parser("status", parents=[common], help="what is indexed and skipped")
    status.add_argument("--json", action="store_true", help="print the manifest summary as JSON")
    status.add_argument("--files", action="store_true", help="list every file, not only problems")

    watch = commands.add_parser(
        "watch", parents=[common], help="reindex whenever documents change (Ctrl-C stops)"
    )
    watch.add_argument(
        "--debounce", type=int, default=1000, help="ms of quiet before reindexing (1000)"
    )

    evaluate = commands.add_parser(
        "eval", parents=[common], help="measure retrieval on a BEIR-layout question set"
    )
    evaluate.add_argument(
        "folder", type=Path, help="folder with corpus.jsonl, queries.jsonl, qrels/"
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.add_argument(
        "--no-cache", action="store_true", help="encode everything, reusing no earlier vectors"
    )

    commands.add_parser(
        "copy-to-qdrant",
        parents=[common],
        help="copy the embedded index into Qdrant (CITEBOT_QDRANT_URL), encoding nothing",
    )

    commands.add_parser(
        "telegram",
        parents=[common],
        help="run the Telegram bot (TELEGRAM_BOT_TOKEN)",
        description="Answer questions in Telegram with long polling until Ctrl-C or SIGTERM. "
        "Settings: TELEGRAM_* in .env (see .env.example).",
    )
    return parser


K_HELP = f"passages to show, 1 to {MAX_TOP_K} (CITEBOT_TOP_K, 3)"


def _k_option(raw: str) -> int:
    try:
        return top_k(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_TOP_K}") from None


def _since(raw: str) -> str:
    return _date(raw, end=False)


def _until(raw: str) -> str:
    return _date(raw, end=True)


def _date(raw: str, *, end: bool) -> str:
    from retrieval.search.filters import date_bound

    try:
        return date_bound(raw, end=end)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(getattr(args, "verbose", False))
    if isinstance(sys.stdin, io.TextIOWrapper):  # bad bytes arrive as surrogates, not errors
        sys.stdin.reconfigure(errors="surrogateescape")
    try:
        environment = read_environment(os.environ, getattr(args, "env_file", None))
        if environment.ignored:
            _note(
                f"not reading {environment.ignored}: settings come from the environment, "
                f"citebot's own .env or --env-file (--env-file {environment.ignored} reads it)"
            )
        for name, default in OFFLINE_DEFAULTS.items():
            os.environ.setdefault(name, environment.values.get(name, default))
        settings = Settings.from_mapping(environment.values)
        code = COMMANDS[args.command](args, settings, environment)
        sys.stdout.flush()  # here, where a closed pipe can still be told apart
        return code
    except CitebotError as exc:
        _note(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (head, less) has gone: stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _note(message: str) -> None:
    print(f"citebot: {printable(message)}", file=sys.stderr, flush=True)


def _question(raw: str) -> str:
    """The question, stripped, with undecodable bytes replaced and a note saying so."""
    question, bad = replace_invalid(raw)
    if bad:
        _note(f"the question is not valid UTF-8: {bad} bad byte(s) replaced with �")
    return question.strip()


def _engine(args: argparse.Namespace, settings: Settings) -> Engine:
    from retrieval.engine import Engine, EngineConfig
    from retrieval.passages.cutting import PassageSettings

    return Engine(
        EngineConfig(
            corpus=getattr(args, "corpus", settings.corpus),
            index_dir=getattr(args, "index", settings.index_dir),
            model=getattr(args, "model", settings.model),
            passages=PassageSettings(max_tokens=settings.max_passage_tokens),
            min_score=settings.min_score,
            fusion=settings.fusion,
            lexical_weight=settings.lexical_weight,
            reranker=settings.reranker,
            rerank_depth=settings.rerank_depth,
            approximate_from=settings.approximate_from,
            qdrant=settings.qdrant,
        )
    )


def run_index(args: argparse.Namespace, settings: Settings, _: Environment) -> int:
    from bot.terminal_format import format_index_report

    engine = _engine(args, settings)
    progress = sys.stderr.isatty()
    try:
        report = engine.build_index(
            rebuild=args.rebuild, progress=progress, allow_empty=args.allow_empty
        )
    except CorpusEmptiedError as exc:
        if not _confirm_emptying(exc):
            raise
        report = engine.build_index(rebuild=args.rebuild, progress=progress, allow_empty=True)
    print(format_index_report(report))
    return 0


def _confirm_emptying(exc: CorpusEmptiedError) -> bool:
    """Ask at a terminal before removing every document; never without one."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(
        f"citebot: every one of the {exc.documents} indexed documents is gone from the corpus "
        "folder (an unmounted share?).",
        file=sys.stderr,
    )
    try:
        answer = input("Remove them all from the index? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def run_ask(args: argparse.Namespace, settings: Settings, _: Environment) -> int:
    from bot.terminal_format import answer_to_dict, format_answer
    from retrieval.search.filters import Filters

    engine = _engine(args, settings)
    k = args.k or settings.top_k
    if args.question == "-":
        questions = (_question(line) for line in sys.stdin)
    else:
        questions = iter([_question(args.question)])
        if not args.question.strip():
            raise CitebotError("the question is empty: type a few words to search for")
    filters = Filters(args.since, args.until, args.source)
    for question in questions:
        if not question:
            continue
        answer = engine.search(question, k, filters)
        if args.json:
            print(json.dumps(answer_to_dict(answer), ensure_ascii=False), flush=True)
        else:
            print(format_answer(answer), flush=True)
    return 0


def run_chat(args: argparse.Namespace, settings: Settings, _: Environment) -> int:
    from bot.terminal_format import format_answer

    engine = _engine(args, settings)
    k = args.k or settings.top_k
    engine.searcher()  # load the index and model before the first prompt
    print("Ask a question about the documents (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = _question(input("? "))
        except EOFError:
            print()
            return 0
        if not question or question in {"quit", "exit"}:
            return 0
        try:
            print(format_answer(engine.search(question, k)))
        except CitebotError as exc:
            print(f"citebot: {exc}")


def run_status(args: argparse.Namespace, settings: Settings, _: Environment) -> int:
    """Exit status 1 when the index files do not match their manifest."""
    from bot.terminal_format import format_status
    from retrieval.store.changes import changes_since
    from retrieval.store.generations import damage

    engine = _engine(args, settings)
    manifest = engine.manifest()
    # Qdrant keeps its own storage whole; only the embedded store's files are checked.
    problems = damage(engine.config.index_dir) if settings.qdrant is None else []
    stale = changes_since(manifest, engine.config.corpus)
    if args.json:
        summary = json.loads(manifest.to_json())
        summary["out_of_date"] = stale
        summary["damaged"] = problems
        print(json.dumps(summary, ensure_ascii=False, indent=1))
    else:
        print(format_status(manifest, stale, problems, every_file=args.files))
    return 1 if problems else 0


def run_watch(args: argparse.Namespace, settings: Settings, _: Environment) -> int:
    from bot.terminal_format import format_index_report
    from retrieval.watch import watch_corpus

    engine = _engine(args, settings)
    print(f"Watching {printable(str(engine.config.corpus))}/ (Ctrl-C stops)", flush=True)
    watch_corpus(
        engine,
        lambda report: print(format_index_report(report), flush=True),
        debounce_ms=args.debounce,
    )
    return 0


def run_eval(args: argparse.Namespace, settings: Settings, _: Environment) -> int:
    from bot.terminal_format import eval_to_dict, format_eval
    from retrieval.evaluation import evaluate

    engine = _engine(args, settings)
    report = evaluate(
        args.folder,
        engine.encoder,
        engine.config.passages,
        engine.scoring,
        reranker=engine.reranker,
        progress=sys.stderr.isatty(),
        cache=not args.no_cache,
        qdrant=settings.qdrant,
    )
    print(json.dumps(eval_to_dict(report)) if args.json else format_eval(report))
    return 0


def run_copy_to_qdrant(args: argparse.Namespace, settings: Settings, _: Environment) -> int:
    from bot.terminal_format import format_index_report

    if settings.qdrant is None:
        raise CitebotError("set CITEBOT_QDRANT_URL to the Qdrant store to copy the index into")
    report = _engine(args, settings).copy_to_qdrant()
    print(format_index_report(report))
    return 0


def run_telegram(args: argparse.Namespace, settings: Settings, environment: Environment) -> int:
    from bot.telegram.app import run

    for setting in environment.guarded_from_file():
        _note(f"{setting} (from {environment.env_file})")
    run(settings, _engine(args, settings))
    return 0


COMMANDS = {
    "index": run_index,
    "ask": run_ask,
    "chat": run_chat,
    "status": run_status,
    "watch": run_watch,
    "eval": run_eval,
    "copy-to-qdrant": run_copy_to_qdrant,
    "telegram": run_telegram,
}


if __name__ == "__main__":
    sys.exit(main())
