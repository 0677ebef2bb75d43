"""Does the best sentence from stored sentence vectors match the one from encoding every
sentence of every hit for each question, as citebot did before, and does it hold the answer?

    .venv/bin/python benchmarks/best_sentence_agreement.py [--questions 300] [--set NAME ...]

For each evaluation set: its index as `citebot eval` builds it (kept in eval's cache), and a
seeded sample of its questions through `Searcher.search(q, k=5)`, whose `best_sentence` is
the product's pick (retrieval/search/best_sentence.py). The reference pick encodes each sentence of
the same hits and takes the closest to the question. A hit of one sentence agrees trivially,
so only multi-sentence hits count: the first hit, and all five. Where a set gives answers
(the SQuAD sets), it also prints how often each pick holds the answer, over the
multi-sentence hits whose passage holds it. Then the median time per question of search
with the pick and without it, and the reference pick's encoding time.

WORD_WEIGHT was tuned on xquad_en; xquad_ru2en has xquad_en's passages with the questions
translated (and falls back to encoding anyway), so xquad_ru, uasquad_uk_dev and scifact are
the held-out sets.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.encoders.base import E5_ONNX, MINILM_ONNX, Encoder, load_encoder
from retrieval.evaluation import index_set, load_beir
from retrieval.passages.cutting import PassageSettings
from retrieval.passages.sentences import split_sentences
from retrieval.records import Hit
from retrieval.search.searcher import Searcher, default_scoring

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
SETS = ("xquad_en", "xquad_ru", "xquad_ru2en", "uasquad_uk_dev", "scifact")
K = 5


@dataclass
class Tally:
    """Counts over multi-sentence hits, of the first hit ([0]) and of all K ([1])."""

    hits: list[int]
    agree: list[int]
    answerable: list[int]  # the passage holds an answer
    reference_answer: list[int]
    product_answer: list[int]

    @classmethod
    def empty(cls) -> Tally:
        return cls([0, 0], [0, 0], [0, 0], [0, 0], [0, 0])

    def add(self, first: bool, reference: str, product: str, hit: Hit, answers: Sequence[str]):
        answerable = any(a in hit.passage.text for a in answers)
        for at in (0, 1) if first else (1,):
            self.hits[at] += 1
            self.agree[at] += reference == product
            self.answerable[at] += answerable
            self.reference_answer[at] += answerable and any(a in reference for a in answers)
            self.product_answer[at] += answerable and any(a in product for a in answers)


def reference_pick(encoder: Encoder, hit: Hit, query: np.ndarray) -> str:
    sentences = split_sentences(hit.passage.text)
    return sentences[int(np.argmax(encoder.encode_passages(sentences) @ query))]


def run_set(name: str, encoder: Encoder, sample: int) -> tuple[Tally, list[float]]:
    folder = EVAL / name
    eval_set = load_beir(folder)
    index = index_set(folder, eval_set, encoder, PassageSettings(), progress=True)[0].index
    searcher = Searcher(index, encoder, default_scoring(encoder.name))
    rows = [json.loads(line) for line in (folder / "queries.jsonl").open(encoding="utf-8")]
    answers_of = {str(row["_id"]): row.get("answers", []) for row in rows}
    qids = random.Random(0).sample(sorted(eval_set.queries), min(sample, len(eval_set.queries)))
    tally, with_pick, without_pick, reference_times = Tally.empty(), [], [], []
    for qid in qids:
        started = time.perf_counter()
        answer = searcher.search(eval_set.queries[qid], K)
        middle = time.perf_counter()
        searcher.search(eval_set.queries[qid], K, explain=False)
        with_pick.append(middle - started)
        without_pick.append(time.perf_counter() - middle)
        query = encoder.encode_queries([answer.query])[0]
        started = time.perf_counter()
        for rank, hit in enumerate(answer.hits):
            if len(split_sentences(hit.passage.text)) > 1:
                picked = reference_pick(encoder, hit, query)
                tally.add(rank == 0, picked, hit.best_sentence, hit, answers_of[qid])
        reference_times.append(time.perf_counter() - started)
    ms = [1000 * statistics.median(t) for t in (with_pick, without_pick, reference_times)]
    return tally, ms


def share(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else f"{'–':>6}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300, help="sampled per set")
    parser.add_argument("--set", action="append", choices=SETS, help="default: all five")
    parser.add_argument("--model", default=E5_ONNX, choices=[E5_ONNX, MINILM_ONNX])
    args = parser.parse_args()
    encoder = load_encoder(args.model)
    print(f"{encoder.name}, {args.questions} questions a set, k={K}; multi-sentence hits")
    print(
        f"{'set':<15} {'hits':>9} {'agree':>15} {'answer: reference / product':>36}"
        f"  {'ms: search with pick, without, reference pick':>46}"
    )
    for name in args.set or SETS:
        t, (with_pick, without_pick, reference) = run_set(name, encoder, args.questions)
        print(
            f"{name:<15} {t.hits[0]:>4} {t.hits[1]:>4} "
            f"{share(t.agree[0], t.hits[0])} {share(t.agree[1], t.hits[1])}   "
            f"1st {share(t.reference_answer[0], t.answerable[0])} /"
            f"{share(t.product_answer[0], t.answerable[0])}, "
            f"all {share(t.reference_answer[1], t.answerable[1])} /"
            f"{share(t.product_answer[1], t.answerable[1])}   "
            f"{with_pick:7.1f} {without_pick:7.1f} {reference:7.1f}"
        )


if __name__ == "__main__":
    for variable, value in (("HF_HUB_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(variable, value)
    main()
