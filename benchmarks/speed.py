"""Indexing throughput, question latency, cold start and peak memory, on real passages.

    .venv/bin/python benchmarks/speed.py [--passages 10000] [--model NAME]

The corpus is made of the evaluation sets' own documents (English, Russian and Ukrainian
Wikipedia paragraphs, then SciFact abstracts up to the size asked), one file each, so the
text is real. One run prints:
- passages/s of the bare encoder over the passages the indexer cuts, and of the whole
  `citebot index` pipeline on the same corpus (reading, cutting, encoding, BM25, writing),
  with their ratio;
- question latency in-process, p50/p99 over the sets' questions: encode + search + best
  sentence, as `ask` and the bot run it;
- cold start of `citebot ask` in a fresh process, median of 5, on this corpus and on the
  shipped one;
- peak RSS of indexing and of a process that serves those questions.
Indexing and serving are measured in their own processes, so their memory is their own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
SETS = ("xquad_en", "xquad_ru", "uasquad_uk_dev", "scifact")
CITEBOT = Path(sys.executable).with_name("citebot")
QUESTION = "How many troops did Russia withdraw from Crimea?"


def write_corpus(corpus: Path, passages_wanted: int) -> list[str]:
    """One file per evaluation document until about `passages_wanted` passages (3 words a
    token, 200 tokens a passage); returns the questions of the sets used."""
    written_words, questions = 0, []
    for name in SETS:
        for line in (EVAL / name / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
            if written_words > passages_wanted * 130:
                return questions
            document = json.loads(line)
            text = f"{document.get('title') or document['_id']}\n\n{document['text']}"
            (corpus / f"{name}-{len(list(corpus.iterdir())):06d}.txt").write_text(
                text, encoding="utf-8"
            )
            written_words += len(document["text"].split())
        queries = (EVAL / name / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        questions += [json.loads(line)["text"] for line in queries[:100]]
    return questions


def measured(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Seconds, peak RSS in MB and stdout of one command in its own process."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kb // 1024, done.stdout


def bare_encoder_rate(model: str, index_dir: Path) -> float:
    """Passages/s of the encoder alone, over the titled passages the index holds."""
    from retrieval.encoders.base import encode_in_batches, load_encoder
    from retrieval.records import titled_text
    from retrieval.store.generations import load_index

    encoder = load_encoder(model)
    index = load_index(index_dir, model=encoder.name, passage_settings=None).index
    texts = [titled_text(index.sources[p.doc_id].title, p.text) for p in index.iter_passages()]
    encoder.encode_passages(texts[:8])  # warm
    started = time.perf_counter()
    encode_in_batches(encoder.encode_passages, texts, dim=encoder.dim)
    return len(texts) / (time.perf_counter() - started)


SERVE = """
import json, sys, time
from pathlib import Path
from retrieval.engine import Engine, EngineConfig
from retrieval.passages.cutting import PassageSettings
corpus, index, model, questions = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
engine = Engine(EngineConfig(Path(corpus), Path(index), model, PassageSettings()))
searcher = engine.searcher()
searcher.search("warm up", 3)
times = []
for question in json.loads(Path(questions).read_text()):
    started = time.perf_counter()
    searcher.search(question, 3)
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--model", default=None, help="default: the shipped model")
    args = parser.parse_args()
    from retrieval.encoders.base import DEFAULT_MODEL

    model = args.model or DEFAULT_MODEL
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as scratch:
        corpus, index_dir = Path(scratch) / "corpus", Path(scratch) / "index"
        corpus.mkdir()
        questions = write_corpus(corpus, args.passages)
        (Path(scratch) / "questions.json").write_text(json.dumps(questions))
        where = ["--corpus", str(corpus), "--index", str(index_dir), "--model", model]
        seconds, index_mb, out = measured([str(CITEBOT), "index", *where], env)
        passages = int(out.split(" passages")[0].rsplit("· ", 1)[-1])
        bare_rate = bare_encoder_rate(model, index_dir)
        pipeline_rate = passages / seconds
        print(f"model {model}: {len(list(corpus.iterdir()))} files, {passages} passages")
        print(
            f"indexing: bare encoder {bare_rate:.1f} passages/s, whole pipeline "
            f"{pipeline_rate:.1f} passages/s (ratio {pipeline_rate / bare_rate:.2f}), "
            f"peak RSS {index_mb} MB"
        )
        _, serve_mb, out = measured(
            [
                sys.executable,
                "-c",
                SERVE,
                str(corpus),
                str(index_dir),
                model,
                str(Path(scratch) / "questions.json"),
            ],
            env,
        )
        times = sorted(1000 * t for t in json.loads(out))
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        print(
            f"questions ({len(times)}): p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            f"(encode + search + best sentence); serving peak RSS {serve_mb} MB"
        )
        shipped = ["--corpus", str(ROOT / "corpus"), "--index", str(Path(scratch) / "shipped")]
        shipped += ["--model", model]
        measured([str(CITEBOT), "index", *shipped], env)
        for label, options in (("this corpus", where), ("shipped corpus", shipped)):
            colds = []
            for _ in range(5):
                cold, _, _ = measured([str(CITEBOT), "ask", QUESTION, *options], env)
                colds.append(cold)
            print(f"cold `citebot ask` on {label}: median {statistics.median(colds):.2f} s")


if __name__ == "__main__":
    main()
