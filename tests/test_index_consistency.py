"""After any sequence of edits, the incremental index equals a clean rebuild of the folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fake_encoder import HashingEncoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.passages.cutting import PassageSettings
from retrieval.search.fusion import Fusion
from retrieval.search.searcher import Scoring, Searcher
from retrieval.store.generations import load_index
from retrieval.store.indexer import index_corpus

ENCODER = HashingEncoder()
SCORING = Scoring(Fusion(), None, None, 0.0)
SETTINGS = PassageSettings(max_tokens=40, min_tokens=4)
NAMES = ["a.txt", "b.md", "sub/c.txt", "sub/deeper/d.txt"]
SENTENCES = [
    "The ferry to the island leaves at noon.",
    "Council approved the new tram budget.",
    "The museum reopens after the flood repairs.",
    "Bridge repairs close the northern lane.",
    "The harbour master reported calm seas.",
]

texts = st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=6).map(
    lambda picked: "Title line\n\n" + "\n\n".join(picked)
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.sampled_from(NAMES), texts),
        st.tuples(st.just("delete"), st.sampled_from(NAMES), st.none()),
        st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
        st.tuples(st.just("index"), st.none(), st.none()),
    ),
    min_size=1,
    max_size=12,
)


def apply(corpus: Path, operation: tuple) -> None:
    kind, name, argument = operation
    path = corpus / name
    if kind == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(argument, encoding="utf-8")
    elif kind == "delete":
        path.unlink(missing_ok=True)
    elif kind == "rename" and path.exists() and name != argument:
        (corpus / argument).parent.mkdir(parents=True, exist_ok=True)
        path.replace(corpus / argument)


def snapshot(index_dir: Path) -> tuple[set[tuple[int, str, str]], set[tuple[int, float]]]:
    """The passages, and what the stored BM25 index scores for each of them."""
    stored = load_index(index_dir, model=ENCODER.name, passage_settings=SETTINGS.fingerprint())
    lexical = stored.index.lexical
    scores = lexical.scores(" ".join(SENTENCES))
    return (
        {(p.id, p.doc_id, p.text) for p in stored.index.iter_passages()},
        {
            (stored.index.id_at(row), round(score, 5))
            for row, score in lexical.top(scores, len(lexical))
        },
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_incremental_index_equals_a_clean_rebuild(steps: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        corpus, index_dir = Path(scratch, "corpus"), Path(scratch, "index")
        corpus.mkdir()
        for step in [("write", "a.txt", "Title line\n\n" + SENTENCES[0]), *steps, ("index",)]:
            if step[0] == "index":
                index_corpus(corpus, index_dir, ENCODER, SETTINGS, allow_empty=True)
                present = {p.relative_to(corpus).as_posix() for p in corpus.rglob("*.*")}
                searcher = Searcher(
                    load_index(index_dir, model=ENCODER.name, passage_settings=None).index,
                    ENCODER,
                    SCORING,
                )
                for sentence in SENTENCES:
                    for hit in searcher.search(sentence, k=10, explain=False).hits:
                        assert hit.source.path in present, "a deleted document was returned"
            else:
                apply(corpus, step)
        index_corpus(corpus, Path(scratch, "clean"), ENCODER, SETTINGS)
        assert snapshot(index_dir) == snapshot(Path(scratch, "clean"))
