"""Regression guards on the shared evaluation sets (slow: minutes; `pytest -m slow`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.encoders.base import Encoder
from retrieval.evaluation import evaluate
from retrieval.passages.cutting import PassageSettings
from retrieval.search.searcher import default_scoring

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


@pytest.mark.slow
@pytest.mark.skipif(not (EVAL / "xquad_en").is_dir(), reason="../shared/eval is not here")
def test_xquad_en_stays_at_the_recorded_baseline(encoder: Encoder) -> None:
    report = evaluate(EVAL / "xquad_en", encoder, PassageSettings(), default_scoring(encoder.name))
    # Recorded in the README: hit@1 0.972, nDCG@10 0.988 with the shipped configuration.
    assert report.metrics.queries == 1190
    assert report.metrics.hit_at_1 >= 0.96
    assert report.metrics.ndcg_at_10 >= 0.98
