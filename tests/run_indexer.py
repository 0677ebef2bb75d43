"""`python tests/run_indexer.py CORPUS INDEX`: one indexing run with the hashing encoder.

The crash-safety test starts this in a fresh process and kills it with SIGKILL.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fake_encoder import HashingEncoder

from retrieval.passages.cutting import PassageSettings
from retrieval.store.indexer import index_corpus

if __name__ == "__main__":
    corpus, index_dir = (Path(arg) for arg in sys.argv[1:3])
    report = index_corpus(corpus, index_dir, HashingEncoder(), PassageSettings(max_tokens=60))
    print(report.generation, report.passages_total, flush=True)
