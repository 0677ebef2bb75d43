"""The Bot API's behaviour behind the fake server: chats, messages, updates, queries.

`BotState` holds what Telegram would hold for one bot and answers each method the way
Telegram does, refusals included. It is not thread-safe by itself: `FakeBotApi` calls every
method with `cond` held, and `getUpdates` waits on it.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fake_bot_content import (
    FormatError,
    check_inline_results,
    check_reply_markup,
    render_text,
    utf16_len,
)
from fake_bot_http import ApiError, Params, bad_request

QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
}  # fmt: skip
# Telegram's default when allowed_updates is empty: everything except these.
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}


@dataclass(frozen=True)
class StoredMessage:
    """A message as the chat shows it now; `history` holds the versions before each edit."""

    chat_id: int
    message_id: int
    from_bot: bool
    date: int
    text: str
    raw_text: str
    parse_mode: str | None = None
    entities: tuple[dict[str, Any], ...] = ()
    reply_markup: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    sender: dict[str, Any] | None = None
    edit_date: int | None = None
    history: tuple[StoredMessage, ...] = ()


@dataclass(frozen=True)
class Call:
    """One request as received (form values stay strings) and how it was answered."""

    method: str
    params: dict[str, Any]
    status: int
    description: str | None
    at: float


@dataclass(frozen=True)
class ErrorRecord:
    """A non-2xx answer; `injected` marks those requested through `fail_next`."""

    method: str
    status: int
    description: str
    injected: bool = False


@dataclass(frozen=True)
class CallbackAnswer:
    """An accepted answerCallbackQuery."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclass(frozen=True)
class InlineAnswer:
    """An accepted answerInlineQuery; `params` is the request as received."""

    inline_query_id: str
    results: list[dict[str, Any]]
    params: dict[str, Any]


@dataclass(frozen=True)
class ChatAction:
    """An accepted sendChatAction."""

    chat_id: int
    action: str
    at: float


@dataclass
class _Query:
    """A callback or inline query the fake delivered; each may be answered once, in time."""

    kind: str
    created: float
    answered: bool = False


