"""Combining the dense and lexical signals: small pure functions over candidate scores.

Both signals arrive on absolute scales: the dense one as a cosine, the lexical one as the
share of the query's BM25 evidence a passage holds (`retrieval.store.lexical`). "convex" sums
them as they are; "minmax" and "zscore" first normalise each signal over the question's
candidates; "rrf" (reciprocal-rank fusion) ignores scores and sums rank credits.
`benchmarks/tune_fusion.py` compares them. Ordering is all fusion does: how sure a hit is
comes from its raw scores (`retrieval.search.searcher.Scoring`), whatever ordered it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

METHODS = ("convex", "minmax", "zscore", "rrf")
RRF_K = 60


@dataclass(frozen=True)
class Fusion:
    method: str = "minmax"
    lexical_weight: float = 0.4

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"fusion must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise ValueError(f"the lexical weight must be within 0..1, not {self.lexical_weight}")

    def order(self, dense: Mapping[int, float], lexical: Mapping[int, float]) -> list[int]:
        """Candidate ids, best first; every id has a score in both mappings."""
        ids = list(dense)
        if not ids:
            return []
        if self.method == "convex":
            fused = {i: self._sum(dense[i], lexical[i]) for i in ids}
        elif self.method in ("minmax", "zscore"):
            normalise = _min_max if self.method == "minmax" else _z_scores
            d, x = normalise(dense), normalise(lexical)
            fused = {i: self._sum(d[i], x[i]) for i in ids}
        else:
            fused = _reciprocal_ranks(dense, 1.0 - self.lexical_weight)
            matched = {i: s for i, s in lexical.items() if s > 0}  # no match is no rank
            for i, value in _reciprocal_ranks(matched, self.lexical_weight).items():
                fused[i] += value
        return sorted(ids, key=lambda i: (-fused[i], -dense[i]))

    def _sum(self, dense: float, lexical: float) -> float:
        return (1.0 - self.lexical_weight) * dense + self.lexical_weight * lexical


def _min_max(scores: Mapping[int, float]) -> dict[int, float]:
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {i: (s - low) / span if span > 0 else 1.0 for i, s in scores.items()}


def _z_scores(scores: Mapping[int, float]) -> dict[int, float]:
    values = list(scores.values())
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return {i: (s - mean) / spread if spread > 0 else 0.0 for i, s in scores.items()}


def _reciprocal_ranks(scores: Mapping[int, float], weight: float) -> dict[int, float]:
    ranked = sorted(scores, key=lambda i: -scores[i])
    return {i: weight / (RRF_K + rank) for rank, i in enumerate(ranked, 1)}
