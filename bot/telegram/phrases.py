"""Every text the bot writes itself, in English, Russian and Ukrainian.

A reader gets the language of their Telegram app (`language_code`), English when it is none
of the three. Templates are Telegram HTML with `str.format` fields; whatever fills a field
is escaped by the caller. Counted nouns carry three forms, because Russian and Ukrainian
pick one of three by the number (1 документ, 2 документа, 5 документов).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from retrieval.errors import (
    CitebotError,
    CorpusEmptiedError,
    EncoderError,
    IndexLockedError,
    IndexMissingError,
    IndexStoreError,
    StoreUnreachableError,
)

Forms = tuple[str, str, str]  # one, few (2–4), many


@dataclass(frozen=True)
class Phrases:
    language: str
    commands: tuple[tuple[str, str], ...]  # the menu: (command, description)
    documents: Forms
    passages: Forms
    # Replies to commands and refusals
    hello: str
    hello_empty: str
    help: str
    ask_usage: str
    refusal: str
    not_admin: str
    reindexing: str
    not_indexed: str
    # Answers
    no_good_match: str
    no_filter_match: str
    passages_range: str
    weak: str
    good: str
    strong: str
    weak_mark: str
    link: str
    also_in: str
    and_more: str
    context_title: str
    context_button: str
    more_button: str
    no_more: str
    stale: str
    forgotten: str
    # /sources, /status and /reindex reports
    listed_more: str
    status_documents: str
    status_passages: str
    status_model: str
    status_indexed: str
    status_skipped: str
    status_failed: str
    rebuilt: str
    indexed_in: str
    report_counts: tuple[str, str, str, str, str, str]  # added … failed, each with {n}
    report_lists: tuple[str, str, str, str, str]  # added, updated, removed, skipped, failed
    # Errors
    bad_date: str
    locked: str
    emptied: str
    index_broken: str
    store_unreachable: str
    model_broken: str
    sorry: str
    apology: str

    def count(self, n: int, forms: Forms) -> str:
        """`n` with the noun in the form its number takes."""
        if self.language == "en":
            return f"{n} {forms[0] if n == 1 else forms[1]}"
        if n % 10 == 1 and n % 100 != 11:
            form = forms[0]
        elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            form = forms[1]
        else:
            form = forms[2]
        return f"{n} {form}"

    def error(self, error: CitebotError) -> str:
        """What the reader is told about an engine error, as HTML (the details go to the log)."""
        if isinstance(error, IndexMissingError):
            return self.not_indexed
        if isinstance(error, StoreUnreachableError):
            return self.store_unreachable
        if isinstance(error, IndexStoreError):
            return self.index_broken
        if isinstance(error, IndexLockedError):
            return self.locked
        if isinstance(error, CorpusEmptiedError):
            return self.emptied
        if isinstance(error, EncoderError):
            return self.model_broken
        return self.sorry.format(detail=html.escape(str(error), quote=False))


ENGLISH = Phrases(
    language="en",
    commands=(
        ("ask", "Ask the documents a question"),
        ("sources", "List the indexed documents"),
        ("status", "Index size, model, last indexing, skipped files"),
        ("help", "How to ask, in private chats and groups"),
        ("start", "What this bot knows"),
        ("reindex", "Index new and changed documents (admins)"),
    ),
    documents=("document", "documents", "documents"),
    passages=("passage", "passages", "passages"),
    hello=(
        "Hello! I answer questions from <b>{documents}</b> ({passages}) with the passages "
        "that answer them, each with its source.\n\n"
        "Ask in your own words, for example:\n<i>{example}</i>"
    ),
    hello_empty="Hello! I answer questions from a folder of documents.",
    help=(
        "<b>How to ask</b>\n"
        "• In a private chat: just type your question.\n"
        "• In a group: <code>/ask your question</code>, reply to one of my messages, "
        "or mention {handle}.\n"
        "• In any chat: type <code>{handle} your question</code> and pick a passage to share.\n"
        "• Narrow it down: <code>/ask since:2021-05 until:2021-06-15 source:reuters "
        "your question</code> (dates as 2021, 2021-05 or 2021-05-06; source: part of the "
        "file name, link or site).\n\n"
        "Each answer shows the best passages with the best sentence in bold, the source and "
        "how well it matches. <b>More</b> shows the next passages, <b>Context</b> the text "
        "around one.\n\n"
        "/sources lists the documents, /status shows the index, "
        "/reindex updates it (admins)."
    ),
    ask_usage="Ask me a question, e.g. <code>/ask what happened in May?</code>",
    refusal="Sorry, this bot answers only the people and chats it was set up for.",
    not_admin="Sorry, only the bot's admins can reindex.",
    reindexing="Indexing the documents… I'll reply with what changed.",
    not_indexed="Nothing is indexed yet. An admin can add documents and run /reindex.",
    no_good_match=(
        "<b>No passage matches this well.</b> The nearest ones are below, marked weak; "
        "try other words."
    ),
    no_filter_match="No document matches these filters ({filters}).",
    passages_range="Passages {first}–{last}",
    weak="weak match",
    good="good match",
    strong="strong match",
    weak_mark="(weak)",
    link="link",
    also_in="also in",
    and_more="and {n} more",
    context_title="Context of passage {rank}",
    context_button="Context {n}",
    more_button="More ▸",
    no_more="No more passages.",
    stale="This result is from an older index. Please ask again.",
    forgotten="I no longer have this result (too old, or I restarted). Please ask again.",
    listed_more="… and {n} more.",
    status_documents="Documents",
    status_passages="Passages",
    status_model="<b>Model:</b> {model} ({dim} dimensions)",
    status_indexed="Last indexed",
    status_skipped="Skipped files",
    status_failed="Unreadable now, previous version kept",
    rebuilt="Rebuilt the whole index: {reason}.",
    indexed_in="<b>Indexed in {seconds} s:</b> {counts} · {passages}.",
    report_counts=(
        "{n} added",
        "{n} updated",
        "{n} removed",
        "{n} unchanged",
        "{n} skipped",
        "{n} failed",
    ),
    report_lists=("Added", "Updated", "Removed", "Skipped", "Kept the previous version of"),
    bad_date="I can't read the date “{value}”: write it as 2021, 2021-05 or 2021-05-06.",
    locked="Another indexing run is in progress. Try again when it finishes.",
    emptied=(
        "Every indexed document is gone from the folder, so the index stays as it was. "
        "If that is intended, an admin can run <code>citebot index --allow-empty</code>."
    ),
    index_broken=(
        "The index cannot be used (damaged, or built with other settings). "
        "An admin can run <code>citebot index --rebuild</code>."
    ),
    store_unreachable=(
        "Sorry, the search store is out of reach right now. Please try again in a minute."
    ),
    model_broken="The search model cannot be loaded. An admin should check the bot's settings.",
    sorry="Sorry: {detail}",
    apology="Sorry, something went wrong on my side. Please try again in a moment.",
)

RUSSIAN = Phrases(
    language="ru",
    commands=(
        ("ask", "Задать вопрос по документам"),
        ("sources", "Список проиндексированных документов"),
        ("status", "Размер индекса, модель, последняя индексация, пропущенные файлы"),
        ("help", "Как спрашивать в личных чатах и группах"),
        ("start", "Что знает этот бот"),
        ("reindex", "Проиндексировать новые и изменённые документы (администраторы)"),
    ),
    documents=("документ", "документа", "документов"),
    passages=("фрагмент", "фрагмента", "фрагментов"),
    hello=(
        "Здравствуйте! Я отвечаю на вопросы по документам (<b>{documents}</b>, {passages}): "
        "показываю фрагменты, которые отвечают на вопрос, и источник каждого.\n\n"
        "Спрашивайте своими словами, например:\n<i>{example}</i>"
    ),
    hello_empty="Здравствуйте! Я отвечаю на вопросы по папке с документами.",
    help=(
        "<b>Как спрашивать</b>\n"
        "• В личном чате: просто напишите вопрос.\n"
        "• В группе: <code>/ask ваш вопрос</code>, ответ на моё сообщение "
        "или упоминание {handle}.\n"
        "• В любом чате: наберите <code>{handle} ваш вопрос</code> и выберите фрагмент, "
        "чтобы им поделиться.\n"
        "• Уточнить поиск: <code>/ask since:2021-05 until:2021-06-15 source:reuters "
        "ваш вопрос</code> (даты в виде 2021, 2021-05 или 2021-05-06; source: часть имени "
        "файла, ссылки или сайта).\n\n"
        "В ответе — лучшие фрагменты, самое подходящее предложение выделено жирным, "
        "с источником и степенью совпадения. <b>Ещё</b> показывает следующие фрагменты, "
        "<b>Контекст</b> — текст вокруг фрагмента.\n\n"
        "/sources — список документов, /status — состояние индекса, "
        "/reindex — обновить его (для администраторов)."
    ),
    ask_usage="Задайте вопрос, например: <code>/ask что произошло в мае?</code>",
    refusal="Извините, этот бот отвечает только тем людям и чатам, для которых он настроен.",
    not_admin="Извините, переиндексировать могут только администраторы бота.",
    reindexing="Индексирую документы… Напишу, что изменилось.",
    not_indexed=(
        "Пока ничего не проиндексировано. Администратор может добавить документы "
        "и выполнить /reindex."
    ),
    no_good_match=(
        "<b>Хорошо подходящих фрагментов нет.</b> Ниже ближайшие, с пометкой "
        "«слабое совпадение»; попробуйте другие слова."
    ),
    no_filter_match="Ни один документ не подходит под эти фильтры ({filters}).",
    passages_range="Фрагменты {first}–{last}",
    weak="слабое совпадение",
    good="хорошее совпадение",
    strong="сильное совпадение",
    weak_mark="(слабое)",
    link="ссылка",
    also_in="также в",
    and_more="и ещё {n}",
    context_title="Контекст фрагмента {rank}",
    context_button="Контекст {n}",
    more_button="Ещё ▸",
    no_more="Больше фрагментов нет.",
    stale="Этот результат из прежней версии индекса. Спросите ещё раз.",
    forgotten=(
        "Этого результата у меня уже нет (он устарел или я перезапускался). Спросите ещё раз."
    ),
    listed_more="… и ещё {n}.",
    status_documents="Документы",
    status_passages="Фрагменты",
    status_model="<b>Модель:</b> {model} (размерность {dim})",
    status_indexed="Последняя индексация",
    status_skipped="Пропущенные файлы",
    status_failed="Сейчас не читаются, оставлена прежняя версия",
    rebuilt="Индекс перестроен полностью: {reason}.",
    indexed_in="<b>Проиндексировано за {seconds} с:</b> {counts} · {passages}.",
    report_counts=(
        "добавлено: {n}",
        "обновлено: {n}",
        "удалено: {n}",
        "без изменений: {n}",
        "пропущено: {n}",
        "с ошибкой: {n}",
    ),
    report_lists=("Добавлены", "Обновлены", "Удалены", "Пропущены", "Оставлена прежняя версия"),
    bad_date="Не могу разобрать дату «{value}»: пишите её как 2021, 2021-05 или 2021-05-06.",
    locked="Индексация уже идёт. Попробуйте, когда она закончится.",
    emptied=(
        "Из папки пропали все проиндексированные документы, поэтому индекс оставлен как был. "
        "Если так и задумано, администратор может выполнить "
        "<code>citebot index --allow-empty</code>."
    ),
    index_broken=(
        "Индексом нельзя пользоваться (он повреждён или построен с другими настройками). "
        "Администратор может выполнить <code>citebot index --rebuild</code>."
    ),
    store_unreachable=(
        "Извините, хранилище поиска сейчас недоступно. Попробуйте ещё раз через минуту."
    ),
    model_broken=(
        "Не удаётся загрузить модель поиска. Администратору стоит проверить настройки бота."
    ),
    sorry="Извините: {detail}",
    apology="Извините, у меня что-то пошло не так. Попробуйте ещё раз чуть позже.",
)

UKRAINIAN = Phrases(
    language="uk",
    commands=(
        ("ask", "Поставити запитання до документів"),
        ("sources", "Список проіндексованих документів"),
        ("status", "Розмір індексу, модель, остання індексація, пропущені файли"),
        ("help", "Як питати в особистих чатах і групах"),
        ("start", "Що знає цей бот"),
        ("reindex", "Проіндексувати нові та змінені документи (адміністратори)"),
    ),
    documents=("документ", "документи", "документів"),
    passages=("фрагмент", "фрагменти", "фрагментів"),
    hello=(
        "Вітаю! Я відповідаю на запитання за документами (<b>{documents}</b>, {passages}): "
        "показую фрагменти, що відповідають на запитання, і джерело кожного.\n\n"
        "Питайте своїми словами, наприклад:\n<i>{example}</i>"
    ),
    hello_empty="Вітаю! Я відповідаю на запитання за текою з документами.",
    help=(
        "<b>Як питати</b>\n"
        "• В особистому чаті: просто напишіть запитання.\n"
        "• У групі: <code>/ask ваше запитання</code>, відповідь на моє повідомлення "
        "або згадка {handle}.\n"
        "• У будь-якому чаті: наберіть <code>{handle} ваше запитання</code> і виберіть "
        "фрагмент, щоб ним поділитися.\n"
        "• Уточнити пошук: <code>/ask since:2021-05 until:2021-06-15 source:reuters "
        "ваше запитання</code> (дати як 2021, 2021-05 або 2021-05-06; source: частина назви "
        "файлу, посилання або сайту).\n\n"
        "У відповіді — найкращі фрагменти, найвлучніше речення виділено жирним, "
        "з джерелом і ступенем збігу. <b>Ще</b> показує наступні фрагменти, "
        "<b>Контекст</b> — текст навколо фрагмента.\n\n"
        "/sources — список документів, /status — стан індексу, "
        "/reindex — оновити його (для адміністраторів)."
    ),
    ask_usage="Поставте запитання, наприклад: <code>/ask що сталося в травні?</code>",
    refusal="Вибачте, цей бот відповідає лише тим людям і чатам, для яких його налаштовано.",
    not_admin="Вибачте, переіндексувати можуть лише адміністратори бота.",
    reindexing="Індексую документи… Напишу, що змінилося.",
    not_indexed=(
        "Поки нічого не проіндексовано. Адміністратор може додати документи й виконати /reindex."
    ),
    no_good_match=(
        "<b>Фрагментів, що добре підходять, немає.</b> Нижче найближчі, з позначкою "
        "«слабкий збіг»; спробуйте інші слова."
    ),
    no_filter_match="Жоден документ не відповідає цим фільтрам ({filters}).",
    passages_range="Фрагменти {first}–{last}",
    weak="слабкий збіг",
    good="добрий збіг",
    strong="сильний збіг",
    weak_mark="(слабкий)",
    link="посилання",
    also_in="також у",
    and_more="і ще {n}",
    context_title="Контекст фрагмента {rank}",
    context_button="Контекст {n}",
    more_button="Ще ▸",
    no_more="Більше фрагментів немає.",
    stale="Цей результат із попередньої версії індексу. Запитайте ще раз.",
    forgotten=(
        "Цього результату в мене вже немає (він застарів або я перезапускався). Запитайте ще раз."
    ),
    listed_more="… і ще {n}.",
    status_documents="Документи",
    status_passages="Фрагменти",
    status_model="<b>Модель:</b> {model} (розмірність {dim})",
    status_indexed="Остання індексація",
    status_skipped="Пропущені файли",
    status_failed="Зараз не читаються, залишено попередню версію",
    rebuilt="Індекс перебудовано повністю: {reason}.",
    indexed_in="<b>Проіндексовано за {seconds} с:</b> {counts} · {passages}.",
    report_counts=(
        "додано: {n}",
        "оновлено: {n}",
        "вилучено: {n}",
        "без змін: {n}",
        "пропущено: {n}",
        "з помилкою: {n}",
    ),
    report_lists=("Додано", "Оновлено", "Вилучено", "Пропущено", "Залишено попередню версію"),
    bad_date="Не можу розібрати дату «{value}»: пишіть її як 2021, 2021-05 або 2021-05-06.",
    locked="Індексація вже триває. Спробуйте, коли вона завершиться.",
    emptied=(
        "З теки зникли всі проіндексовані документи, тож індекс залишено як був. "
        "Якщо так і задумано, адміністратор може виконати "
        "<code>citebot index --allow-empty</code>."
    ),
    index_broken=(
        "Індексом не можна користуватися (він пошкоджений або побудований з іншими "
        "налаштуваннями). Адміністратор може виконати <code>citebot index --rebuild</code>."
    ),
    store_unreachable="Вибачте, сховище пошуку зараз недоступне. Спробуйте ще раз за хвилину.",
    model_broken=(
        "Не вдається завантажити модель пошуку. Адміністраторові варто перевірити "
        "налаштування бота."
    ),
    sorry="Вибачте: {detail}",
    apology="Вибачте, у мене щось пішло не так. Спробуйте ще раз трохи згодом.",
)

BY_LANGUAGE = {phrases.language: phrases for phrases in (ENGLISH, RUSSIAN, UKRAINIAN)}


def phrases_for(language_code: str | None) -> Phrases:
    """The phrases for a Telegram `language_code` ("ru", "uk-UA", …); English otherwise."""
    primary = (language_code or "").split("-")[0].split("_")[0].lower()
    return BY_LANGUAGE.get(primary, ENGLISH)
