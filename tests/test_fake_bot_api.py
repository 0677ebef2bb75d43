"""The fake Bot API on its own: raw HTTP calls, then one real PTB Application against it."""

from __future__ import annotations

import asyncio
import html
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fake_bot_api import FakeBotApi
from fake_bot_content import FormatError, parse_html, render_text
from fake_bot_state import CONFLICT, NOT_MODIFIED, QUERY_TOO_OLD

CHAT = 1001


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi(query_expiry=0.5) as server:
        yield server


def call(fake: FakeBotApi, method: str, *, token: str | None = None, **params: Any) -> Any:
    """POST the way PTB does: form-encoded, non-string values JSON-encoded."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    request = urllib.request.Request(
        f"{fake.base_url}{token or fake.token}/{method}",
        data=urllib.parse.urlencode(form).encode(),
    )
    return _open(request)


def _open(request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def ok(fake: FakeBotApi, method: str, **params: Any) -> Any:
    status, body = call(fake, method, **params)
    assert (status, body["ok"]) == (200, True), body
    return body["result"]


def refused(fake: FakeBotApi, method: str, status: int, **params: Any) -> str:
    got, body = call(fake, method, **params)
    assert (got, body["ok"], body["error_code"]) == (status, False, status), body
    return str(body["description"])


def keyboard(*data: str) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": d[:10] or "x", "callback_data": d} for d in data]]}


# -- routing and identity -------------------------------------------------------------------


def test_get_me_describes_a_bot(fake: FakeBotApi) -> None:
    me = ok(fake, "getMe")
    assert me["is_bot"] is True
    assert me["username"] == fake.bot_username
    assert {"id", "first_name", "can_join_groups", "supports_inline_queries"} <= me.keys()
    assert me["can_read_all_group_messages"] is False


def test_wrong_token_and_unknown_method_answer_like_telegram(fake: FakeBotApi) -> None:
    assert call(fake, "getMe", token="1:wrong") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert refused(fake, "sendCarrierPigeon", 404) == "Not Found"
    assert ok(fake, "GETME")["id"] == fake.bot_user["id"]  # method names ignore case
    assert [(e.method, e.status) for e in fake.errors] == [
        ("getme", 401),
        ("sendcarrierpigeon", 404),
    ]


def test_json_and_multipart_bodies_are_understood(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    request = urllib.request.Request(
        f"{fake.base_url}{fake.token}/sendMessage",
        data=json.dumps({"chat_id": CHAT, "text": "<b>json</b>", "parse_mode": "HTML"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert _open(request)[1]["result"]["text"] == "json"
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n1001\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="text"\r\n\r\nmulti\xc3\xa9\r\n--XX--\r\n'
    )
    request = urllib.request.Request(
        f"{fake.base_url}{fake.token}/sendMessage",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=XX"},
    )
    assert _open(request)[1]["result"]["text"] == "multié"


# -- HTML ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "plain", "types"),
    [
        (
            "<b>a</b><strong>b</strong><i>c</i><em>d</em>",
            "abcd",
            ["bold", "bold", "italic", "italic"],
        ),
        ("<u>a</u><ins>b</ins><s>c</s><strike>d</strike><del>e</del>", "abcde", None),
        ('<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>', "xy", None),
        ('<a href="https://example.org/?a=1&amp;b=2">link</a>', "link", ["text_link"]),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", ["pre"]),
        ("<blockquote>q</blockquote><blockquote expandable>e</blockquote>", "qe", None),
        ("<b>bold <i>both</i></b> &lt;&gt;&amp;&quot;&#39;&#x1F600;", None, None),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", ["custom_emoji"]),
        ("a > b", "a > b", []),
        ("<B>upper</B>", "upper", ["bold"]),
    ],
)
def test_valid_html_parses(html: str, plain: str | None, types: list[str] | None) -> None:
    text, entities = parse_html(html)
    if plain is not None:
        assert text == plain
    if types is not None:
        assert [e["type"] for e in entities][: len(types)] == types


def test_html_entities_get_utf16_offsets_and_languages() -> None:
    text, entities = parse_html('😀 <b>x</b><pre><code class="language-py">y</code></pre>')
    assert text == "😀 xy"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 1},
        {"type": "pre", "offset": 4, "length": 1, "language": "py"},
    ]


def test_surrounding_whitespace_is_trimmed_like_telegram() -> None:
    text, entities = render_text("\n <b> bold</b> tail \n", "HTML")
    assert text == "bold tail"
    assert entities == [{"type": "bold", "offset": 0, "length": 4}]


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("a <br/>", 'Unsupported start tag "br"'),
        ("é <b>x", 'Can\'t find end tag for "b" at byte offset 3'),
        ("<b>x</i>", 'Unmatched end tag, expected "</b>"'),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag"),
        ("1 < 2", 'Unsupported start tag ""'),
        ("fish & chips", 'Unescaped "&"'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ("&#xD800;", "Invalid character reference"),
        ("<span>x</span>", 'must have class "tg-spoiler"'),
        ('<b class="x">x</b>', 'Unsupported attribute "class"'),
        ("<a>x</a>", "valid href"),
        ('<a href="javascript:alert(1)">x</a>', "valid href"),
        ("<code><b>x</b></code>", "can't be nested"),
        ('<a href="https://a.org"><a href="https://b.org">x</a></a>', "can't be nested"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "can't be nested"),
        ('<code class="python">x</code>', 'class="language-'),
        ('<a href="https://a.org>x</a>', "Unclosed start tag"),
    ],
)
def test_invalid_html_is_refused_with_a_byte_offset(html: str, reason: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_html(html)
    assert str(caught.value).startswith("can't parse entities: ")
    assert reason in str(caught.value)
    assert "at byte offset" in str(caught.value)


def test_bad_html_is_a_400_over_http(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    description = refused(
        fake, "sendMessage", 400, chat_id=CHAT, text="<b>x</i>", parse_mode="HTML"
    )
    assert description.startswith("Bad Request: can't parse entities: ")
    assert fake.errors[-1].description == description
    assert fake.messages(CHAT) == []


def test_length_limit_counts_text_after_parsing(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    fits = "<b>" + "a" * 4000 + "</b>" + "&amp;" * 96  # raw > 4096, parsed = 4096
    sent = ok(fake, "sendMessage", chat_id=CHAT, text=fits, parse_mode="HTML")
    assert len(sent["text"]) == 4096
    assert refused(fake, "sendMessage", 400, chat_id=CHAT, text="a" * 4097) == (
        "Bad Request: message is too long"
    )
    assert render_text("😀" * 2048, None)[0] == "😀" * 2048
    with pytest.raises(FormatError, match="too long"):  # an emoji is two UTF-16 units
        render_text("😀" * 2049, None)
    assert refused(fake, "sendMessage", 400, chat_id=CHAT, text="<b> </b>", parse_mode="HTML") == (
        "Bad Request: message text is empty"
    )
    assert refused(fake, "sendMessage", 400, chat_id=CHAT, text="") == (
        "Bad Request: message text is empty"
    )


# -- sending and editing -------------------------------------------------------------------


def test_send_message_stores_and_returns_a_message(fake: FakeBotApi) -> None:
    asked = fake.push_message(CHAT, "question")
    assert asked > 0
    sent = ok(
        fake,
        "sendMessage",
        chat_id=CHAT,
        text="<i>answer</i>",
        parse_mode="HTML",
        reply_parameters={"message_id": 1},
        reply_markup=keyboard("more:1"),
    )
    assert sent["from"]["is_bot"] is True
    assert sent["chat"] == {
        "id": CHAT,
        "type": "private",
        "first_name": "Tester",
        "username": "user1001",
    }
    assert sent["message_id"] == 2  # ids are per chat and shared with the user's messages
    assert sent["reply_to_message"]["text"] == "question"
    assert sent["reply_markup"] == keyboard("more:1")
    [stored] = fake.messages(CHAT)
    assert (stored.text, stored.raw_text, stored.parse_mode) == ("answer", "<i>answer</i>", "HTML")
    assert stored.reply_to_message_id == 1
    assert [m.text for m in fake.messages(CHAT, include_user=True)] == ["question", "answer"]
    assert [c.params["chat_id"] for c in fake.sent_calls("sendmessage")] == ["1001"]


def test_send_message_refuses_unknown_chats_and_replies(fake: FakeBotApi) -> None:
    assert refused(fake, "sendMessage", 400, chat_id=4242, text="hi") == (
        "Bad Request: chat not found"
    )
    fake.push_message(CHAT, "hi")
    assert refused(fake, "sendMessage", 400, chat_id=CHAT, text="x", reply_to_message_id=99) == (
        "Bad Request: message to be replied not found"
    )


@pytest.mark.parametrize(
    ("data", "accepted"),
    [("x" * 64, True), ("é" * 32, True), ("x" * 65, False), ("é" * 33, False), ("", False)],
)
def test_callback_data_is_limited_to_64_bytes(fake: FakeBotApi, data: str, accepted: bool) -> None:
    fake.push_message(CHAT, "hi")
    status, body = call(fake, "sendMessage", chat_id=CHAT, text="pick", reply_markup=keyboard(data))
    if accepted:
        assert status == 200, body
    else:
        assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


def test_url_buttons_are_allowed_and_text_only_buttons_are_not(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    url_button = {"inline_keyboard": [[{"text": "src", "url": "https://example.org/doc"}]]}
    ok(fake, "sendMessage", chat_id=CHAT, text="see", reply_markup=url_button)
    text_only = {"inline_keyboard": [[{"text": "just text"}]]}
    assert "unallowed" in refused(
        fake, "sendMessage", 400, chat_id=CHAT, text="x", reply_markup=text_only
    )


def test_edit_message_text_records_history_and_refuses_no_ops(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    sent = ok(fake, "sendMessage", chat_id=CHAT, text="v1", reply_markup=keyboard("a"))
    message_id = sent["message_id"]
    edited = ok(
        fake,
        "editMessageText",
        chat_id=CHAT,
        message_id=message_id,
        text="<b>v2</b>",
        parse_mode="HTML",
        reply_markup=keyboard("a"),
    )
    assert edited["text"] == "v2" and "edit_date" in edited
    assert refused(
        fake,
        "editMessageText",
        400,
        chat_id=CHAT,
        message_id=message_id,
        text="<b>v2</b>",
        parse_mode="HTML",
        reply_markup=keyboard("a"),
    ) == (f"Bad Request: {NOT_MODIFIED}")
    ok(fake, "editMessageText", chat_id=CHAT, message_id=message_id, text="v2")  # bold dropped
    [stored] = fake.messages(CHAT)
    assert stored.text == "v2" and stored.reply_markup is None  # no markup given: removed
    assert [v.raw_text for v in stored.history] == ["v1", "<b>v2</b>"]
    assert refused(fake, "editMessageText", 400, chat_id=CHAT, message_id=99, text="x") == (
        "Bad Request: message to edit not found"
    )
    assert refused(fake, "editMessageText", 400, chat_id=CHAT, message_id=1, text="x") == (
        "Bad Request: message can't be edited"
    )


# -- updates -------------------------------------------------------------------------------


def test_offset_confirms_and_limit_caps(fake: FakeBotApi) -> None:
    ids = [fake.push_message(CHAT, f"m{n}") for n in range(3)]
    assert [u["update_id"] for u in ok(fake, "getUpdates")] == ids
    assert [u["update_id"] for u in ok(fake, "getUpdates", limit=1)] == ids[:1]
    assert [u["update_id"] for u in ok(fake, "getUpdates", offset=ids[1])] == ids[1:]
    assert [u["update_id"] for u in ok(fake, "getUpdates", offset=0)] == ids[1:]  # confirmed
    assert ok(fake, "getUpdates", offset=ids[2] + 1) == []
    more = [fake.push_message(CHAT, f"n{n}") for n in range(3)]
    assert [u["update_id"] for u in ok(fake, "getUpdates", offset=-1)] == more[-1:]
    assert fake.pending_updates == 1


def test_long_poll_blocks_until_an_update_or_the_timeout(fake: FakeBotApi) -> None:
    started = time.monotonic()
    assert ok(fake, "getUpdates", timeout=1) == []
    assert time.monotonic() - started >= 0.9
    threading.Timer(0.2, fake.push_message, (CHAT, "late")).start()
    started = time.monotonic()
    [update] = ok(fake, "getUpdates", timeout=1)
    assert update["message"]["text"] == "late"
    assert time.monotonic() - started < 0.8


def test_a_second_poller_terminates_the_first_with_409(fake: FakeBotApi) -> None:
    first: list[tuple[int, dict[str, Any]]] = []
    poller = threading.Thread(target=lambda: first.append(call(fake, "getUpdates", timeout=1)))
    poller.start()
    fake.wait_for(lambda: fake.polls_waiting == 1, timeout=2)
    assert ok(fake, "getUpdates", timeout=0) == []
    poller.join()
    assert first[0][0] == 409
    assert first[0][1]["description"] == CONFLICT
    assert [(e.method, e.status) for e in fake.errors] == [("getupdates", 409)]


def test_stop_releases_a_waiting_poll() -> None:
    fake = FakeBotApi(max_poll_timeout=5).start()
    answers: list[tuple[int, dict[str, Any]]] = []
    poller = threading.Thread(target=lambda: answers.append(call(fake, "getUpdates", timeout=5)))
    poller.start()
    fake.wait_for(lambda: fake.polls_waiting == 1, timeout=2)
    started = time.monotonic()
    fake.stop()
    poller.join(timeout=5)
    assert time.monotonic() - started < 1
    assert answers == [(200, {"ok": True, "result": []})]


def test_allowed_updates_filters_new_updates(fake: FakeBotApi) -> None:
    ok(fake, "getUpdates", allowed_updates=["callback_query"])
    fake.push_message(CHAT, "ignored")
    assert ok(fake, "getUpdates") == []
    assert fake.dropped_updates[0]["message"]["text"] == "ignored"
    ok(fake, "getUpdates", allowed_updates=[])  # back to the default set
    fake.push_message(CHAT, "seen")
    assert ok(fake, "getUpdates")[0]["message"]["text"] == "seen"


def test_pushed_messages_carry_telegram_entities(fake: FakeBotApi) -> None:
    text = "/ask@citebot_test_bot 😀 @someone read https://example.org/a, /help"
    fake.push_message(CHAT, text)
    [update] = ok(fake, "getUpdates")
    entities = update["message"]["entities"]
    assert entities == [
        {"type": "bot_command", "offset": 0, "length": 21},
        {"type": "mention", "offset": 25, "length": 8},
        {"type": "url", "offset": 39, "length": 21},
        {"type": "bot_command", "offset": 62, "length": 5},
    ]


def test_replies_point_at_stored_messages(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    ok(fake, "sendMessage", chat_id=CHAT, text="answer")
    fake.push_message(CHAT, "why?", reply_to_message_id=2)
    reply = ok(fake, "getUpdates")[-1]["message"]["reply_to_message"]
    assert (reply["message_id"], reply["text"], reply["from"]["is_bot"]) == (2, "answer", True)
    with pytest.raises(ValueError, match="no message"):
        fake.push_message(CHAT, "x", reply_to_message_id=77)


def test_group_privacy_mode_hides_plain_chatter(fake: FakeBotApi) -> None:
    group = -100200
    fake.push_message(group, "just chatting", user_id=5, chat_type="group", chat_title="G")
    fake.push_message(group, "/ask what", user_id=5, chat_type="group")
    fake.push_message(group, "/ask@other_bot what", user_id=5, chat_type="group")
    texts = [u["message"]["text"] for u in ok(fake, "getUpdates")]
    assert texts == ["/ask what"]
    assert ok(fake, "getUpdates")[0]["message"]["chat"]["title"] == "G"


# -- callback and inline queries -----------------------------------------------------------


def test_callback_query_can_be_answered_once_and_in_time(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    sent = ok(fake, "sendMessage", chat_id=CHAT, text="pick", reply_markup=keyboard("p:1"))
    query_id = fake.push_callback(CHAT, sent["message_id"], "p:1")
    [update] = ok(fake, "getUpdates", offset=-1)
    assert update["callback_query"]["message"]["text"] == "pick"
    assert update["callback_query"]["data"] == "p:1"
    too_long = refused(fake, "answerCallbackQuery", 400, callback_query_id=query_id, text="x" * 201)
    assert too_long == "Bad Request: MESSAGE_TOO_LONG"
    assert ok(fake, "answerCallbackQuery", callback_query_id=query_id, text="done") is True
    again = refused(fake, "answerCallbackQuery", 400, callback_query_id=query_id)
    assert again == f"Bad Request: {QUERY_TOO_OLD}"
    late = fake.push_callback(CHAT, sent["message_id"], "p:1")
    time.sleep(0.6)
    assert refused(fake, "answerCallbackQuery", 400, callback_query_id=late) == again
    assert refused(fake, "answerCallbackQuery", 400, callback_query_id="123") == again
    assert [a.text for a in fake.callback_answers] == ["done"]
    with pytest.raises(ValueError, match="no button"):
        fake.push_callback(CHAT, sent["message_id"], "p:2")


def test_inline_answers_are_validated(fake: FakeBotApi) -> None:
    query_id = fake.push_inline_query("refund", user_id=7)

    def article(n: int, **extra: Any) -> dict[str, Any]:
        content = {"message_text": f"<b>{n}</b>", "parse_mode": "HTML"}
        return {"type": "article", "id": str(n), "title": f"t{n}"} | {
            "input_message_content": content,
            **extra,
        }

    cases = {
        "RESULTS_TOO_MUCH": [article(n) for n in range(51)],
        "RESULT_ID_DUPLICATE": [article(1), article(1)],
        "RESULT_ID_INVALID": [article(1, id="x" * 65)],
        '"title"': [article(1, title="")],
        "can't parse entities": [
            article(1, input_message_content={"message_text": "<x>", "parse_mode": "HTML"})
        ],
        "MESSAGE_TOO_LONG": [article(1, input_message_content={"message_text": "a" * 4097})],
    }
    for reason, results in cases.items():
        description = refused(
            fake, "answerInlineQuery", 400, inline_query_id=query_id, results=results
        )
        assert reason in description
    assert ok(fake, "answerInlineQuery", inline_query_id=query_id, results=[article(1)])
    assert refused(fake, "answerInlineQuery", 400, inline_query_id=query_id, results=[]) == (
        f"Bad Request: {QUERY_TOO_OLD}"
    )
    [answer] = fake.inline_answers
    assert answer.results[0]["id"] == "1"


# -- commands, chat actions, failure injection ---------------------------------------------


def test_set_my_commands_validates_and_records(fake: FakeBotApi) -> None:
    commands = [{"command": "ask", "description": "Ask the documents"}]
    assert ok(fake, "setMyCommands", commands=commands) is True
    assert fake.commands == [("ask", "Ask the documents")]
    assert ok(fake, "getMyCommands") == commands
    for bad in ({"command": "Ask", "description": "x"}, {"command": "a" * 33, "description": "x"}):
        assert "BOT_COMMAND_INVALID" in refused(fake, "setMyCommands", 400, commands=[bad])
    bad_description = [{"command": "ask", "description": "x" * 257}]
    assert "DESCRIPTION" in refused(fake, "setMyCommands", 400, commands=bad_description)


def test_chat_actions_must_be_known(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    assert ok(fake, "sendChatAction", chat_id=CHAT, action="typing") is True
    refused(fake, "sendChatAction", 400, chat_id=CHAT, action="thinking")
    assert [a.action for a in fake.chat_actions(CHAT)] == ["typing"]


def test_fail_next_injects_429_with_retry_after_then_recovers(fake: FakeBotApi) -> None:
    fake.push_message(CHAT, "hi")
    fake.fail_next("sendMessage", 429, retry_after=3)
    status, body = call(fake, "sendMessage", chat_id=CHAT, text="x")
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    ok(fake, "sendMessage", chat_id=CHAT, text="x")
    fake.fail_next("sendmessage", 500, times=2)
    fake.fail_next("sendMessage", 502)
    assert refused(fake, "sendMessage", 500, chat_id=CHAT, text="y") == "Internal Server Error"
    assert refused(fake, "sendMessage", 500, chat_id=CHAT, text="y") == "Internal Server Error"
    assert refused(fake, "sendMessage", 502, chat_id=CHAT, text="y") == "Bad Gateway"
    assert [m.text for m in fake.messages(CHAT)] == ["x"]
    assert all(e.injected for e in fake.errors)


def test_a_thousand_concurrent_sends(fake: FakeBotApi) -> None:
    for chat in range(200):
        fake.push_message(chat + 1, "hi")

    def send(n: int) -> int:
        return call(fake, "sendMessage", chat_id=n % 200 + 1, text=f"answer {n}")[0]

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(send, range(1000)))
    assert statuses == [200] * 1000
    assert all(len(fake.messages(chat + 1)) == 5 for chat in range(200))


# -- the real library ----------------------------------------------------------------------


def test_real_ptb_application_round_trip(fake: FakeBotApi) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.constants import ParseMode
    from telegram.ext import (
        ApplicationBuilder,
        CallbackQueryHandler,
        CommandHandler,
        ContextTypes,
        MessageHandler,
        filters,
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Echo in bold, with a button."""
        assert update.message is not None and update.message.text is not None
        await update.message.chat.send_action("typing")
        button = InlineKeyboardButton("again", callback_data="again")
        await update.message.reply_html(
            f"<b>{html.escape(update.message.text)}</b>",
            reply_markup=InlineKeyboardMarkup([[button]]),
        )

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Greet."""
        assert update.message is not None
        await update.message.reply_text("hello", parse_mode=ParseMode.HTML)

    async def again(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer the button and edit its message."""
        assert update.callback_query is not None
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text("pressed")

    async def scenario() -> None:
        application = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .build()
        )
        application.add_handler(CommandHandler("start", start))
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
        application.add_handler(CallbackQueryHandler(again))
        async with application:
            await application.bot.set_my_commands([("start", "Say hello")])
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=1)
            fake.push_message(CHAT, "/start")
            fake.push_message(CHAT, "ping & <pong>")
            replies = await asyncio.to_thread(fake.wait_for_messages, CHAT, 2, 10)
            fake.push_callback(CHAT, replies[1].message_id, "again")
            await asyncio.to_thread(
                fake.wait_for, lambda: fake.messages(CHAT)[1].text == "pressed", 10
            )
            await application.updater.stop()
            await application.stop()

    asyncio.run(scenario())
    hello, pressed = fake.messages(CHAT)
    assert hello.text == "hello"
    assert pressed.history[0].text == "ping & <pong>"
    assert pressed.history[0].raw_text == "<b>ping &amp; &lt;pong&gt;</b>"  # escaped
    assert [a.text for a in fake.callback_answers] == ["ok"]
    assert [a.action for a in fake.chat_actions(CHAT)] == ["typing"]
    assert fake.commands == [("start", "Say hello")]
    assert fake.errors == []
    assert fake.pending_updates == 0
