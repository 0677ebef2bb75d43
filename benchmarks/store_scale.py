"""What the segment store costs as the index grows: a one-file reindex, question latency and
memory, at 1k, 10k and 100k passages.

    .venv/bin/python benchmarks/store_scale.py [--sizes 1000 10000 100000] [--questions 200]

Each size runs in two fresh processes, so each peak RSS is its own:
- `index`: a synthetic corpus (files of ten 40-word paragraphs, one passage each) indexed
  with a hashing encoder standing in for the model (encoding 100k passages with e5 takes
  50 minutes and is measured by benchmarks/speed.py), then one file edited and reindexed
  three times: the store's own work. The real model adds its time per passage encoded.
- `serve`: the default encoder (int8 e5) answering questions one at a time through
  `Searcher.search` (encode + dense + BM25 + fusion + best sentence) over that index.
`--child index|edit|serve --folder DIR` runs one step alone and keeps DIR, so that
versions of the code can take turns on one big index (`edit`: the three edits again).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.encoders.base import DEFAULT_MODEL

PER_FILE = 10
VOCABULARY = 30_000  # words drawn with Zipf's law, as in news text: a few common, most rare


class HashingEncoder:
    """Deterministic unit vectors from a text's hash: no model, so 100k passages take seconds."""

    name = "benchmark/hashing"
    build = ""
    dim = 384
    max_tokens = 512

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())
            out[row] = np.random.default_rng(seed).normal(size=self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_queries = encode_passages

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def words(rng: np.random.Generator, n: int) -> str:
    ranks = np.minimum(rng.zipf(1.1, n), VOCABULARY)
    return " ".join(f"w{rank}" for rank in ranks)


def paragraph(rng: np.random.Generator) -> str:
    return words(rng, 40).capitalize() + "."


def write_corpus(corpus: Path, passages: int) -> None:
    rng = np.random.default_rng(1)
    for n in range(passages // PER_FILE):
        folder = corpus / f"batch-{n // 1000:03d}"
        folder.mkdir(exist_ok=True)
        body = "\n\n".join(paragraph(rng) for _ in range(PER_FILE))
        (folder / f"note-{n:06d}.txt").write_text(f"Note {n}\n\n{body}", encoding="utf-8")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_index(corpus: Path, root: Path, passages: int) -> dict:
    from retrieval.passages.cutting import PassageSettings
    from retrieval.store.indexer import index_corpus

    write_corpus(corpus, passages)
    full = index_corpus(corpus, root, HashingEncoder(), PassageSettings())
    return {
        "passages": full.passages_total,
        "full_s": full.seconds,
        **run_edits(corpus, root),
        "index_rss_mb": peak_rss_mb(),
    }


def run_edits(corpus: Path, root: Path) -> dict:
    """One file edited and reindexed, three times: the median time."""
    from retrieval.passages.cutting import PassageSettings
    from retrieval.store.indexer import index_corpus

    rng = np.random.default_rng(2)
    edits = []
    for n in range(3):
        target = corpus / "batch-000" / f"note-{n * 7:06d}.txt"
        target.write_text(target.read_text(encoding="utf-8") + "\n\n" + paragraph(rng))
        edits.append(index_corpus(corpus, root, HashingEncoder(), PassageSettings()))
    return {
        "edit_s": float(np.median([r.seconds for r in edits])),
        "edit_encoded": edits[0].passages_encoded,
    }


def run_serve(root: Path, questions: int) -> dict:
    from retrieval.encoders.base import load_encoder
    from retrieval.search.searcher import Searcher, default_scoring
    from retrieval.store.generations import load_index

    encoder = load_encoder(DEFAULT_MODEL)
    stored = load_index(root, model=HashingEncoder.name, passage_settings=None)
    searcher = Searcher(stored.index, encoder, default_scoring(encoder.name))
    rng = np.random.default_rng(3)
    asked = [words(rng, 6) + "?" for _ in range(questions + 10)]
    for question in asked[:10]:  # warm up the model and the page cache
        searcher.search(question, 5)
    times = []
    for question in asked[10:]:
        started = time.perf_counter()
        searcher.search(question, 5)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "serve_rss_mb": peak_rss_mb(),
    }


def child(mode: str, passages: int, folder: Path, questions: int) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--sizes", str(passages)]
    command += ["--folder", str(folder), "--questions", str(questions)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--child", choices=["index", "edit", "serve"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        corpus, root = args.folder / "corpus", args.folder / "index"
        corpus.mkdir(exist_ok=True)
        if args.child == "index":
            result = run_index(corpus, root, args.sizes[0])
        elif args.child == "edit":  # again, on a folder an `index` run left
            result = run_edits(corpus, root)
        else:
            result = run_serve(root, args.questions)
        print(json.dumps(result))
        return
    print(f"{os.cpu_count()} cores; store work: hashing encoder; questions: {DEFAULT_MODEL}")
    header = (
        f"{'passages':>9} {'full s':>7} {'edit s':>7} {'edit/full':>9} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'index RSS':>10} {'serve RSS':>10}"
    )
    print(header)
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            built = child("index", size, Path(scratch), args.questions)
            served = child("serve", size, Path(scratch), args.questions)
        print(
            f"{built['passages']:9,d} {built['full_s']:7.1f} {built['edit_s']:7.2f} "
            f"{built['edit_s'] / built['full_s']:9.1%} {served['p50_ms']:7.1f} "
            f"{served['p99_ms']:7.1f} {built['index_rss_mb']:8.0f}MB "
            f"{served['serve_rss_mb']:8.0f}MB"
        )


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
