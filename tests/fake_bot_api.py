"""A strict fake Telegram Bot API server for end-to-end tests of the real PTB `Application`.

Point PTB at it with ``ApplicationBuilder().token(fake.token).base_url(fake.base_url)
.base_file_url(fake.base_file_url)``; push user input with `push_message` / `push_callback` /
`push_inline_query`; wait and assert on what the bot did. It refuses what Telegram refuses
(bad HTML, over-long text, 65-byte callback data, a second poller, stale callback queries),
so a bot that passes here does not break on the first real message.

    fake_bot_api      this façade: lifecycle, failure injection, test-side input and reads
    fake_bot_state    the Bot API methods and the state they keep
    fake_bot_content  what Telegram accepts as text, buttons and inline results
    fake_bot_http     the HTTP server and request decoding

Everything sits behind one condition variable: PTB's threads and the test thread may call
anything at any time, and waits wake on every change.
"""

from __future__ import annotations

import collections
import logging
import re
import secrets
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fake_bot_content import incoming_entities
from fake_bot_http import ApiError, BotApiHttpServer, Params
from fake_bot_state import (
    BotState,
    Call,
    CallbackAnswer,
    ChatAction,
    ErrorRecord,
    InlineAnswer,
    StoredMessage,
    scope_key,
)

__all__ = [
    "Call",
    "CallbackAnswer",
    "ChatAction",
    "ErrorRecord",
    "FakeBotApi",
    "InlineAnswer",
    "StoredMessage",
]

logger = logging.getLogger(__name__)


