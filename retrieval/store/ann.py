"""Approximate search for big segments: an HNSW graph over 8-bit vectors, then exact rescoring.

The graph holds its own copy of the vectors in 8 bits (a quarter of the float32 ones) and
finds candidates; their exact cosines come from the segment's float32 vectors, read row
by row (npy_rows.py), so scores equal exact search's and only the candidates' rows are
read. Dead or filtered-out rows are skipped inside the graph walk (an IDSelector bitmap);
when a filter leaves only a small share of a segment, the walk would wander, and an exact
scan of those rows is cheaper anyway (`worth_graph`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from retrieval.store.npy_rows import NpyRows

APPROXIMATE_FILE = "approximate.faiss"
# Where exact search gets slower than the graph, and how big the graph is (links per node,
# candidates kept while building and while searching): benchmarks/approximate_search.py.
APPROXIMATE_FROM = 50_000
LINKS = 32
BUILD_DEPTH = 80
SEARCH_DEPTH = 256
RESCORED = 4  # candidates rescored exactly, per hit asked for
MIN_SHARE = 0.1  # below this share of live rows admitted, scan them exactly


def build_graph(vectors: np.ndarray, path: Path) -> None:
    import faiss

    graph = faiss.IndexHNSWSQ(
        vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, LINKS, faiss.METRIC_INNER_PRODUCT
    )
    graph.hnsw.efConstruction = BUILD_DEPTH
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # indexing: use every core
    try:
        graph.train(vectors)
        graph.add(vectors)
    finally:
        faiss.omp_set_num_threads(1)
    faiss.write_index(graph, str(path))


def read_graph(path: Path):  # faiss has no type stubs
    import faiss

    return faiss.read_index(str(path))


def worth_graph(mask: np.ndarray) -> bool:
    return bool(mask.mean() >= MIN_SHARE)


def search_graph(
    graph, vectors: NpyRows, queries: np.ndarray, k: int, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows of `mask` per query, (scores, rows) with exact scores, -1 past the end."""
    import faiss

    wanted = min(max(RESCORED * k, k), int(mask.sum()))
    bitmap = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))  # bitmap outlives it
    params = faiss.SearchParametersHNSW(efSearch=max(SEARCH_DEPTH, wanted), sel=selector)
    _, candidates = graph.search(queries, wanted, params=params)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    rows = np.full((len(queries), k), -1, dtype=np.int64)
    for at, (query, found) in enumerate(zip(queries, candidates, strict=True)):
        found = np.sort(found[found >= 0])
        exact = vectors.take(found.tolist()) @ query
        order = np.argsort(-exact, kind="stable")[:k]
        scores[at, : len(order)] = exact[order]
        rows[at, : len(order)] = found[order]
    return scores, rows
