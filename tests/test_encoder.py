"""The packaged model behind the Encoder interface."""

from __future__ import annotations

import numpy as np

from retrieval.encoders.base import Encoder


def test_vectors_are_normalised_float32(encoder: Encoder) -> None:
    vectors = encoder.encode_passages(["Troops near the border.", "A recipe for cake."])
    assert vectors.dtype == np.float32 and vectors.shape == (2, encoder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode_queries([]).shape == (0, encoder.dim)


def test_token_counts_are_real_counts(encoder: Encoder) -> None:
    assert encoder.count_tokens("") == 0
    short = encoder.count_tokens("Russian troops remain near Ukraine")
    assert 4 <= short <= 8
    long_text = "The Secretary General said the pattern raises concerns. " * 60
    assert encoder.count_tokens(long_text) > encoder.max_tokens
