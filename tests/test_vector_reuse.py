"""Vectors the indexer reuses instead of encoding again (unchanged files carried over,
renamed and copied files, an edit that keeps some passages, a change of passage settings)
must equal a fresh encoding of the same title and text, for each packaged encoder; vectors
of another build of the model are never reused."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import Store

from retrieval.encoders.base import MINILM, Encoder, load_encoder
from retrieval.passages.cutting import PassageSettings
from retrieval.records import titled_text
from retrieval.store.generations import load_index
from retrieval.store.indexer import IndexReport, index_corpus

FERRIES = (
    "Ferry timetable changes\n\n"
    "The harbour authority moved the first morning ferry to 6:40 from Monday.\n\n"
    "Evening crossings stay as they are, and tickets bought earlier remain valid.\n\n"
    "Passengers with cars should arrive thirty minutes before departure."
)
BRIDGE = (
    "Київ відкрив новий міст\n\n"
    "Міська рада Києва у вівторок відкрила новий пішохідний міст через Дніпро.\n\n"
    "Будівництво тривало три роки і коштувало 1,2 мільярда гривень."
)
SETTINGS = PassageSettings()


@pytest.fixture(scope="module", params=["default", "minilm"])
def any_encoder(request: pytest.FixtureRequest, encoder: Encoder) -> Encoder:
    return encoder if request.param == "default" else load_encoder(MINILM)


def test_reused_vectors_equal_fresh_encodings(any_encoder: Encoder, tmp_path: Path) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "ferries.txt").write_text(FERRIES, encoding="utf-8")
    (corpus / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    first = _index(corpus, root, any_encoder)
    assert first.passages_reused == 0
    _assert_fresh(root, any_encoder)

    (corpus / "ferries.txt").rename(corpus / "timetable.txt")  # a rename
    shutil.copy(corpus / "bridge.txt", corpus / "bridge-copy.txt")  # a copy
    with open(corpus / "bridge.txt", "a", encoding="utf-8") as bridge:  # an edit
        bridge.write("\n\nМіст має довжину 560 метрів.")
    changed = _index(corpus, root, any_encoder)
    assert changed.passages_reused > 0 and changed.passages_encoded > 0
    _assert_fresh(root, any_encoder)

    recut = PassageSettings(max_tokens=SETTINGS.max_tokens // 4)  # a settings change
    resettled = index_corpus(corpus, root, any_encoder, recut)
    assert resettled.rebuild_reason and resettled.passages_reused > 0
    _assert_fresh(root, any_encoder, recut)

    untouched = index_corpus(corpus, root, any_encoder, recut)  # all carried over
    assert untouched.passages_encoded == 0 and len(untouched.unchanged) == 3
    _assert_fresh(root, any_encoder, recut)


def test_vectors_of_another_build_of_the_model_are_encoded_again(
    any_encoder: Encoder, store: Store, tmp_path: Path
) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "ferries.txt").write_text(FERRIES, encoding="utf-8")
    first = store.engine(corpus, root, any_encoder, SETTINGS)
    built = first.build_index()
    assert first.manifest().encoder_build == any_encoder.build

    upgraded = copy.copy(any_encoder)  # the same model after an upgrade rebuilt its graph
    upgraded.build = "rebuilt-graph"
    engine = store.engine(corpus, root, upgraded, SETTINGS)
    report = engine.build_index()
    assert report.rebuild_reason and "build changed" in report.rebuild_reason
    assert (report.passages_encoded, report.passages_reused) == (built.passages_total, 0)
    assert engine.manifest().encoder_build == "rebuilt-graph"
    again = engine.build_index()
    assert again.rebuild_reason is None and again.passages_encoded == 0


def _index(corpus: Path, root: Path, encoder: Encoder) -> IndexReport:
    return index_corpus(corpus, root, encoder, SETTINGS)


def _assert_fresh(root: Path, encoder: Encoder, settings: PassageSettings = SETTINGS) -> None:
    index = load_index(root, model=encoder.name, passage_settings=settings.fingerprint()).index
    passages = list(index.iter_passages())
    texts = [titled_text(index.sources[p.doc_id].title, p.text) for p in passages]
    stored = index.vectors(p.id for p in passages)
    fresh = encoder.encode_passages(texts)
    cosines = np.sum(stored * fresh, axis=1)
    assert cosines.min() > 0.999, [
        t[:40] for t, c in zip(texts, cosines, strict=True) if c <= 0.999
    ]
