"""Page debris out of extracted blocks: what a reader skips must not become a passage.

Two kinds of rule. `_DEBRIS` is a table of whole-block patterns, one family per row
(widgets, share/subscribe, photo credits, cookie banners, lone URLs, rights footers); each
row fires only on blocks shorter than its limit, so a real paragraph that merely mentions
"реклама" or "cookies" stays. "Read also" links need structure instead: the marker may
stand alone with the headline on the next line, carry the headline, or — when scraped
from adjacent <a> tags — be glued to the next sentence ("…Commander-in-ChiefStoltenberg
added…"); the headline ends at that glue point, and what follows it is kept.
"""

from __future__ import annotations

import re

from retrieval.documents.decoding import strip_control_characters

_LOWER = "a-zа-яёіїєґ"
_UPPER = "A-ZА-ЯЁІЇЄҐ"


def _one_of(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


_AGENCY = _one_of(
    "reuters", "ap(?: photo)?", "afp", "epa(?:-efe)?", "getty images", "shutterstock",
    "depositphotos", "unsplash", "pexels", "associated press", "bloomberg", "anadolu",
    "unian", "униан", "уніан", "ukrinform", "укринформ", "укрінформ", "тасс", "tass",
    "риа новости", "ria novosti",
)  # fmt: skip
_SOCIAL = _one_of(
    "telegram", r"телеграм\w*", "facebook", "twitter", "viber", "instagram", "youtube",
    "google news", "tiktok", "whatsapp", "x",
)  # fmt: skip
_WIDGET = _one_of(
    "(?:видео|фото|відео|новость|новина) дня", "(?:video|photo|news) of the day",
    "новости партн[её]ров", "новини партнерів", "partner (?:news|content)", "advertisement",
    "advertising", "реклама", "sponsored(?: content)?", "most (?:read|popular)", "popular",
    "top stories", "related (?:articles|stories|news)", "recommended(?: for you)?",
    "популярное", "самое читаемое", "популярне", "найпопулярніше", "главное", "головне",
    "comments", "комментарии", "коментарі", "loading", "загрузка", "завантаження",
)  # fmt: skip
_SHARE = _one_of(
    "share", "поделиться", "поділитися", "tweet", "print", "e-?mail", "copy link",
    "скопировать ссылку", "копіювати посилання",
)  # fmt: skip
_SUBSCRIBE = _one_of(
    "subscribe", "sign up", "подписывайтесь", "подпишитесь", "підписуйтесь", "підпишіться"
)
_CREDIT = _one_of(
    "photo(?: credit)?s?", "image", "picture", "illustration", "credit", "фото", "фотография",
    "иллюстрация", "ілюстрація", "скриншот", "screenshot", "video", "видео", "відео",
)  # fmt: skip
_COOKIE = _one_of(r"\bcookies?\b", r"\bкуки\b", r"\bкукі\b")
_ADDRESSING = _one_of(
    r"\bwe\b", r"\bour\b", r"\bthis (?:web)?site\b", r"\byou agree\b", r"\baccept\b",
    r"\bмы\b", r"\bнаш", r"\bсайт", r"\bми\b", r"\bвы\b", r"\bви\b",
)  # fmt: skip
_TRAILING_NOISE = r"[\W\d_]*$"  # "Comments (12)", "Реклама 18+"

# (family, longest block it may remove, pattern searched case-insensitively)
_DEBRIS: tuple[tuple[str, int, re.Pattern[str]], ...] = tuple(
    (family, limit, re.compile(pattern, re.IGNORECASE))
    for family, limit, pattern in (
        ("widget", 80, rf"^{_WIDGET}{_TRAILING_NOISE}"),
        ("widget", 120, r"^(?:tags|topics|теги|темы|теми)\s*:"),
        ("follow", 160, r"^(?:читайте|следите за|стежте за|follow|join|присоединяйтесь к"
                        rf"|приєднуйтесь до)\s+(?:нас|нами|us)\b.*{_SOCIAL}"),
        ("share", 80, rf"^{_SHARE}(?:\s+(?:on|via|in|в|у)\s+{_SOCIAL}|\s+this\s+\w+"
                      rf"|\s+(?:статьей|новостью|статтею|новиною))?{_TRAILING_NOISE}"),
        ("share", 40, rf"^{_SOCIAL}{_TRAILING_NOISE}"),
        ("subscribe", 160, rf"^{_SUBSCRIBE}\b.*(?:newsletter|рассылк|розсилк|channel|канал"
                           rf"|page|страниц|сторінк|\bour\b|\bnow\b|наш|{_SOCIAL})"),
        ("credit", 200, rf"^{_CREDIT}\s*(?::|by\b|—|–)"),
        ("credit", 200, r"^(?:©|\(c\)\s)"),
        ("credit", 120, rf"^{_AGENCY}(?:\s*/.*)?$"),
        ("caption", 200, rf"\s[/|]\s*(?:(?:photo|фото)\b.*|{_AGENCY}(?:\s*/.*)?)$"),
        ("cookie", 500, rf"^(?=.*{_COOKIE})(?=.*{_ADDRESSING})"),
        ("lone url", 2000, r"^(?:https?://|www\.)\S+$"),
        ("rights", 300, r"all rights reserved|все права защищены|(?:усі|всі) права захищені"
                        r"|^при (?:цитировании|использовании|копировании|цитуванні"
                        r"|використанні)\b.*(?:ссылк|посилання|гиперссылк|гіперпосилання)"),
        ("separator", 2000, r"^[\W_]*$"),
    )
)  # fmt: skip

# "Read also" markers; the lookahead lets the headline follow with no space ("alsoRussia").
_READ_ALSO = re.compile(
    r"^(?i:read also|also read|read more|see also|more on this topic|читайте также"
    r"|также читайте|читайте тоже|читать также|смотрите также|см\. также|по теме"
    r"|читайте ещё|читайте еще|читайте також|також читайте|дивіться також|див\. також"
    rf"|по темі|читайте більше)(?=$|[\s:.–—-]|[{_UPPER}])[\s:.–—-]*"
)
# The same markers inside a block, right after a sentence: the block is split there.
_INNER_MARKER = re.compile(
    r"(?<=[.!?…\"»”])\s*(?=(?:Read also|Also read|Read more|See also|Читайте также"
    rf"|Смотрите также|Читайте також|Дивіться також)(?![{_LOWER}]))"
)
_HEADLINE_MAX_CHARS = 250
# A lowercase letter or closing punctuation run straight into a capitalised word (or a
# one-letter one: "…новый мостВ Киеве…").
_GLUE = re.compile(rf"(?<=[{_LOWER})\]»\"”’])(?=[{_UPPER}](?:[{_LOWER}]|\s))")
# Left pieces that are names, not glue: iPhone, eBay, McDonald, DeSantis, LeBron.
_NAME_PIECE = re.compile(rf"^(?:[{_LOWER}]|[{_UPPER}][{_LOWER}])$")
_CAMEL_NAMES = re.compile(
    r"YouTube|TikTok|LinkedIn|PayPal|WhatsApp|PlayStation|GitHub|WikiLeaks|BlackRock|FedEx"
    r"|DeepMind|PowerPoint|MasterCard|SoftBank|JavaScript|BlackBerry|MacBook|AirPods"
    r"|FaceTime|SkyUp|PrivatBank|ПриватБанк"
)
_SENTENCE_END = re.compile(rf"[.!?…][\"'»”’)]*$|(?<=[{_LOWER}]{{2}})[.!?…]\s+[{_UPPER}\"«“]")
_BULLET = re.compile(r"^(?:[•·▪●◦‣∙]\s*|[*\-–]\s+)+")
_SPACES = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r" ?\n\s*")
_TITLE_CREDIT = re.compile(
    rf"(?:\s+[/|]\s*(?:(?:photo|фото)\b.*|{_AGENCY}(?:\s*/.*)?)"
    r"|\s*[(\[](?:фото|видео|відео|photos?|video)[)\]])\s*$",
    re.IGNORECASE,
)


