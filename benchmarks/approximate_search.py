"""Exact against approximate search, as the store runs them: recall@10, latency, build time
and memory by index size.

The vectors are synthetic but shaped like real ones: each is a random mix of two real e5
passage vectors (SciFact's, from `citebot eval`'s cache; run `citebot eval
../shared/eval/scifact` once first) plus noise, normalised; the questions are made the same
way. Exact search (`retrieval.store.index.exact_search` over memory-mapped float32 vectors) is the
baseline the graph (`retrieval.store.ann`: HNSW over 8-bit vectors, exact rescoring) is measured
against, in the same run, on one search thread as the product runs it.

    .venv/bin/python benchmarks/approximate_search.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from retrieval.store import ann
from retrieval.store.index import exact_search
from retrieval.store.npy_rows import NpyRows

CACHE = Path.home() / ".cache" / "citebot" / "eval"
QUESTIONS = 300
K = 10


def real_vectors() -> np.ndarray:
    """SciFact's passage vectors from the eval cache, as one float32 matrix."""
    files = sorted(CACHE.glob("scifact-*/segments/seg-*/vectors.npy"))
    if not files:
        raise SystemExit("no cached SciFact vectors: run `citebot eval ../shared/eval/scifact`")
    return np.concatenate([np.load(file) for file in files])


def synthetic(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` unit vectors, each a random mix of two base vectors with a little noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        share = rng.uniform(0.5, 1.0, size=(m, 1)).astype(np.float32)
        pair = rng.integers(0, len(base), size=(m, 2))
        block = share * base[pair[:, 0]] + (1 - share) * base[pair[:, 1]]
        block += rng.normal(0, 0.02, size=block.shape).astype(np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed(search, queries: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Each question searched alone; the rows found, and p50 and p99 milliseconds."""
    found, times = [], []
    for query in queries:
        started = time.perf_counter()
        _, rows = search(query[None, :])
        times.append(time.perf_counter() - started)
        found.append(rows[0])
    ms = np.array(times) * 1000
    return np.array(found), float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def run(size: int, base: np.ndarray, folder: Path) -> None:
    np.save(folder / "vectors.npy", synthetic(base, size, seed=1))
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    queries = synthetic(base, QUESTIONS, seed=2)
    everything = np.ones(size, dtype=bool)
    print(f"\n{size:,} vectors of {vectors.shape[1]} dimensions, {QUESTIONS} questions, k={K}")
    print(f"{'search':28} {'build s':>8} {'MB':>7} {'recall@10':>9} {'p50 ms':>8} {'p99 ms':>8}")
    truth, p50, p99 = timed(lambda q: exact_search(vectors, q, K, everything), queries)
    print(f"{'exact':28} {0:8.1f} {vectors.nbytes / 2**20:7.0f} {1:9.3f} {p50:8.2f} {p99:8.2f}")
    started = time.perf_counter()
    ann.build_graph(np.asarray(vectors), folder / ann.APPROXIMATE_FILE)
    seconds = time.perf_counter() - started
    graph = ann.read_graph(folder / ann.APPROXIMATE_FILE)
    rows = NpyRows(folder / "vectors.npy")
    megabytes = (folder / ann.APPROXIMATE_FILE).stat().st_size / 2**20
    for depth in (128, 256, 512):
        ann.SEARCH_DEPTH = depth
        found, p50, p99 = timed(lambda q: ann.search_graph(graph, rows, q, K, everything), queries)
        label = f"hnsw{ann.LINKS} sq8 + rescore, ef={depth}"
        print(f"{label:28} {seconds:8.1f} {megabytes:7.0f} {recall(found, truth):9.3f} ", end="")
        print(f"{p50:8.2f} {p99:8.2f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process so far: {rss:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    base = real_vectors()
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            run(size, base, Path(scratch))


if __name__ == "__main__":
    main()
