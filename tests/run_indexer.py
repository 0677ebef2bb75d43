"""`python tests/run_indexer.py CORPUS INDEX [QDRANT_URL [rebuild]]`: one indexing run with
the hashing encoder, into the embedded store or, given a URL, into Qdrant.

The crash-safety tests start this in a fresh process and kill it with SIGKILL.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fake_encoder import HashingEncoder

from retrieval.passages.cutting import PassageSettings
from retrieval.store.indexer import index_corpus

if __name__ == "__main__":
    corpus, index_dir = (Path(arg) for arg in sys.argv[1:3])
    settings = PassageSettings(max_tokens=60)
    print("indexing", flush=True)  # imports done: from here on a kill hits the run itself
    if len(sys.argv) > 3:
        from retrieval.qdrant import indexing
        from retrieval.qdrant.connection import QdrantSettings, connect

        qdrant = QdrantSettings(sys.argv[3])
        rebuild = sys.argv[4:] == ["rebuild"]
        report = indexing.index_corpus(
            corpus, connect(qdrant), qdrant, HashingEncoder(), settings, rebuild=rebuild
        )
    else:
        report = index_corpus(corpus, index_dir, HashingEncoder(), settings)
    print(report.generation, report.passages_total, flush=True)
