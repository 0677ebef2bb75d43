"""Sentence boundaries: where passages may be cut and which sentence a hit shows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.passages.sentences import sentence_spans, split_sentences


def test_plain_sentences() -> None:
    assert split_sentences("Hello world. This is it! Really? Yes… Fine.") == [
        "Hello world.",
        "This is it!",
        "Really?",
        "Yes…",
        "Fine.",
    ]


def test_empty_and_blank_text_have_no_sentences() -> None:
    assert sentence_spans("") == []
    assert sentence_spans(" \n\n\t ") == []


def test_text_without_terminator_is_one_sentence() -> None:
    assert split_sentences("  a heading without a dot  ") == ["a heading without a dot"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Really?! Yes.", ["Really?!", "Yes."]),
        ("Wait... Then it came.", ["Wait...", "Then it came."]),
        ('He said, "Go home." Then he left.', ['He said, "Go home."', "Then he left."]),
        ("She wrote ‘done.’ Then slept.", ["She wrote ‘done.’", "Then slept."]),
        ("(It was late.) We left.", ["(It was late.)", "We left."]),
        ("Он сказал: «Всё.». Затем вышел.", ["Он сказал: «Всё.».", "Затем вышел."]),
        ("«Що робити?» Він пішов.", ["«Що робити?»", "Він пішов."]),
        ('It ended. "Next," she said.', ["It ended.", '"Next," she said.']),
        ("It ended. 3,500 troops left.", ["It ended.", "3,500 troops left."]),
    ],
)
def test_terminators_and_closing_marks(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "On May 13, the U.S. Mission to the OSCE said so.",
        "The U.K. Government agreed.",
        "Some fruit, e.g. Apples and pears, were sold.",
        "One fruit, i.e. Apples, was sold.",
        "Gen. Smith met Lt. Col. Brown and Sgt. Pepper.",
        "Mr. and Mrs. Jones met Ms. Lee, Dr. Who and Prof. Plum.",
        "They walked along St. Mark's Square.",
        "Exhibit No. 5 was shown.",
        "Items Nos. 5 and 6 were shown.",
        "It was Ali vs. Frazier.",
        "We sold apples, pears, etc. and other fruit.",
        "It started on Jan. 5 and ended on Dec. 7.",
        "Feb. March and Sept. Were named.",
        "Acme Inc. Shares rose while Foo Ltd. Board and Bar Corp. Staff met Baz Co. Owners.",
        "The meeting began at 9 a.m. Moscow time and ended at 5 p.m. Kyiv time.",
        "J. K. Rowling wrote it.",
        "J.K. Rowling wrote it.",
        "Growth was 3.5 percent.",
        "They fired 120mm mortars.",
        "Он ушёл, т.е. Иван ушёл.",
        "Это было в 2021 г. и в г. Москва тоже.",
        "В 2020–2021 гг. они росли.",
        "Он жил на ул. Ленина в г. Москве.",
        "Театр им. Пушкина открыт.",
        "Пришли Иванов, Петров и др. коллеги.",
        "Подробнее см. Рисунок 3.",
        "Об этом писал ст. Лейтенант.",
        "Бюджет 5 млн. рублей, 2 млрд. долларов, 3 тыс. гривен.",
        "Цена 5 руб. 50 коп. за штуку.",
        "Лекцию читал проф. Иванов, приказ отдал ген. Петров.",
        "В. В. Путин заявил это.",
        "Путин В.В. Заявил это.",
        "Яблоки, груши и т.д. и т.п. продавались.",
        "Він народився у 2000 р. у Києві.",
        "На вул. Хрещатик і в ім. Шевченка.",
        "1. Introduction to the topic.",
        "(b). Second point.",
        "iv. Fourth point.",
    ],
)
def test_no_split_inside(text: str) -> None:
    assert split_sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Did he? No. He did not.", ["Did he?", "No.", "He did not."]),
        ("We sold apples etc. The rest rotted.", ["We sold apples etc.", "The rest rotted."]),
        ("Доход 5 млн. В 2021 году больше.", ["Доход 5 млн.", "В 2021 году больше."]),
        ("Яблоки и т.д. Затем груши.", ["Яблоки и т.д.", "Затем груши."]),
        ("Смит и др. Они пришли.", ["Смит и др.", "Они пришли."]),
        ("Это было в 2021 г. Москва росла.", ["Это было в 2021 г.", "Москва росла."]),
        (
            "Він народився у 2000 р. Тоді було важко.",
            ["Він народився у 2000 р.", "Тоді було важко."],
        ),
        (
            "Він пішов. Їхав додому. Єва спала. Ґанок був мокрий.",
            ["Він пішов.", "Їхав додому.", "Єва спала.", "Ґанок був мокрий."],
        ),
        ("Это Ёлка. Её видно.", ["Это Ёлка.", "Её видно."]),
    ],
)
def test_splits_where_a_sentence_ends(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_lowercase_continuation_is_not_a_new_sentence() -> None:
    assert split_sentences("Is it? he asked. Wait… what now?") == [
        "Is it? he asked.",
        "Wait… what now?",
    ]
    assert split_sentences("«Что делать?» — спросил он.") == ["«Что делать?» — спросил он."]


def test_single_newline_is_whitespace_but_blank_line_ends_a_sentence() -> None:
    text = "line one\nline two. Next line\n\na heading\n \t\n  third"
    assert split_sentences(text) == [
        "line one\nline two.",
        "Next line",
        "a heading",
        "third",
    ]


def test_offsets_point_into_the_text() -> None:
    text = "  First one.   Second one!\n\n Third "
    spans = sentence_spans(text)
    assert spans == [(2, 12), (15, 26), (29, 34)]
    assert [text[start:end] for start, end in spans] == ["First one.", "Second one!", "Third"]


def test_seed_article_list_item() -> None:
    item = (
        "On May 13, the U.S. Mission to the OSCE said Russia had deployed a variety of heavy "
        "weaponry to occupied Crimea, including T-72B3 battle tanks, 120mm mortars, 122mm "
        "howitzers, and armored vehicles."
    )
    text = (
        "Russia also relocated Su-25SM3 warplanes from Russia's Stavropol Krai (Territory) "
        "to occupied Crimea.\n\n  • " + item
    )
    assert split_sentences(text)[-1] == "• " + item
    assert len(split_sentences(text)) == 2


_ALPHABET = st.sampled_from(
    [*"abcXYZабвЖЯЁІЇЄҐ0123 .!?…\"'«»()“”—,-\n\t", "U.S.", " Mr. ", " т.д. ", "\n\n"]
)


@given(st.lists(_ALPHABET, max_size=80).map("".join))
def test_spans_are_ordered_stripped_and_cover_the_text(text: str) -> None:
    spans = sentence_spans(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip()
        previous_end = end
    covered = "".join(text[start:end] for start, end in spans)
    assert "".join(covered.split()) == "".join(text.split())
