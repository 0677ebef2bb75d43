"""Derive the "no good match" threshold for a model from the evaluation sets.

For each set, questions run against their own corpus (in-domain) and against the other
sets' corpora (off-topic). A good threshold keeps in-domain questions whose best hit is
right and refuses off-topic ones. The threshold is chosen on the even-numbered questions
(best balanced accuracy) and reported on the odd-numbered ones, which it never saw.

    .venv/bin/python benchmarks/calibrate_threshold.py [--model NAME] [SET_DIR ...]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from retrieval.embedding import embed_documents
from retrieval.encoders import DEFAULT_MODEL, Encoder, load_encoder
from retrieval.evaluation import EvalSet, load_beir
from retrieval.index import PassageIndex
from retrieval.passages import PassageSettings

EVAL_ROOT = Path(__file__).resolve().parents[2] / "shared" / "eval"
SEED = Path(__file__).resolve().parents[1] / "corpus"


def top_scores(index: PassageIndex, encoder: Encoder, questions: list[str]) -> tuple:
    found = index.search(encoder.encode_queries(questions), 1)
    return [hits[0][1] for hits in found], [hits[0][0].doc_id for hits in found]


def best_threshold(good: np.ndarray, off: np.ndarray) -> float:
    candidates = np.unique(np.concatenate([good, off]))
    accuracy = [((good >= t).mean() + (off < t).mean()) / 2 for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    folders = args.sets or [EVAL_ROOT / "xquad_en", EVAL_ROOT / "scifact"]
    encoder = load_encoder(args.model)
    settings = PassageSettings()
    sets: list[EvalSet] = [load_beir(folder) for folder in folders]
    indexes = []
    for eval_set in sets:
        index = PassageIndex(encoder.dim)
        embed_documents(eval_set.documents, encoder, settings, into=index, progress=True)
        indexes.append(index)
    good = {0: [], 1: []}  # half → top scores of in-domain questions answered correctly
    off = {0: [], 1: []}  # half → top scores of questions asked of another set's corpus
    for i, eval_set in enumerate(sets):
        qids = list(eval_set.queries)
        questions = [eval_set.queries[q] for q in qids]
        scores, docs = top_scores(indexes[i], encoder, questions)
        for n, (qid, score, doc) in enumerate(zip(qids, scores, docs, strict=True)):
            if eval_set.qrels[qid].get(doc, 0) > 0:
                good[n % 2].append(score)
        for j, index in enumerate(indexes):
            if j != i:
                for n, score in enumerate(top_scores(index, encoder, questions)[0]):
                    off[n % 2].append(score)
    g0, o0, g1, o1 = (np.asarray(x) for x in (good[0], off[0], good[1], off[1]))
    threshold = best_threshold(g0, o0)
    print(f"model {encoder.name}, sets {', '.join(s.name for s in sets)}")
    print(f"threshold chosen on even-numbered questions: {threshold:.3f}")
    print(
        f"held-out (odd-numbered) questions: right answers kept {(g1 >= threshold).mean():.3f} "
        f"({len(g1)}), off-topic refused {(o1 < threshold).mean():.3f} ({len(o1)})"
    )
    for name, values in (("right answers", g1), ("off-topic", o1)):
        q = np.percentile(values, [5, 25, 50, 75, 95])
        print(f"  {name:13} score percentiles 5/25/50/75/95: " + " ".join(f"{v:.2f}" for v in q))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
