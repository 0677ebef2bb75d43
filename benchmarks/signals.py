"""What the tuning and calibration scripts share: each set's index, and every question's
candidates with their raw dense and lexical scores, from the product's own `Searcher.rank`.

The candidates do not depend on the fusion (each signal contributes its own top ones), so
one pass gives what every fusion method and weight is then tried on, offline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from retrieval.encoders.base import Encoder
from retrieval.evaluation import CANDIDATES, EvalSet, index_set, load_beir
from retrieval.passages.cutting import PassageSettings
from retrieval.search.fusion import Fusion
from retrieval.search.searcher import Scoring, Searcher
from retrieval.store.index import PassageIndex
from retrieval.store.stemming import is_cyrillic

EVAL_ROOT = Path(__file__).resolve().parents[2] / "shared" / "eval"
SETTINGS = PassageSettings()


class Candidate(NamedTuple):
    doc_id: str
    dense: float
    lexical: float
    cross: bool  # the question and the passage are in different scripts


def offline() -> None:
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)


def load_set(folder: Path, encoder: Encoder) -> tuple[EvalSet, PassageIndex]:
    """The set and its index, vectors reused from `citebot eval`'s cache when there."""
    eval_set = load_beir(folder)
    index = index_set(folder, eval_set, encoder, SETTINGS, progress=True)[0].index
    return eval_set, index


def candidates(
    index: PassageIndex, encoder: Encoder, questions: list[str]
) -> list[list[Candidate]]:
    searcher = Searcher(index, encoder, Scoring(Fusion(), None, None, None))
    found = []
    for begin in range(0, len(questions), 32):
        for ranked in searcher.rank(questions[begin : begin + 32], CANDIDATES):
            cyrillic = is_cyrillic(questions[len(found)])
            found.append(
                [
                    Candidate(
                        r.passage.doc_id,
                        r.dense,
                        r.lexical,
                        cyrillic != is_cyrillic(r.passage.text),
                    )
                    for r in ranked
                ]
            )
    return found


def documents_in_order(found: list[Candidate], fusion: Fusion) -> list[str]:
    """Document ids by their best passage under `fusion`, as `citebot eval` ranks them."""
    dense = {n: c.dense for n, c in enumerate(found)}
    lexical = {n: c.lexical for n, c in enumerate(found)}
    order = fusion.order(dense, lexical) if found else []
    return list(dict.fromkeys(found[n].doc_id for n in order))
