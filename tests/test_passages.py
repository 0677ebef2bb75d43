"""Passages: one per paragraph where it fits, short blocks joined, long ones cut at sentences."""

from __future__ import annotations

import hashlib
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.passages.cutting import CHUNKER_VERSION, PassageSettings, passage_id, split_passages
from retrieval.records import Document, Passage

# The seed article (corpus/000_e2df237fec6388f8.txt) as the cleaner should leave it: the
# "Видео дня" widget and the glued "Read also…" link removed, one list item per block.
SEED_CLEANED = "\n\n".join(
    [
        "Tens of thousands of Russian troops remain in and around Ukraine / REUTERS",
        "NATO Secretary General Jens Stoltenberg says tens of thousands of Russian troops "
        "remain in and around Ukraine.",
        "He announced this at a joint press conference with Estonian Prime Minister Kaja "
        "Kallas at the NATO headquarters on Tuesday, May 25.",
        '"While Russia has pulled back some troops, tens of thousands remain in and around '
        'Ukraine, as well as significant amounts of weapons," he said.',
        "Stoltenberg added that Russia continues to restrict navigation in the Black Sea, "
        'including near the Kerch Strait. The Secretary General said, "This is part of a '
        'pattern of aggressive actions, which raise serious concerns." He added that NATO '
        "would remain vigilant, continue to strengthen its deterrence and defense, and "
        "support its partners.",
        "Russian military build-up along Ukraine borders, in occupied Crimea",
        "In March 2021, Russia deployed 28 battalion tactical groups along the state border "
        "of Ukraine and in the temporarily occupied territories. It is also said to be "
        "planning to bring up to 25 battalion tactical groups under the guise of "
        "preparations for military drills.",
        "Fifteen warships of Russia's Caspian Flotilla entered the Black Sea. Russia also "
        "relocated Su-25SM3 warplanes from Russia's Stavropol Krai (Territory) to occupied "
        "Crimea.",
        "On April 22, 2021, Russian Defense Minister Sergei Shoigu said his country would "
        "begin the withdrawal of troops, which had taken part in military exercises in "
        "occupied Crimea and near the borders of Ukraine, to their permanent bases in the "
        "Southern and Western Military Districts.",
        "On May 6, 2021, Ukrainian President Volodymyr Zelensky said the Russian Federation "
        "had withdrawn only 3,500 troops from occupied Crimea out of tens of thousands of "
        "military personnel deployed on the borders and temporarily occupied territories of "
        "Ukraine.",
        "On May 13, the U.S. Mission to the OSCE said Russia had deployed a variety of heavy "
        "weaponry to occupied Crimea, including T-72B3 battle tanks, 120mm mortars, 122mm "
        "howitzers, and armored vehicles.",
    ]
)


def count_words(text: str) -> int:
    return len(text.split())


def document(text: str, doc_id: str = "doc-1") -> Document:
    return Document(
        doc_id=doc_id, path=f"{doc_id}.txt", title="A title", text=text, content_hash="h"
    )


def words(count: int, word: str = "word") -> str:
    return " ".join([word] * count)


def sentences(count: int, length: int, word: str = "word") -> str:
    """`count` sentences of `length` words each, every one starting with a capital."""
    return " ".join(
        f"{word.title()} {words(length - 2, word)} end{index}." for index in range(count)
    )


def cut(text: str, **options: int) -> list[Passage]:
    return split_passages(document(text), count_words, PassageSettings(**options))


def texts(passages: list[Passage]) -> list[str]:
    return [passage.text for passage in passages]


def test_blocks_that_fit_are_one_passage_each() -> None:
    blocks = [words(30, "alpha"), words(40, "beta"), words(25, "gamma")]
    text = "\n\n".join(blocks)
    passages = cut(text)
    assert texts(passages) == blocks
    assert [p.paragraph for p in passages] == [0, 1, 2]
    assert passages[1].start == len(blocks[0]) + 2


def test_normal_paragraphs_are_not_merged_even_when_they_would_fit() -> None:
    assert len(cut(f"{words(30)}\n\n{words(30)}", max_tokens=200)) == 2


