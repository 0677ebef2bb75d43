"""The bot speaks the reader's language: every text it writes itself exists in English, Russian
and Ukrainian, chosen by the `language_code` of the user's Telegram app."""

from __future__ import annotations

import re
import string
from dataclasses import fields
from pathlib import Path

import pytest
from fake_bot_api import FakeBotApi
from fake_bot_content import parse_html
from telegram.ext import Application
from telegram_fixtures import corpus_with, make_engine, replies, talk, until
from test_telegram_bot import buttons, entity_texts

from bot.telegram.phrases import ENGLISH, RUSSIAN, UKRAINIAN, Phrases, phrases_for
from retrieval.encoders.base import Encoder
from retrieval.engine import Engine

TRANSLATIONS = (RUSSIAN, UKRAINIAN)
BRIDGE = (
    "Київ відкрив новий міст через Дніпро\n\n"
    "Міська рада Києва у вівторок відкрила новий пішохідний міст через Дніпро. "
    "Будівництво тривало три роки і коштувало 1,2 мільярда гривень. "
    "Міст має довжину 560 метрів.\n\n"
    "Мер сказав, що міст з'єднає Труханів острів із центром міста. "
    "Перші відвідувачі прийшли вже о сьомій ранку.\n"
)


def _texts(phrases: Phrases) -> dict[str, str]:
    """Every template of the catalogue by a name, the menu and tuples flattened."""
    found: dict[str, str] = {}
    for field in fields(phrases):
        value = getattr(phrases, field.name)
        if isinstance(value, str):
            found[field.name] = value
        elif field.name == "commands":
            found |= {f"command {name}": text for name, text in value}
        else:
            found |= {f"{field.name}[{n}]": text for n, text in enumerate(value)}
    return found


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("phrases", TRANSLATIONS, ids=lambda p: p.language)
def test_every_text_is_translated_with_the_same_fields_and_markup(phrases: Phrases) -> None:
    english, translated = _texts(ENGLISH), _texts(phrases)
    assert translated.keys() == english.keys()
    for name, template in translated.items():
        source = english[name]
        assert template.strip(), name
        assert _fields(template) == _fields(source), name
        assert re.findall(r"</?\w+", template) == re.findall(r"</?\w+", source), name
        if name != "language" and re.search(r"[A-Za-z]{4}", _words(source)):
            assert re.search(r"[а-яіїєґ]", template, re.IGNORECASE), name
        parse_html(template.format(**dict.fromkeys(_fields(template), "x")))


def _words(template: str) -> str:
    """The prose of a template: no markup, fields, commands or code."""
    prose = re.sub(r"<code>.*?</code>|<[^>]+>|\{\w+\}|/\w+", " ", template)
    return prose if prose.strip() else ""


@pytest.mark.parametrize(
    ("phrases", "n", "expected"),
    [
        (ENGLISH, 1, "1 document"),
        (ENGLISH, 2, "2 documents"),
        (ENGLISH, 0, "0 documents"),
        (RUSSIAN, 1, "1 документ"),
        (RUSSIAN, 3, "3 документа"),
        (RUSSIAN, 5, "5 документов"),
        (RUSSIAN, 11, "11 документов"),
        (RUSSIAN, 14, "14 документов"),
        (RUSSIAN, 21, "21 документ"),
        (RUSSIAN, 122, "122 документа"),
        (UKRAINIAN, 2, "2 документи"),
        (UKRAINIAN, 12, "12 документів"),
        (UKRAINIAN, 101, "101 документ"),
    ],
)
def test_counts_take_the_form_their_number_needs(phrases: Phrases, n: int, expected: str) -> None:
    assert phrases.count(n, phrases.documents) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ru", RUSSIAN),
        ("RU", RUSSIAN),
        ("uk", UKRAINIAN),
        ("uk-UA", UKRAINIAN),
        ("en-GB", ENGLISH),
        ("de", ENGLISH),
        ("be", ENGLISH),
        ("", ENGLISH),
        (None, ENGLISH),
    ],
)
def test_the_language_comes_from_the_app_and_defaults_to_english(
    code: str | None, expected: Phrases
) -> None:
    assert phrases_for(code) is expected


