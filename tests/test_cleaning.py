"""Page debris removal: widgets, "read also" links, share lines, credits, banners."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.documents.cleaning import clean_blocks, clean_title, is_debris
from retrieval.documents.loading import load_document

SEED = Path(__file__).resolve().parents[1] / "corpus" / "000_e2df237fec6388f8.txt"

PARAGRAPH_EN = "The council approved the budget on Monday. Spending on schools rises by 4%."
PARAGRAPH_RU = "Депутаты одобрили бюджет в понедельник. Расходы на школы вырастут на 4%."
PARAGRAPH_UK = "Депутати ухвалили бюджет у понеділок. Видатки на школи зростуть на 4%."


@pytest.mark.parametrize(
    "debris",
    [
        "Фото дня",
        "Видео дня",
        "Відео дня",
        "Новости партнеров",
        "Новини партнерів",
        "Advertisement",
        "ADVERTISEMENT",
        "Реклама",
        "Реклама 18+",
        "Sponsored content",
        "Comments (12)",
        "Читайте нас в Telegram",
        "Читайте нас у Telegram та Viber",
        "Follow us on Twitter",
        "Tags: budget, council",
    ],
)
def test_widget_lines_are_dropped(debris: str) -> None:
    assert clean_blocks([PARAGRAPH_EN, debris, PARAGRAPH_RU]) == [PARAGRAPH_EN, PARAGRAPH_RU]


@pytest.mark.parametrize(
    "debris",
    [
        "Share on Facebook",
        "Share this article",
        "Поделиться",
        "Поділитися в Telegram",
        "Twitter",
        "Subscribe to our newsletter",
        "Sign up for our daily newsletter and get the news first",
        "Подписывайтесь на наш канал в Telegram",
        "Підписуйтесь на нашу сторінку у Facebook",
    ],
)
def test_share_subscribe_and_follow_lines_are_dropped(debris: str) -> None:
    assert clean_blocks([PARAGRAPH_UK, debris]) == [PARAGRAPH_UK]


@pytest.mark.parametrize(
    "debris",
    [
        "Photo: Reuters",
        "Photo by Efrem Lukatsky/AP",
        "Фото: УНИАН",
        "Фото — пресс-служба мэрии",
        "Ілюстрація: Укрінформ",
        "Getty Images",
        "AP Photo/Efrem Lukatsky",
        "© AP",
        "©Reuters 2021",
        "Protesters gather outside parliament in Kyiv / REUTERS",
        "Митингующие у здания Рады | Фото: УНИАН",
    ],
)
def test_photo_credits_and_captions_are_dropped(debris: str) -> None:
    assert clean_blocks([debris, PARAGRAPH_EN]) == [PARAGRAPH_EN]


@pytest.mark.parametrize(
    "debris",
    [
        "We use cookies to improve your experience. By continuing you agree to our policy.",
        "Этот сайт использует файлы cookie. Продолжая, вы соглашаетесь.",
        "Ми використовуємо файли cookie, щоб сайт працював краще. Прийняти",
        "https://www.example.com/news/2021/05/25/budget",
        "www.example.com",
        "© 2021 Example Media. All rights reserved.",
        "При цитировании материалов ссылка на сайт обязательна.",
        "При використанні матеріалів гіперпосилання обов'язкове.",
        "* * *",
    ],
)
def test_banners_urls_footers_and_separators_are_dropped(debris: str) -> None:
    assert clean_blocks([PARAGRAPH_RU, debris]) == [PARAGRAPH_RU]


@pytest.mark.parametrize(
    "content",
    [
        "Russian military build-up along Ukraine borders, in occupied Crimea",
        "Реклама на телевидении: что изменится с 1 января",
        "Advertising revenue fell by a third as readers moved to the web, the report says.",
        "Мы используем этот подход с 2019 года, и он работает.",
        "Share prices fell sharply after the announcement.",
        "Twitter in crisis",
        "See also the discussion of costs in the previous section.",
        "Related talks were held in Geneva last week.",
        "Facebook said it removed 1,300 accounts linked to the campaign.",
        "— Мы не отступим, — сказал мэр.",
    ],
)
def test_real_content_stays(content: str) -> None:
    assert clean_blocks([content]) == [content]


def test_read_also_alone_drops_the_headline_on_the_next_line() -> None:
    blocks = [
        PARAGRAPH_EN,
        "Read also:",
        "Council to vote on school funding next week",
        "The mayor said the money would arrive in June.",
    ]
    assert clean_blocks(blocks) == [PARAGRAPH_EN, "The mayor said the money would arrive in June."]


def test_read_also_alone_keeps_a_following_real_paragraph() -> None:
    blocks = ["Смотрите также", "Мэр заявил, что деньги поступят в июне."]
    assert clean_blocks(blocks) == ["Мэр заявил, что деньги поступят в июне."]


@pytest.mark.parametrize(
    "link",
    [
        "Read more: Council to vote on school funding next week",
        "See also – Ten things to know about the new budget",
        "Читайте также: Рада приняла бюджет на 2022 год",
        "Читайте також Рада ухвалила бюджет на 2022 рік",
        "Дивіться також: Як змінився бюджет столиці",
    ],
)
def test_read_also_with_its_headline_is_dropped(link: str) -> None:
    assert clean_blocks([PARAGRAPH_EN, link, PARAGRAPH_UK]) == [PARAGRAPH_EN, PARAGRAPH_UK]


@pytest.mark.parametrize(
    ("glued", "kept"),
    [
        (
            "Also readCouncil to vote on school funding next weekThe mayor said the money "
            "would arrive in June.",
            "The mayor said the money would arrive in June.",
        ),
        (
            "Читайте такжеВ Харькове открыли новый мостПо словам мэра, мост обошелся в "
            "два миллиона гривен.",
            "По словам мэра, мост обошелся в два миллиона гривен.",
        ),
        (
            "Читайте такожУ Львові відкрили новий парк «Стрийський»Міська рада виділила "
            "на ремонт ще три мільйони.",
            "Міська рада виділила на ремонт ще три мільйони.",
        ),
        (
            "Читайте также: Мэрия закрыла новый мостВ Киеве снова пробки, сообщил мэр.",
            "В Киеве снова пробки, сообщил мэр.",
        ),
        (
            "Read alsoApple unveils new iPhone at YouTube eventThe company said sales start "
            "in May.",
            "The company said sales start in May.",
        ),
        (
            "Read also: McDonald's reopens in KyivThe chain said 20 restaurants would open.",
            "The chain said 20 restaurants would open.",
        ),
    ],
)
def test_read_also_glued_to_the_next_sentence_keeps_the_sentence(glued: str, kept: str) -> None:
    assert clean_blocks([glued]) == [kept]


def test_read_also_inside_a_paragraph_is_cut_out() -> None:
    block = (
        "The vote is set for Friday.Read alsoCouncil approves new parking rulesThe mayor "
        "said the money would arrive in June."
    )
    assert clean_blocks([block]) == [
        "The vote is set for Friday.",
        "The mayor said the money would arrive in June.",
    ]


def test_read_also_without_a_headline_boundary_is_left_alone() -> None:
    block = "Read also the minutes of the meeting. They list every vote."
    assert clean_blocks([block]) == [block]


@pytest.mark.parametrize("marker", ["•", "-", "*", "–", "▪"])
def test_bullet_markers_are_removed(marker: str) -> None:
    assert clean_blocks([f"{marker} Schools get new roofs."]) == ["Schools get new roofs."]


def test_whitespace_is_tidied_and_blank_lines_never_survive() -> None:
    cleaned = clean_blocks(["  first   line \n\n\n  second\tline  ", "", "   "])
    assert cleaned == ["first line\nsecond line"]


def test_a_block_repeated_right_after_itself_is_kept_once() -> None:
    assert clean_blocks([PARAGRAPH_EN, PARAGRAPH_EN, PARAGRAPH_RU]) == [PARAGRAPH_EN, PARAGRAPH_RU]


def test_debris_rules_only_fire_on_short_blocks() -> None:
    long_paragraph = "Photo: " + "the archive holds thousands of prints from the war years. " * 5
    assert not is_debris(long_paragraph)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Troops remain near the border / REUTERS", "Troops remain near the border"),
        ("Мост открыли / Фото: УНИАН", "Мост открыли"),
        ("Парк відкрили після ремонту (ФОТО)", "Парк відкрили після ремонту"),
        ("Budget approved | Photo: Getty Images", "Budget approved"),
        ("  Plain   title  ", "Plain title"),
        ("REUTERS", "REUTERS"),
    ],
)
def test_clean_title_strips_photo_credits(title: str, expected: str) -> None:
    assert clean_title(title) == expected


def test_seed_article_loses_its_widget_and_read_also_link() -> None:
    document = load_document(SEED, SEED.parent)
    blocks = document.text.split("\n\n")
    assert not any("Видео дня" in block for block in blocks)
    assert not any("Read also" in block for block in blocks)
    stoltenberg = next(block for block in blocks if "restrict navigation" in block)
    assert stoltenberg.startswith("Stoltenberg added that Russia continues to restrict navigation")
    assert "Russian military build-up along Ukraine borders, in occupied Crimea" in blocks
    assert document.title == "Tens of thousands of Russian troops remain in and around Ukraine"
    assert not any(block.startswith("•") for block in blocks)


@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=80), max_size=8))
def test_cleaned_blocks_are_stripped_non_empty_and_without_blank_lines(blocks: list[str]) -> None:
    for block in clean_blocks(blocks):
        assert block
        assert block == block.strip()
        assert "\n\n" not in block