def clean_blocks(blocks: list[str]) -> list[str]:
    """The blocks a reader would read: debris dropped, bullets and stray whitespace removed.

    Every returned block is stripped, non-empty and free of blank lines.
    """
    kept: list[str] = []
    headline_next = False
    for raw in blocks:
        for part in filter(None, _INNER_MARKER.split(_tidy(raw))):
            block, headline_next = _without_read_also(part.strip(), headline_next)
            if block and not is_debris(block) and not (kept and _same(kept[-1], block)):
                kept.append(block)
    return kept


def is_debris(block: str) -> bool:
    """True when the whole block matches one of the `_DEBRIS` families."""
    return any(len(block) <= limit and pattern.search(block) for _, limit, pattern in _DEBRIS)


def clean_title(title: str) -> str:
    """A title without photo-credit suffixes such as " / REUTERS" or " (ФОТО)"."""
    title = " ".join(strip_control_characters(title).split())
    while (match := _TITLE_CREDIT.search(title)) and match.start() > 0:
        title = title[: match.start()].rstrip()
    return title


def _tidy(block: str) -> str:
    block = _SPACES.sub(" ", block).strip()
    return _LINE_BREAKS.sub("\n", _BULLET.sub("", block)).strip()


def _same(kept: str, block: str) -> bool:
    """Scrapes often repeat a block (a caption, a lead) right after itself."""
    return kept.casefold() == block.casefold()


def _without_read_also(block: str, headline_here: bool) -> tuple[str, bool]:
    """`block` minus a "read also" marker and its headline, and whether the headline is
    expected in the next block (the marker stood alone)."""
    if headline_here:
        rest = _without_headline(block)
        return (block if rest is None else rest), False
    marker = _READ_ALSO.match(block)
    if marker is None:
        return block, False
    if marker.end() == len(block):
        return "", True
    rest = _without_headline(block[marker.end() :])
    return (block if rest is None else rest), False


def _without_headline(text: str) -> str | None:
    """What follows a leading headline in `text`: the text after the glue point, "" if it
    is all headline, None if it does not start with a headline."""
    for glue in _GLUE.finditer(text):
        headline = text[: glue.start()]
        if len(headline) > _HEADLINE_MAX_CHARS or _SENTENCE_END.search(headline):
            break
        piece = headline.split()[-1] if headline.strip() else ""
        if _NAME_PIECE.match(piece) or _inside_camel_name(text, glue.start()):
            continue
        return text[glue.start() :]
    if len(text) <= _HEADLINE_MAX_CHARS and not _SENTENCE_END.search(text):
        return ""
    return None


def _inside_camel_name(text: str, index: int) -> bool:
    return any(name.start() < index < name.end() for name in _CAMEL_NAMES.finditer(text))
