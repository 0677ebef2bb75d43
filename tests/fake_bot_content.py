"""What Telegram accepts as message content: its HTML dialect, lengths, buttons, inline results.

Pure functions shared by the fake Bot API and its tests. The fake is meant to be at least as
strict as Telegram, so a few things Telegram tolerates or silently repairs are refused here:
a bare ``&`` or an unknown named entity, unknown tag attributes, nesting Telegram would drop
(``<code><b>…</b></code>``), and lengths are counted in UTF-16 code units.
"""

from __future__ import annotations

import re
from typing import Any

MAX_TEXT = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_RESULTS = 50
MAX_BUTTONS = 100

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_TAGS = {*_SIMPLE_TAGS, "a", "code", "pre", "blockquote", "tg-emoji"}
# Telegram: link, code, pre and custom emoji entities cannot contain one another.
_ATOMIC = {"a", "code", "pre", "tg-emoji"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]*));")
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_:.-]*")
_UNQUOTED = re.compile(r"[^\s>\"'=<`]+")
_HREF = re.compile(r"(?:(?:https?|ftp|tg)://|mailto:)\S+|[\w-]+(?:\.[\w-]+)+(?:[/?#]\S*)?")
_BUTTON_URL = re.compile(r"(?:https?|tg)://\S+")
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_RESULT_TYPES = {
    "article", "audio", "cached_audio", "contact", "document", "game", "gif", "location",
    "mpeg4_gif", "photo", "sticker", "venue", "video", "voice",
}  # fmt: skip


class FormatError(ValueError):
    """Content Telegram would refuse; the message is the description after "Bad Request: "."""