class BotState:
    """One bot's server-side state and the Bot API methods that read and change it."""

    def __init__(
        self,
        bot_user: dict[str, Any],
        *,
        query_expiry: float,
        max_poll_timeout: float,
        log_limit: int,
    ) -> None:
        self.bot_user = bot_user
        self._bot_sender = {
            key: bot_user[key] for key in ("id", "is_bot", "first_name", "username")
        }
        self.query_expiry = query_expiry
        self.max_poll_timeout = max_poll_timeout
        self.cond = threading.Condition(threading.RLock())
        self.stopping = False
        self.polls_waiting = 0
        self.chats: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, dict[int, StoredMessage]] = {}
        self.pending: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.queries: dict[str, _Query] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.languages: dict[int, str] = {}  # user id -> language_code of their app
        self.actions: collections.deque[ChatAction] = collections.deque(maxlen=log_limit)
        self.callback_answers: list[CallbackAnswer] = []
        self.inline_answers: list[InlineAnswer] = []
        self._next_message_id: dict[int, int] = {}
        self._allowed_updates: list[str] | None = None
        self._update_ids = itertools.count(100_000)
        self._query_ids = itertools.count(4_000_000_000_000_000)
        self._poll_generation = 0
        self.methods: dict[str, Callable[[Params], Any]] = {
            "getme": lambda p: self.bot_user,
            "logout": lambda p: True,
            "close": lambda p: True,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "answerinlinequery": self._answer_inline_query,
        }

    def _delete_webhook(self, p: Params) -> bool:
        if p.flag("drop_pending_updates"):
            self.pending.clear()
        return True

    def _get_webhook_info(self, p: Params) -> dict[str, Any]:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }

    def _get_updates(self, p: Params) -> list[dict[str, Any]]:
        """Long poll; a newer getUpdates terminates this one with 409, as Telegram does."""
        offset = p.integer("offset") or 0
        limit = min(max(p.integer("limit") or 100, 1), 100)
        timeout = min(max(p.number("timeout") or 0.0, 0.0), self.max_poll_timeout)
        allowed = p.json("allowed_updates")
        self._poll_generation += 1
        generation = self._poll_generation
        if allowed is not None:
            if not isinstance(allowed, list) or not all(isinstance(k, str) for k in allowed):
                raise bad_request("can't parse allowed_updates JSON object")
            self._allowed_updates = allowed or None
        if offset > 0:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        elif offset < 0:
            self.pending = self.pending[offset:]
        deadline = time.monotonic() + timeout
        self.polls_waiting += 1
        self.cond.notify_all()  # also wakes the poll this one terminates
        try:
            while not self.pending and not self.stopping and generation == self._poll_generation:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
        finally:
            self.polls_waiting -= 1
        if generation != self._poll_generation:
            raise ApiError(409, CONFLICT)
        return self.pending[:limit]

    def _set_my_commands(self, p: Params) -> bool:
        commands = p.json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            if not isinstance(name, str) or not _is_command(name):
                raise bad_request("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (scope_key(p.json("scope")), p.text("language_code") or "")
        self.commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, p: Params) -> list[dict[str, str]]:
        return self.commands.get((scope_key(p.json("scope")), p.text("language_code") or ""), [])

    def _delete_my_commands(self, p: Params) -> bool:
        self.commands.pop((scope_key(p.json("scope")), p.text("language_code") or ""), None)
        return True

    def _send_message(self, p: Params) -> dict[str, Any]:
        chat_id = self._chat_id(p)
        text = p.text("text")
        parse_mode = p.text("parse_mode")
        plain, entities = _render(text, parse_mode, p.json("entities"))
        markup = _markup(p.json("reply_markup"))
        reply_to = p.integer("reply_to_message_id")
        reply_parameters = p.json("reply_parameters")
        allow_without = p.flag("allow_sending_without_reply")
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id")
            allow_without = bool(reply_parameters.get("allow_sending_without_reply"))
        if reply_to is not None and reply_to not in self.messages.get(chat_id, {}):
            if not allow_without:
                raise bad_request("message to be replied not found")
            reply_to = None
        message = self.store(
            StoredMessage(
                chat_id=chat_id,
                message_id=0,
                from_bot=True,
                date=int(time.time()),
                text=plain,
                raw_text=text or "",
                parse_mode=parse_mode,
                entities=tuple(entities),
                reply_markup=markup,
                reply_to_message_id=reply_to,
            )
        )
        return self.message_json(message)

    def _edit_message_text(self, p: Params) -> dict[str, Any]:
        message = self._editable(p)
        text = p.text("text")
        parse_mode = p.text("parse_mode")
        plain, entities = _render(text, parse_mode, p.json("entities"))
        markup = _markup(p.json("reply_markup"), inline_only=True)
        changes = {"text": plain, "entities": tuple(entities), "reply_markup": markup}
        return self._edit(message, changes, raw_text=text or "", parse_mode=parse_mode)

    def _edit_message_reply_markup(self, p: Params) -> dict[str, Any]:
        message = self._editable(p)
        markup = _markup(p.json("reply_markup"), inline_only=True)
        return self._edit(message, {"reply_markup": markup})

    def _delete_message(self, p: Params) -> bool:
        chat_id = self._chat_id(p)
        message_id = p.integer("message_id", required=True) or 0
        if self.messages.get(chat_id, {}).pop(message_id, None) is None:
            raise bad_request("message to delete not found")
        return True

    def _answer_callback_query(self, p: Params) -> bool:
        query_id = p.text("callback_query_id", required=True) or ""
        self._take_query(query_id, "callback")
        text = p.text("text")
        if text is not None and utf16_len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self.queries[query_id].answered = True
        answer = CallbackAnswer(query_id, text, p.flag("show_alert"), p.text("url"))
        self.callback_answers.append(answer)
        return True

    def _send_chat_action(self, p: Params) -> bool:
        chat_id = self._chat_id(p)
        action = p.text("action", required=True)
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.actions.append(ChatAction(chat_id, action, time.time()))
        return True

    def _answer_inline_query(self, p: Params) -> bool:
        query_id = p.text("inline_query_id", required=True) or ""
        self._take_query(query_id, "inline")
        try:
            results = check_inline_results(p.json("results"))
        except FormatError as error:
            raise bad_request(str(error)) from None
        next_offset = p.text("next_offset") or ""
        if len(next_offset.encode("utf-8")) > 64:
            raise bad_request("NEXT_OFFSET_INVALID")
        self.queries[query_id].answered = True
        self.inline_answers.append(InlineAnswer(query_id, results, dict(p.raw)))
        return True

    # -- helpers ---------------------------------------------------------------------------

    def _chat_id(self, p: Params) -> int:
        """A chat the bot has heard from; "@channel" names are not modelled."""
        try:
            chat_id = p.integer("chat_id", required=True)
        except ApiError:
            if p.text("chat_id"):
                raise bad_request("chat not found") from None
            raise
        if chat_id not in self.chats:
            raise bad_request("chat not found")
        return chat_id

    def _editable(self, p: Params) -> StoredMessage:
        if p.text("inline_message_id"):
            raise bad_request("message to edit not found")  # inline messages are not modelled
        chat_id = self._chat_id(p)
        message_id = p.integer("message_id", required=True) or 0
        message = self.messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _edit(self, message: StoredMessage, changes: dict[str, Any], **raw: Any) -> dict[str, Any]:
        if all(getattr(message, key) == value for key, value in changes.items()):
            raise bad_request(NOT_MODIFIED)
        previous = dataclasses.replace(message, history=())
        edited = dataclasses.replace(
            message,
            **changes,
            **raw,
            edit_date=int(time.time()),
            history=(*message.history, previous),
        )
        self.messages[message.chat_id][message.message_id] = edited
        return self.message_json(edited)

    def store(self, message: StoredMessage) -> StoredMessage:
        """Give the message the chat's next id and keep it."""
        message_id = self._next_message_id.get(message.chat_id, 1)
        self._next_message_id[message.chat_id] = message_id + 1
        stored = dataclasses.replace(message, message_id=message_id)
        self.messages.setdefault(message.chat_id, {})[message_id] = stored
        return stored

    def message_json(self, message: StoredMessage, *, nested: bool = True) -> dict[str, Any]:
        """The Message object Telegram would send; a replied-to message is nested one level."""
        body: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self._bot_sender if message.from_bot else message.sender,
            "chat": self.chats[message.chat_id],
            "date": message.date,
        }
        if message.edit_date is not None:
            body["edit_date"] = message.edit_date
        body["text"] = message.text
        if message.entities:
            body["entities"] = list(message.entities)
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            body["reply_markup"] = message.reply_markup
        replied = self.messages.get(message.chat_id, {}).get(message.reply_to_message_id or 0)
        if nested and replied is not None:
            body["reply_to_message"] = self.message_json(replied, nested=False)
        return body

    def queue(self, kind: str, body: dict[str, Any], *, delivered: bool = True) -> int:
        """Add an update for getUpdates, unless Telegram would not deliver it to this bot."""
        update = {"update_id": next(self._update_ids), kind: body}
        allowed = self._allowed_updates
        excluded = kind not in allowed if allowed else kind in _OPT_IN_UPDATES
        if excluded or not delivered:
            self.dropped.append(update)
        else:
            self.pending.append(update)
        self.cond.notify_all()
        return int(update["update_id"])

    def new_query(self, kind: str) -> str:
        query_id = str(next(self._query_ids))
        self.queries[query_id] = _Query(kind, time.monotonic())
        return query_id

    def _take_query(self, query_id: str, kind: str) -> None:
        query = self.queries.get(query_id)
        if query is None or query.kind != kind or query.answered:
            raise bad_request(QUERY_TOO_OLD)
        if time.monotonic() - query.created > self.query_expiry:
            raise bad_request(QUERY_TOO_OLD)

    def user(self, user_id: int) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": "Tester",
            "username": f"user{user_id}",
            "language_code": self.languages.get(user_id, "en"),
        }


def _render(
    text: str | None, parse_mode: str | None, entities: Any
) -> tuple[str, list[dict[str, Any]]]:
    try:
        return render_text(text, parse_mode, entities)
    except FormatError as error:
        raise bad_request(str(error)) from None


def _markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    try:
        return check_reply_markup(markup, inline_only=inline_only)
    except FormatError as error:
        raise bad_request(str(error)) from None


def _is_command(name: str) -> bool:
    return re.fullmatch(r"[a-z0-9_]{1,32}", name) is not None


def scope_key(scope: Any) -> str:
    if not scope or scope == {"type": "default"}:
        return "default"
    return json.dumps(scope, sort_keys=True)