class FakeBotApi:
    """The fake server plus the test-side API; use as a context manager or start()/stop().

    `query_expiry`: seconds a callback or inline query may wait for its answer (Telegram: ~15).
    `max_poll_timeout`: cap on getUpdates' long-poll wait, so tests and shutdowns stay quick.
    `privacy_mode`: in groups, deliver only commands and replies to the bot, like Telegram.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_id: int = 7000000001,
        bot_username: str = "citebot_test_bot",
        query_expiry: float = 15.0,
        max_poll_timeout: float = 1.0,
        log_limit: int = 10_000,
        privacy_mode: bool = True,
    ) -> None:
        self.token = token or f"{bot_id}:AA{secrets.token_urlsafe(24)}"
        bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Citebot Test",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": not privacy_mode,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.privacy_mode = privacy_mode
        self._state = BotState(
            bot_user,
            query_expiry=query_expiry,
            max_poll_timeout=max_poll_timeout,
            log_limit=log_limit,
        )
        self._cond = self._state.cond
        self._server: BotApiHttpServer | None = None
        self._calls: collections.deque[Call] = collections.deque(maxlen=log_limit)
        self._errors: collections.deque[ErrorRecord] = collections.deque(maxlen=log_limit)
        self._failures: dict[str, collections.deque[ApiError]] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeBotApi:
        self._state.stopping = False
        self._server = BotApiHttpServer(self._dispatch)
        self._server.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._state.stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The User that getMe answers."""
        return dict(self._state.bot_user)

    @property
    def bot_username(self) -> str:
        return str(self._state.bot_user["username"])

    # -- test side: input ------------------------------------------------------------------

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        username: str | None = None,
        first_name: str = "Tester",
        reply_to_message_id: int | None = None,
        chat_title: str | None = None,
        language_code: str | None = None,
    ) -> int:
        """Queue a user's text message, with the entities Telegram adds; returns update_id.

        `language_code` sets the language of the user's app, for this and later updates.
        """
        if chat_type not in ("private", "group", "supergroup"):
            raise ValueError(f"chat_type {chat_type!r}: only private, group and supergroup")
        if user_id is None:
            if chat_type != "private":
                raise ValueError("user_id is required for group chats")
            user_id = chat_id
        with self._cond:
            if language_code is not None:
                self._state.languages[user_id] = language_code
            sender = {**self._state.user(user_id), "first_name": first_name}
            sender["username"] = username or sender["username"]
            if chat_type == "private":
                chat = {k: sender[k] for k in ("first_name", "username")}
            else:
                known = self._state.chats.get(chat_id, {}).get("title")
                chat = {"title": chat_title or known or f"Group {chat_id}"}
            replied = None
            if reply_to_message_id is not None:
                replied = self._state.messages.get(chat_id, {}).get(reply_to_message_id)
                if replied is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            self._state.chats[chat_id] = {"id": chat_id, "type": chat_type, **chat}
            message = self._state.store(
                StoredMessage(
                    chat_id=chat_id,
                    message_id=0,
                    from_bot=False,
                    date=int(time.time()),
                    text=text,
                    raw_text=text,
                    entities=tuple(incoming_entities(text)),
                    reply_to_message_id=reply_to_message_id,
                    sender=sender,
                )
            )
            seen = chat_type == "private" or self._sees_in_group(text, replied)
            return self._state.queue("message", self._state.message_json(message), delivered=seen)

    def _sees_in_group(self, text: str, replied: StoredMessage | None) -> bool:
        """Privacy mode: a group's commands and replies to the bot reach it, nothing else."""
        if not self.privacy_mode or (replied is not None and replied.from_bot):
            return True
        command = re.match(r"/[A-Za-z0-9_]+(?:@(\w+))?", text)
        return command is not None and command[1] in (None, self.bot_username)

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        check_button: bool = True,
    ) -> str:
        """Queue a button press on a stored message; returns the callback_query id."""
        with self._cond:
            message = self._state.messages.get(chat_id, {}).get(message_id)
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            keyboard = (message.reply_markup or {}).get("inline_keyboard", [])
            buttons = {b.get("callback_data") for row in keyboard for b in row}
            if check_button and data not in buttons:
                raise ValueError(f"message {message_id} has no button with data {data!r}")
            query_id = self._state.new_query("callback")
            user = self._state.user(user_id if user_id is not None else chat_id)
            self._state.queue(
                "callback_query",
                {
                    "id": query_id,
                    "from": user,
                    "message": self._state.message_json(message),
                    "chat_instance": str(chat_id * 7 + 1),
                    "data": data,
                },
            )
            return query_id

    def push_inline_query(
        self, query: str, *, user_id: int, chat_type: str | None = "sender"
    ) -> str:
        """Queue an inline query typed in any chat; returns the inline_query id."""
        with self._cond:
            query_id = self._state.new_query("inline")
            body: dict[str, Any] = {
                "id": query_id,
                "from": self._state.user(user_id),
                "query": query,
                "offset": "",
            }
            if chat_type:
                body["chat_type"] = chat_type
            self._state.queue("inline_query", body)
            return query_id

    def fail_next(
        self,
        method: str,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail, e.g. 429 with retry_after, 500, 502."""
        if description is None:
            if status == 429:
                retry_after = 1 if retry_after is None else retry_after
                description = f"Too Many Requests: retry after {retry_after}"
            elif status == 403:
                description = "Forbidden: bot was blocked by the user"
            elif status == 400:
                description = "Bad Request"
            else:
                description = HTTPStatus(status).phrase
        with self._cond:
            queue = self._failures.setdefault(method.lower(), collections.deque())
            queue.extend(ApiError(status, description, retry_after) for _ in range(times))

    # -- test side: waiting and reading ----------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until `predicate()` holds; it is re-checked after every request and push."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"condition not met within {timeout} s")

    def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 5.0
    ) -> list[StoredMessage]:
        """Wait until the bot has sent at least `count` messages to `chat_id`; return them."""
        try:
            self.wait_for(lambda: len(self.messages(chat_id)) >= count, timeout)
        except TimeoutError:
            sent = [m.text[:80] for m in self.messages(chat_id)]
            raise TimeoutError(
                f"chat {chat_id}: wanted {count} bot messages within {timeout} s, got {sent}; "
                f"errors: {self.errors}"
            ) from None
        return self.messages(chat_id)

    def messages(self, chat_id: int, *, include_user: bool = False) -> list[StoredMessage]:
        """The chat as it stands (edits applied, deletions gone), bot messages by default."""
        with self._cond:
            stored = self._state.messages.get(chat_id, {}).values()
            return [m for m in stored if include_user or m.from_bot]

    def sent_calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            name = method.lower() if method else None
            return [c for c in self._calls if name is None or c.method == name]

    def chat_actions(self, chat_id: int | None = None) -> list[ChatAction]:
        with self._cond:
            return [a for a in self._state.actions if chat_id is None or a.chat_id == chat_id]

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        with self._cond:
            return list(self._state.callback_answers)

    @property
    def inline_answers(self) -> list[InlineAnswer]:
        with self._cond:
            return list(self._state.inline_answers)

    @property
    def commands(self) -> list[tuple[str, str]]:
        """The default-scope, default-language command menu as (command, description)."""
        return self.commands_for()

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[tuple[str, str]]:
        with self._cond:
            listed = self._state.commands.get((scope_key(scope), language_code), [])
            return [(c["command"], c["description"]) for c in listed]

    @property
    def errors(self) -> list[ErrorRecord]:
        """Every non-2xx answer given to a client that was still listening."""
        with self._cond:
            return list(self._errors)

    @property
    def pending_updates(self) -> int:
        with self._cond:
            return len(self._state.pending)

    @property
    def polls_waiting(self) -> int:
        """getUpdates calls blocked right now; 1 once a bot's updater is polling."""
        with self._cond:
            return self._state.polls_waiting

    @property
    def dropped_updates(self) -> list[dict[str, Any]]:
        """Pushed updates not queued because allowed_updates excluded their type."""
        with self._cond:
            return list(self._state.dropped)

    # -- dispatch --------------------------------------------------------------------------

    def _dispatch(self, token: str, method: str, params: Params) -> tuple[int, dict[str, Any]]:
        name = method.lower()
        injected = False
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._state.methods.get(name)
            if handler is None:
                raise ApiError(404, "Not Found")
            with self._cond:
                failures = self._failures.get(name)
                if failures:
                    injected = True
                    raise failures.popleft()
                result = handler(params)
            status, payload, description = 200, {"ok": True, "result": result}, None
        except ApiError as error:
            status, payload, description = error.status, error.payload(), error.description
        except Exception:
            logger.exception("fake Bot API crashed in %s", name)
            status, description = 500, "Internal Server Error (a bug in the fake)"
            payload = ApiError(500, description).payload()
        with self._cond:
            self._calls.append(Call(name, params.raw, status, description, time.time()))
            if status != 200 and not (status == 409 and params.client_gone()):
                self._errors.append(ErrorRecord(name, status, description or "", injected))
            self._cond.notify_all()
        return status, payload
