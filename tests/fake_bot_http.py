"""HTTP side of the fake Bot API: decode requests as Telegram does, answer in its shape.

python-telegram-bot sends form-urlencoded bodies whose non-string values are JSON-encoded
(multipart when it uploads files); other clients send JSON or a query string. `Params`
hides the difference by typing each value when a method reads it.
"""

from __future__ import annotations

import json
import logging
import re
import select
import socket
import threading
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)

_BOT_PATH = re.compile(r"/bot([^/]+)/([^/]*)")


class ApiError(Exception):
    """A refusal in Telegram's shape: HTTP status, description, optional retry_after."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


class Params:
    """One request's parameters, converted to the type a method asks for."""

    def __init__(self, raw: dict[str, Any], client_gone: Callable[[], bool]) -> None:
        self.raw = raw
        self.client_gone = client_gone

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, dict | list):
            raise bad_request(f"field {name} must be a String")
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(float(value)) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def json(self, name: str) -> Any:
        """An object or array parameter; form bodies carry it JSON-encoded."""
        value = self.raw.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value


Dispatch = Callable[[str, str, Params], tuple[int, dict[str, Any]]]


def decode_params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Merge the query string and the body (JSON, urlencoded or multipart) into one dict."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return params
    if kind == "application/json":
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("JSON body must be an object")
        params.update(decoded)
    elif kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        for part in message.iter_parts():  # type: ignore[attr-defined]
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                params[name] = {"filename": part.get_filename(), "content": payload}
            else:
                params[name] = payload.decode(part.get_content_charset() or "utf-8")
    else:
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params


class _Handler(BaseHTTPRequestHandler):
    """One connection; keep-alive, so a PTB client reuses its sockets."""

    protocol_version = "HTTP/1.1"
    server: BotApiHttpServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length) if length else b"")

    def do_GET(self) -> None:
        self._serve(b"")

    def _serve(self, body: bytes) -> None:
        url = urlsplit(self.path)
        match = _BOT_PATH.fullmatch(url.path)
        if match is None:
            self._reply(404, ApiError(404, "Not Found").payload())
            return
        try:
            raw = decode_params(url.query, body, self.headers.get("Content-Type", ""))
        except (ValueError, UnicodeDecodeError):
            self._reply(400, bad_request("can't parse request body").payload())
            return
        status, payload = self.server.dispatch(match[1], match[2], Params(raw, self._client_gone))
        self._reply(status, payload)

    def _client_gone(self) -> bool:
        """True once the client closed its end: a cancelled long poll nobody will read."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a line per request drowns test output, and paths carry the token."""


class BotApiHttpServer(ThreadingHTTPServer):
    """Threaded server on 127.0.0.1 with an ephemeral port, handing requests to `dispatch`."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, dispatch: Dispatch) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.dispatch = dispatch
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection error from %s", client_address, exc_info=True)
