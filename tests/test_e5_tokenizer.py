"""e5's tokenizer of the common pieces: English, Russian and Ukrainian text reads exactly as
through the full vocabulary, and the full one is loaded only when a text needs it."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from telegram_fixtures import SEED_CORPUS
from tokenizers import Tokenizer

from retrieval.encoders.base import E5_ONNX
from retrieval.encoders.e5_tokenizer import COMMON, CommonTokenizer, E5Tokenizer
from retrieval.encoders.onnx_encoder import (
    COMMON_IDS_FILE,
    COMMON_TOKENIZER_FILE,
    NORMALISATION_FILE,
    SETTINGS_FILE,
    TOKENIZER_FILE,
    e5_tokenizer,
    onnx_model_path,
)

NEWS = [
    "Міська рада Києва у вівторок відкрила новий пішохідний міст через Дніпро (560 м).",
    "Министерство обороны сообщило: «часть войск вернулась» — 3 500 человек, №12.",
    "The council’s budget — €1.2bn, ½ of it for trams… “Delayed”, said the mayor.",
    "café naïve Zürich ÆØÅ ß ¿Qué? ©2021 ±5 °C",
]
OUTSIDE = ["Greek α and β", "an emoji 😀 here", "漢字 in a headline", "Polish ł"]


@pytest.fixture
def build_folder(tmp_path: Path) -> Path:
    """The files of e5's build that the tokenizer reads, without the common tokenizer."""
    built = onnx_model_path(E5_ONNX).parent
    for name in (TOKENIZER_FILE, NORMALISATION_FILE, SETTINGS_FILE):
        shutil.copy(built / name, tmp_path / name)
    return tmp_path


def common_strings(tokenizer: E5Tokenizer, count: int) -> list[str]:
    """Random strings of the characters that normalise to common ones: odd runs, unknown
    characters, spaces."""
    alphabet = [
        c for c in map(chr, range(0x20, 0x2200)) if COMMON.fullmatch(tokenizer.normalise(c))
    ]
    rng = np.random.default_rng(7)
    return ["".join(rng.choice(alphabet, size=rng.integers(1, 40))) for _ in range(count)]


def test_common_text_reads_as_through_the_full_vocabulary(build_folder: Path) -> None:
    loads = []

    def load_full() -> Tokenizer:
        loads.append(1)
        return Tokenizer.from_file(str(build_folder / TOKENIZER_FILE))

    e5_tokenizer(build_folder)  # writes the common tokenizer the first time
    ids = np.load(build_folder / COMMON_IDS_FILE)
    assert len(ids) < 140_000  # of 250,002 pieces
    common = CommonTokenizer(Tokenizer.from_file(str(build_folder / COMMON_TOKENIZER_FILE)), ids)
    normalisation = json.loads((build_folder / NORMALISATION_FILE).read_text(encoding="utf-8"))
    table = {int(code): text for code, text in normalisation.items()}
    unk = json.loads((build_folder / SETTINGS_FILE).read_text(encoding="utf-8"))["unk"]
    small = E5Tokenizer(load_full, common, table, unk)
    full = E5Tokenizer(
        partial(Tokenizer.from_file, str(build_folder / TOKENIZER_FILE)), None, table, unk
    )
    seed = next(SEED_CORPUS.glob("*.txt")).read_text(encoding="utf-8").split("\n\n")
    texts = [*NEWS, *seed, *common_strings(full, 300), ""]
    for query in (False, True):
        assert small.encode(texts, query=query) == full.encode(texts, query=query)
    for ours, theirs in zip(
        small.encode_passages_with_offsets(texts),
        full.encode_passages_with_offsets(texts),
        strict=True,
    ):
        assert ours[0] == theirs[0] and np.array_equal(ours[1], theirs[1])
    assert not loads  # every text was common

    assert small.encode(OUTSIDE, query=True) == full.encode(OUTSIDE, query=True)
    assert small.encode(NEWS, query=True) == full.encode(NEWS, query=True)
    assert len(loads) == 1  # loaded once, then it reads everything