def test_a_russian_reader_gets_russian_answers_buttons_and_context(
    bot_api: FakeBotApi, seed_engine: Engine
) -> None:
    chat = 6101

    async def scenario(application: Application) -> None:
        bot_api.push_message(chat, "/start", language_code="ru")
        [hello] = await replies(bot_api, chat, 1)
        assert hello.text.startswith("Здравствуйте! Я отвечаю на вопросы по документам (1 документ")
        assert "Как спрашивать" in hello.text
        bot_api.push_message(chat, "Сколько военных Россия отвела из оккупированного Крыма?")
        answer = (await replies(bot_api, chat, 2))[-1]
        first = answer.text.split("\n\n2. ")[0]
        assert "3,500 troops" in first
        assert re.search(r"(сильное|хорошее) совпадение · 0\.\d\d$", first)
        assert set(buttons(answer)) == {"Контекст 1", "Контекст 2", "Контекст 3", "Ещё ▸"}
        bot_api.push_callback(chat, answer.message_id, buttons(answer)["Контекст 1"])
        context = (await replies(bot_api, chat, 3))[-1]
        assert context.text.startswith("Контекст фрагмента 1 · 📄 “")
        bot_api.push_callback(chat, answer.message_id, buttons(answer)["Ещё ▸"])
        await until(bot_api, lambda: len(bot_api.messages(chat)[1].history) == 1)
        assert bot_api.messages(chat)[1].text.startswith("Фрагменты 4–6\n\n4. ")

    talk(bot_api, seed_engine, scenario)
    assert bot_api.commands_for(language_code="ru") == list(RUSSIAN.commands)
    assert bot_api.commands_for(language_code="uk") == list(UKRAINIAN.commands)
    assert bot_api.commands == list(ENGLISH.commands)
    assert bot_api.errors == []


def test_a_ukrainian_reader_gets_ukrainian_texts_and_bold_cyrillic_sentences(
    bot_api: FakeBotApi, tmp_path: Path, encoder: Encoder
) -> None:
    engine = make_engine(corpus_with(tmp_path, {"bridge.txt": BRIDGE}), tmp_path / "i", encoder)
    chat = 6102

    async def scenario(application: Application) -> None:
        bot_api.push_message(chat, "Скільки коштувало будівництво мосту?", language_code="uk-UA")
        [answer] = await replies(bot_api, chat, 1)
        first = answer.text.split("\n\n2. ")[0]
        assert "📄 “Київ відкрив новий міст через Дніпро” · bridge.txt" in first
        assert re.search(r"(сильний|добрий) збіг · 0\.\d\d$", first)
        [bold] = [text for text in entity_texts(answer, "bold") if "гривень" in text]
        assert bold == "Будівництво тривало три роки і коштувало 1,2 мільярда гривень."
        bot_api.push_message(chat, "/ask since:вчора міст")
        [_, refused] = await replies(bot_api, chat, 2)
        assert refused.text == UKRAINIAN.bad_date.format(value="вчора")
        bot_api.push_message(chat, "/ask source:reuters міст")
        nothing = (await replies(bot_api, chat, 3))[-1]
        assert nothing.text == "Жоден документ не відповідає цим фільтрам (source:reuters)."
        bot_api.push_message(chat, "/status")
        status = (await replies(bot_api, chat, 4))[-1]
        assert status.text.startswith("Документи: 2\nФрагменти: ")

    talk(bot_api, engine, scenario)
    assert bot_api.errors == []


def test_other_languages_get_english(bot_api: FakeBotApi, seed_engine: Engine) -> None:
    chat = 6103

    async def scenario(application: Application) -> None:
        bot_api.push_message(chat, "/help", language_code="de")
        [help_reply] = await replies(bot_api, chat, 1)
        assert help_reply.text.startswith("How to ask\n")

    talk(bot_api, seed_engine, scenario)