def utf16_len(text: str) -> int:
    """Length as Telegram counts offsets and limits: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _fail(text: str, index: int, reason: str) -> FormatError:
    return FormatError(f"can't parse entities: {reason} at byte offset {_byte_offset(text, index)}")


def _decode_entity(text: str, i: int) -> tuple[str, int]:
    """Decode the entity at text[i] == "&"; Telegram knows four names plus numeric ones."""
    match = _ENTITY.match(text, i)
    if match is None:
        raise _fail(text, i, 'Unescaped "&" (write &amp;)')
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        if name not in _NAMED_ENTITIES:
            raise _fail(text, i, f'Unsupported HTML entity "&{name};"')
        return _NAMED_ENTITIES[name], match.end()
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise _fail(text, i, f"Invalid character reference {match.group()}")
    return chr(code), match.end()


def _decode_value(text: str, start: int, value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            try:
                char, i = _decode_entity(value, i)
            except FormatError:
                raise _fail(text, start, "Bad HTML entity in attribute value") from None
            out.append(char)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _parse_attributes(text: str, i: int, tag: str, tag_start: int) -> tuple[dict[str, Any], int]:
    """Read `name="value"` pairs up to ">"; returns them and the index after ">"."""
    attributes: dict[str, Any] = {}
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise _fail(text, tag_start, "Unclosed start tag")
        if text[i] == ">":
            return attributes, i + 1
        name_match = _ATTR_NAME.match(text, i)
        if name_match is None:
            raise _fail(text, i, f'Unexpected character in tag "{tag}"')
        name = name_match.group().lower()
        i = name_match.end()
        while i < len(text) and text[i].isspace():
            i += 1
        value: str | None = None
        if i < len(text) and text[i] == "=":
            i += 1
            while i < len(text) and text[i].isspace():
                i += 1
            if i < len(text) and text[i] in "\"'":
                end = text.find(text[i], i + 1)
                if end < 0:
                    raise _fail(text, tag_start, "Unclosed start tag")
                value = _decode_value(text, i, text[i + 1 : end])
                i = end + 1
            else:
                value_match = _UNQUOTED.match(text, i)
                if value_match is None:
                    raise _fail(text, i, f'Expected a value for attribute "{name}"')
                value = _decode_value(text, i, value_match.group())
                i = value_match.end()
        attributes[name] = value


def _check_tag(text: str, start: int, tag: str, attrs: dict[str, Any], parents: list[str]) -> None:
    """Refuse attributes and nesting that Telegram would reject or silently drop."""
    allowed: dict[str, set[str]] = {
        "span": {"class"},
        "a": {"href"},
        "code": {"class"},
        "blockquote": {"expandable"},
        "tg-emoji": {"emoji-id"},
    }
    for name in attrs:
        if name not in allowed.get(tag, set()):
            raise _fail(text, start, f'Unsupported attribute "{name}" in tag "{tag}"')
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise _fail(text, start, 'Tag "span" must have class "tg-spoiler"')
    if tag == "a" and not (attrs.get("href") and _HREF.fullmatch(attrs["href"])):
        raise _fail(text, start, 'Tag "a" needs a valid href')
    if tag == "code" and "class" in attrs:
        language = attrs["class"] or ""
        if not language.startswith("language-") or len(language) == len("language-"):
            raise _fail(text, start, 'Tag "code" supports only class="language-…"')
    if tag == "blockquote" and attrs.get("expandable") not in (None, "", "expandable"):
        raise _fail(text, start, 'Attribute "expandable" takes no value')
    if tag == "tg-emoji" and not (attrs.get("emoji-id") or "").isdigit():
        raise _fail(text, start, 'Tag "tg-emoji" needs a numeric emoji-id')
    if parents and parents[-1] in ("code", "pre") and not (tag == "code" and parents[-1] == "pre"):
        raise _fail(text, start, f'Tag "{tag}" can\'t be nested in "{parents[-1]}"')
    atomic_parents = [parent for parent in parents if parent in _ATOMIC]
    if tag in _ATOMIC and atomic_parents and atomic_parents != ["pre"]:
        raise _fail(text, start, f'Tag "{tag}" can\'t be nested in "{atomic_parents[-1]}"')
    if tag == "blockquote" and "blockquote" in parents:
        raise _fail(text, start, "Blockquotes can't be nested")


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into the plain text and its entities (UTF-16 offsets).

    Raises FormatError("can't parse entities: … at byte offset N") like the Bot API.
    """
    plain: list[str] = []
    position = 0  # UTF-16 units emitted so far
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            decoded, i = _decode_entity(text, i)
            plain.append(decoded)
            position += utf16_len(decoded)
            continue
        if char != "<":
            plain.append(char)
            position += utf16_len(char)
            i += 1
            continue
        start = i
        if text.startswith("</", i):
            end = text.find(">", i)
            if end < 0:
                raise _fail(text, start, "Unclosed end tag")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise _fail(text, start, "Unexpected end tag")
            if name != stack[-1]["tag"]:
                expected = stack[-1]["tag"]
                raise _fail(text, start, f'Unmatched end tag, expected "</{expected}>"')
            _close(stack, entities, position)
            i = end + 1
            continue
        name_match = _TAG_NAME.match(text, i + 1)
        tag = name_match.group().lower() if name_match else ""
        if tag not in _TAGS:
            raise _fail(text, start, f'Unsupported start tag "{tag}"')
        attrs, i = _parse_attributes(text, name_match.end(), tag, start)  # type: ignore[union-attr]
        _check_tag(text, start, tag, attrs, [frame["tag"] for frame in stack])
        stack.append({"tag": tag, "attrs": attrs, "offset": position, "source": start})
    if stack:
        raise _fail(text, stack[-1]["source"], f'Can\'t find end tag for "{stack[-1]["tag"]}"')
    entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return "".join(plain), entities


def _close(stack: list[dict[str, Any]], entities: list[dict[str, Any]], position: int) -> None:
    """Pop the innermost tag and emit its entity; pre>code hands its language to the pre."""
    frame = stack.pop()
    tag, attrs = frame["tag"], frame["attrs"]
    length = position - frame["offset"]
    if tag == "code" and stack and stack[-1]["tag"] == "pre":
        if attrs.get("class"):
            stack[-1]["language"] = attrs["class"].removeprefix("language-")
        return
    if length == 0:
        return
    extra: dict[str, Any] = {}
    if tag in _SIMPLE_TAGS:
        kind = _SIMPLE_TAGS[tag]
    elif tag == "a":
        kind, extra = "text_link", {"url": attrs["href"]}
    elif tag == "pre":
        kind = "pre"
        if frame.get("language"):
            extra = {"language": frame["language"]}
    elif tag == "blockquote":
        kind = "expandable_blockquote" if "expandable" in attrs else "blockquote"
    elif tag == "tg-emoji":
        kind, extra = "custom_emoji", {"custom_emoji_id": attrs["emoji-id"]}
    else:
        kind = tag
    entity = {"type": kind, "offset": frame["offset"], "length": length, **extra}
    entities.append(entity)


