"""Exact against approximate FAISS search: recall@10, latency and build time by index size.

The vectors are synthetic but shaped like real ones: each is a random mix of two real e5
passage vectors (SciFact's, from `citebot eval`'s cache; run `citebot eval
../shared/eval/scifact` once first) plus noise, normalised; the questions are made the same
way. Exact search (a flat inner-product scan) is the baseline each approximate index is
measured against, in the same run, one search thread as the product runs it.

    .venv/bin/python benchmarks/approximate_search.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

CACHE = Path.home() / ".cache" / "citebot" / "eval"
QUESTIONS = 300
K = 10


def real_vectors() -> np.ndarray:
    """SciFact's passage vectors from the eval cache, as one float32 matrix."""
    folders = sorted(CACHE.glob("scifact-*/index.faiss"))
    if not folders:
        raise SystemExit("no cached SciFact vectors: run `citebot eval ../shared/eval/scifact`")
    index = faiss.read_index(str(folders[0]))
    flat = faiss.downcast_index(index.index)
    return faiss.vector_to_array(flat.codes).view(np.float32).reshape(flat.ntotal, flat.d)


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


def timed_search(index: faiss.Index, queries: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Each question searched alone; the ids found, and p50 and p99 milliseconds."""
    found, times = [], []
    for query in queries:
        started = time.perf_counter()
        _, ids = index.search(query[None, :], K)
        times.append(time.perf_counter() - started)
        found.append(ids[0])
    ms = np.array(times) * 1000
    return np.array(found), float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def ivf(vectors: np.ndarray, nlist: int, sq8: bool) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    if sq8:
        index = faiss.IndexIVFScalarQuantizer(
            quantizer,
            vectors.shape[1],
            nlist,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
    else:
        index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.random.default_rng(0).permutation(len(vectors))[: 64 * nlist]]
    index.train(sample)
    index.add(vectors)
    return index


def hnsw(vectors: np.ndarray, m: int) -> faiss.Index:
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    index.add(vectors)
    return index


def built(make: Callable[[], faiss.Index]) -> tuple[faiss.Index, float]:
    faiss.omp_set_num_threads(2)  # building may use both cores; searching uses one
    started = time.perf_counter()
    index = make()
    seconds = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    return index, seconds


def size_mb(index: faiss.Index) -> float:
    return faiss.serialize_index(index).nbytes / 2**20


def row(
    label: str, seconds: float, index: faiss.Index, found_recall: float, p50: float, p99: float
) -> None:
    print(
        f"{label:24} {seconds:8.1f} {size_mb(index):7.0f} {found_recall:9.3f} {p50:8.2f} {p99:8.2f}"
    )


def run(size: int, base: np.ndarray, with_hnsw: bool) -> None:
    vectors = synthetic(base, size, seed=1)
    queries = synthetic(base, QUESTIONS, seed=2)
    exact, exact_seconds = built(lambda: _flat(vectors))
    truth, p50, p99 = timed_search(exact, queries)
    print(f"\n{size:,} vectors of {vectors.shape[1]} dimensions, {QUESTIONS} questions, k={K}")
    print(f"{'index':24} {'build s':>8} {'MB':>7} {'recall@10':>9} {'p50 ms':>8} {'p99 ms':>8}")
    row("flat (exact)", exact_seconds, exact, 1.0, p50, p99)
    nlist = int(4 * np.sqrt(size))
    tried: list[tuple[str, faiss.Index, float, str, tuple[int, ...]]] = []
    for name, sq8 in ((f"ivf{nlist},flat", False), (f"ivf{nlist},sq8", True)):
        index, seconds = built(lambda sq8=sq8: ivf(vectors, nlist, sq8))
        tried.append((name, index, seconds, "nprobe", (16, 64, 128, 256)))
    if with_hnsw:
        index, seconds = built(lambda: hnsw(vectors, 32))
        tried.append(("hnsw32", index, seconds, "efSearch", (64, 128, 256, 512)))
    for name, index, seconds, knob, values in tried:
        for value in values:
            if knob == "nprobe":
                index.nprobe = value
            else:
                index.hnsw.efSearch = value
            found, p50, p99 = timed_search(index, queries)
            row(f"{name} {knob}={value}", seconds, index, recall(found, truth), p50, p99)


def _flat(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--hnsw-up-to", type=int, default=200_000, help="HNSW builds are slow")
    args = parser.parse_args()
    base = real_vectors()
    for size in args.sizes:
        run(size, base, with_hnsw=size <= args.hnsw_up_to)


if __name__ == "__main__":
    main()