def test_short_block_joins_the_following_block() -> None:
    text = f"A heading\n\n{words(30)}\n\n{words(30, 'other')}"
    passages = cut(text)
    assert texts(passages) == [f"A heading\n\n{words(30)}", words(30, "other")]
    assert passages[0].start == 0
    assert passages[0].paragraph == 0
    assert passages[1].paragraph == 2


def test_several_short_blocks_join_until_long_enough() -> None:
    text = f"Part one\n\nChapter two\n\n{words(30)}\n\n{words(30, 'other')}"
    assert texts(cut(text))[0] == f"Part one\n\nChapter two\n\n{words(30)}"


def test_short_block_stands_alone_when_joining_would_not_fit() -> None:
    text = f"{words(30, 'first')}\n\nA heading\n\n{words(199)}"
    assert texts(cut(text)) == [words(30, "first"), "A heading", words(199)]


def test_short_block_leads_the_first_piece_of_a_block_that_must_be_cut() -> None:
    text = f"A heading\n\n{sentences(30, 10)}"
    passages = cut(text, max_tokens=50)
    assert passages[0].text.startswith("A heading\n\nWord word")
    assert passages[0].start == 0
    assert passages[1].paragraph == 1


def test_trailing_short_block_joins_the_previous_block() -> None:
    text = f"{words(30)}\n\nThe end"
    assert texts(cut(text)) == [text]


def test_trailing_short_block_stands_alone_when_joining_would_not_fit() -> None:
    text = f"{words(30)}\n\nThe end"
    assert texts(cut(text, max_tokens=31)) == [words(30), "The end"]


def test_long_block_is_cut_at_sentences_with_one_sentence_overlap() -> None:
    text = sentences(10, 10)
    passages = cut(text, max_tokens=35)
    assert [count_words(p.text) for p in passages] == [30, 30, 30, 30, 20]
    for previous, following in pairwise(passages):
        shared = previous.text[following.start - previous.start :]
        assert shared.count(".") == 1  # exactly one sentence in common
        assert following.text.startswith(shared)
    assert passages[-1].end == len(text)


def test_no_overlap_when_overlap_is_zero() -> None:
    text = sentences(10, 10)
    passages = cut(text, max_tokens=35, overlap_sentences=0)
    assert [count_words(p.text) for p in passages] == [30, 30, 30, 10]
    for previous, following in pairwise(passages):
        assert previous.end + 1 == following.start


def test_overlap_only_inside_a_cut_block() -> None:
    text = f"{sentences(4, 10)}\n\n{words(30, 'next')}"
    passages = cut(text, max_tokens=35)
    assert passages[-1].text == words(30, "next")
    assert passages[-2].end == len(sentences(4, 10))


def test_overlong_sentence_is_cut_at_words_without_overlap() -> None:
    sentence = " ".join(f"w{index}" for index in range(95)) + "."
    passages = cut(sentence, max_tokens=20)
    assert [count_words(p.text) for p in passages] == [20, 20, 20, 20, 15]
    assert " ".join(texts(passages)) == sentence


def test_word_longer_than_the_limit_is_cut_inside() -> None:
    text = "short " + "x" * 35 + " tail"
    passages = split_passages(document(text), len, PassageSettings(max_tokens=10, min_tokens=0))
    assert all(len(p.text) <= 10 for p in passages)
    assert "".join(texts(passages)).replace(" ", "") == text.replace(" ", "")


def test_counter_is_called_per_block_and_sentence_not_per_character() -> None:
    calls: list[str] = []

    def counting(text: str) -> int:
        calls.append(text)
        return count_words(text)

    text = f"{words(30)}\n\n{words(40)}\n\n{sentences(20, 10)}"
    passages = split_passages(document(text), counting, PassageSettings(max_tokens=50))
    # blocks + the empty-string overhead probe + sentences + one check per piece
    assert len(calls) <= 3 + 1 + 20 + len(passages)


def test_empty_document_has_no_passages() -> None:
    assert cut("") == []
    assert cut("\n\n  \n\n") == []


