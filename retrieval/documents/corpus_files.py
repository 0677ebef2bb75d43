"""Reading corpus files without ever reading anything outside the corpus.

A symbolic link inside the corpus may name any file on the machine (`/etc/passwd`, the
bot's own `.env`), and archives, git checkouts and shared folders bring such links in. The
rule: a link is followed only when its target lies inside the corpus and is not hidden;
anything else is refused, before its content is read, and checked again on the opened file
descriptor so that a link swapped between the check and the read is caught too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from retrieval.errors import DocumentError, RefusedDocumentError

_PROC_FD = Path("/proc/self/fd")


def corpus_id(path: Path, root: Path) -> str:
    """The file's path relative to the corpus, as stored and shown.

    A name that is not valid UTF-8 keeps its bad bytes as `\\xNN` escapes, so it can be
    reported and written to the manifest (`check_inside` refuses the file itself).
    """
    relative = _relative(path, root)
    return relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _relative(path: Path, root: Path) -> str:
    """`path` relative to `root`, by cutting the prefix when it has it: relpath made every
    reindex of 100,000 files spend seconds on it."""
    text, prefix = str(path), str(root).rstrip("/") + "/"
    if text.startswith(prefix) and "/." not in text[len(prefix) - 1 :]:
        return text[len(prefix) :]
    return Path(os.path.relpath(path, root)).as_posix()


def check_inside(path: Path, root: Path) -> None:
    """Refuse a corpus entry that must not be read: a bad name, or a link leading out."""
    try:
        _relative(path, root).encode("utf-8")
    except UnicodeEncodeError:
        raise RefusedDocumentError("the file name is not valid UTF-8: rename the file") from None
    if path.is_symlink():
        _check_target(Path(os.path.realpath(path)), root)


def read_inside(path: Path, root: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file inside `root`, at most `max_bytes` of them.

    Raises DocumentError for anything else, with the reason the user sees.
    """
    check_inside(path, root)
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    try:
        opened = _PROC_FD / str(descriptor)
        if opened.is_symlink():  # Linux: the file actually opened, whatever links led to it
            _check_target(Path(os.readlink(opened)), root)
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise DocumentError("is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise DocumentError("not a regular file (a pipe, socket or device)")
        if info.st_size > max_bytes:
            raise _too_large(max_bytes, info.st_size)
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise _too_large(max_bytes, len(data))
    return data


def _too_large(max_bytes: int, size: int) -> DocumentError:
    return DocumentError(
        f"file is larger than {_size(max_bytes)} ({_size(size)}); split it or raise the size limit"
    )


def unreadable(path: Path, error: OSError) -> DocumentError:
    """Why `path` could not be stat-ed or read, in the words the user sees."""
    if isinstance(error, FileNotFoundError):
        if path.is_symlink():
            return DocumentError("broken symbolic link: its target does not exist")
        return DocumentError("file vanished before it could be read")
    if isinstance(error, PermissionError):
        return DocumentError("permission denied: the file cannot be read")
    return DocumentError(f"cannot read the file: {error.strerror or error}")


def _check_target(target: Path, root: Path) -> None:
    try:
        inside = target.relative_to(Path(os.path.realpath(root)))
    except ValueError:
        raise RefusedDocumentError(
            "a symbolic link to a file outside the corpus: not read (copy the file in instead)"
        ) from None
    if any(part.startswith(".") for part in inside.parts):
        raise RefusedDocumentError("a symbolic link to a hidden file: not read")


def _size(size: int) -> str:
    if size < 1_048_576:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1_048_576:.1f} MB"
