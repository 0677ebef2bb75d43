"""Text from documents, file names and users, made safe to print on a terminal.

Document text, sidecar titles, URLs and file names are other people's bytes. Printed raw,
an escape sequence in them clears the screen, retitles the window or hides a link (OSC 8),
and a newline in a file name forges an output line. Every such character is shown as an
escape instead (`\\x1b`, `\\n`), so the reader sees that it is there and nothing acts on it.
"""

from __future__ import annotations

import logging
import re

# C0 and C1 controls, DEL, bidirectional overrides (which reorder what the reader sees) and
# lone surrogates (the undecodable bytes of a file name, as Python hands them over).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPED_BYTES = range(0xDC80, 0xDD00)  # surrogateescape's stand-ins for bytes 0x80-0xff


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with control characters shown as escapes; `lines` keeps newlines and tabs."""
    return _UNSAFE.sub(_show_lines if lines else _show, text)


def _show(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code in _ESCAPED_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _show_lines(match: re.Match[str]) -> str:
    char = match.group()
    return char if char in "\n\t" else _show(match)


class PrintableFormatter(logging.Formatter):
    """Log lines quote file names and errors: they reach the terminal escaped too."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), lines=True)