def test_ids_are_stable_distinct_and_fit_int64() -> None:
    text = "\n\n".join([words(30, "same")] * 3)
    first = cut(text)
    again = cut(text)
    assert [p.id for p in first] == [p.id for p in again]
    assert len({p.id for p in first}) == 3
    assert all(0 <= p.id < 2**63 for p in first)
    other = split_passages(document(text, "doc-2"), count_words, PassageSettings())
    assert {p.id for p in other}.isdisjoint({p.id for p in first})


def test_id_is_derived_from_doc_start_and_text() -> None:
    digest = hashlib.blake2b(b"doc-1\x0012\x00some text", digest_size=8).digest()
    assert passage_id("doc-1", 12, "some text") == int.from_bytes(digest, "big") % 2**63


def test_fingerprint_names_the_settings_and_the_version() -> None:
    default = PassageSettings().fingerprint()
    assert default == PassageSettings().fingerprint()
    assert str(CHUNKER_VERSION) in default
    assert len(default) < 60
    others = {
        PassageSettings(max_tokens=100).fingerprint(),
        PassageSettings(min_tokens=10).fingerprint(),
        PassageSettings(overlap_sentences=0).fingerprint(),
    }
    assert default not in others
    assert len(others) == 3


@pytest.mark.parametrize(
    "options",
    [{"max_tokens": 0}, {"min_tokens": -1}, {"overlap_sentences": -1}],
)
def test_settings_reject_impossible_values(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PassageSettings(**options)


def test_seed_article_passage_starts_at_its_paragraph() -> None:
    passages = split_passages(document(SEED_CLEANED), count_words, PassageSettings())
    blocks = SEED_CLEANED.split("\n\n")
    stoltenberg = next(p for p in passages if p.text.startswith("Stoltenberg added that"))
    assert stoltenberg.paragraph == 4
    assert stoltenberg.text == blocks[4]
    heading = next(p for p in passages if p.paragraph == 5)
    assert heading.text == f"{blocks[5]}\n\n{blocks[6]}"
    assert passages[0].text == f"{blocks[0]}\n\n{blocks[1]}"
    assert all(p.text == SEED_CLEANED[p.start : p.end] for p in passages)


def test_seed_article_cut_paragraph_starts_with_its_first_sentence() -> None:
    passages = split_passages(document(SEED_CLEANED), count_words, PassageSettings(max_tokens=30))
    starts = [p for p in passages if p.paragraph == 4]
    assert starts[0].text.startswith("Stoltenberg added that")
    assert starts[0].text.endswith("Kerch Strait.")
    assert all(count_words(p.text) <= 30 for p in passages)


_WORD = st.sampled_from(["a", "bb", "Ccc", "Ддд", "U.S.", "Mr.", "end.", "why?", "3.5", "—"])
_SENTENCE = st.lists(_WORD, min_size=1, max_size=12).map(lambda ws: " ".join(ws) + ".")
_BLOCK = st.lists(_SENTENCE, min_size=1, max_size=8).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(
    blocks=st.lists(_BLOCK, max_size=8),
    max_tokens=st.integers(1, 40),
    min_fraction=st.floats(0, 1),
    overlap=st.integers(0, 2),
)
def test_passages_are_exact_spans_within_the_limit_covering_everything(
    blocks: list[str], max_tokens: int, min_fraction: float, overlap: int
) -> None:
    text = "\n\n".join(blocks)
    options = PassageSettings(max_tokens, int(max_tokens * min_fraction), overlap)
    passages = split_passages(document(text), count_words, options)
    block_starts = [sum(len(b) + 2 for b in blocks[:index]) for index in range(len(blocks))]
    covered = [False] * len(text)
    for passage in passages:
        assert passage.text == text[passage.start : passage.end]
        assert passage.text == passage.text.strip()
        assert count_words(passage.text) <= max_tokens
        assert block_starts[passage.paragraph] <= passage.start
        assert (
            passage.paragraph + 1 == len(blocks)
            or passage.start < block_starts[passage.paragraph + 1]
        )
        covered[passage.start : passage.end] = [True] * (passage.end - passage.start)
    assert all(covered[index] or char.isspace() for index, char in enumerate(text))
    assert [p.start for p in passages] == sorted(p.start for p in passages)