def render_text(
    text: str | None, parse_mode: str | None, entities: Any = None
) -> tuple[str, list[dict[str, Any]]]:
    """Apply parse_mode and Telegram's limits: the text and entities the message will carry."""
    if not text:
        raise FormatError("message text is empty")
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, found = parse_html(text)
    elif mode == "":
        plain, found = text, list(entities or [])
    elif mode in ("markdown", "markdownv2"):  # not modelled: passed through unchecked
        plain, found = text, []
    else:
        raise FormatError("unsupported parse_mode")
    plain, found = _trim(plain, found)
    if not plain:
        raise FormatError("message text is empty")
    if utf16_len(plain) > MAX_TEXT:
        raise FormatError("message is too long")
    return plain, found


def _trim(plain: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram drops leading and trailing whitespace; entities shift and shrink with it."""
    text = plain.strip()
    if text == plain:
        return plain, entities
    shift = utf16_len(plain[: len(plain) - len(plain.lstrip())])
    end = utf16_len(text)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        stop = min(entity["offset"] + entity["length"] - shift, end)
        if stop > start:
            kept.append({**entity, "offset": start, "length": stop - start})
    return text, kept


def check_reply_markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate a reply_markup object; callback data is limited to 64 bytes of UTF-8."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise FormatError("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        keys = {"keyboard", "remove_keyboard", "force_reply"}
        if inline_only or not keys & markup.keys():
            raise FormatError("can't parse reply keyboard markup JSON object")
        return markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise FormatError('Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise FormatError("reply markup is too long")
    for button in (button for row in rows for button in row):
        _check_button(button)
    return markup


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise FormatError("can't parse inline keyboard button: Text must be a String")
    actions = [action for action in _BUTTON_ACTIONS if action in button]
    if not actions:
        raise FormatError("text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise FormatError("can't parse inline keyboard button: only one action is allowed")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
            raise FormatError("BUTTON_DATA_INVALID")
    if "url" in button and not (
        isinstance(button["url"], str) and _BUTTON_URL.fullmatch(button["url"])
    ):
        raise FormatError("BUTTON_URL_INVALID")


def check_inline_results(results: Any) -> list[dict[str, Any]]:
    """Validate answerInlineQuery results: ≤ 50, unique 1-64 byte ids, articles fully."""
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise FormatError("can't parse inline query results JSON object")
    if len(results) > MAX_INLINE_RESULTS:
        raise FormatError("RESULTS_TOO_MUCH")
    seen: set[str] = set()
    for result in results:
        result_id = result.get("id")
        if not isinstance(result_id, str) or not 1 <= len(result_id.encode("utf-8")) <= 64:
            raise FormatError("RESULT_ID_INVALID")
        if result_id in seen:
            raise FormatError("RESULT_ID_DUPLICATE")
        seen.add(result_id)
        if result.get("type") not in _RESULT_TYPES:
            raise FormatError("RESULT_TYPE_INVALID")
        if result["type"] == "article":
            _check_article(result)
        check_reply_markup(result.get("reply_markup"), inline_only=True)
    return results


def _check_article(result: dict[str, Any]) -> None:
    title = result.get("title")
    if not isinstance(title, str) or not title.strip():
        raise FormatError('can\'t parse inline query result: Field "title" must be a String')
    content = result.get("input_message_content")
    if not isinstance(content, dict):
        raise FormatError("can't parse inline query result: input_message_content is required")
    if "message_text" in content:
        try:
            render_text(content["message_text"], content.get("parse_mode"), content.get("entities"))
        except FormatError as error:
            replacements = {"message is too long": "MESSAGE_TOO_LONG"}
            replacements["message text is empty"] = "MESSAGE_EMPTY"
            raise FormatError(replacements.get(str(error), str(error))) from None


_INCOMING = re.compile(
    r"(?P<url>(?<![\w@/])(?:https?://|www\.)[^\s<>\"]+)"
    r"|(?P<bot_command>(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@]))"
    r"|(?P<mention>(?<![\w@/])@[A-Za-z0-9_]{4,32}(?![\w@]))"
    r"|(?P<hashtag>(?<![\w#/&])#\w*[^\W\d]\w*)"
)


def incoming_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's clients attach to a typed message: commands, mentions, URLs."""
    entities = []
    for match in _INCOMING.finditer(text):
        kind = match.lastgroup or ""
        end = match.end()
        if kind == "url":
            while end > match.start() and text[end - 1] in ".,;:!?)'\"":
                end -= 1
        entities.append(
            {
                "type": kind,
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(text[match.start() : end]),
            }
        )
    return entities
