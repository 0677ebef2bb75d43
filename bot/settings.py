"""Settings from the environment and one `.env` file, read once at the entry points.

Every variable is documented in `.env.example`; the process environment wins over the file.
The file is the one named by `--env-file` (or CITEBOT_ENV_FILE), else citebot's own
`.env` beside its pyproject.toml. A `.env` that merely lies in the working directory is
not read: whoever can write a folder the user runs citebot from could otherwise send the
bot's token to their own server (TELEGRAM_API_BASE_URL) or make themselves an admin.
Those guarded settings are taken from a file only if no other user can write it, and the
bot says at start which ones it took from where.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from retrieval.encoders.base import DEFAULT_MODEL
from retrieval.errors import CitebotError
from retrieval.qdrant.connection import QdrantSettings
from retrieval.search.fusion import METHODS
from retrieval.search.reranker import RERANK_DEPTH
from retrieval.store.ann import APPROXIMATE_FROM

T = TypeVar("T")

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1]
ENV_FILE_VARIABLE = "CITEBOT_ENV_FILE"
# Where the token is sent and who may ask or run /reindex.
GUARDED = (
    "TELEGRAM_API_BASE_URL",
    "TELEGRAM_ADMINS",
    "TELEGRAM_ALLOWED_USERS",
    "TELEGRAM_ALLOWED_CHATS",
)
MAX_TOP_K = 50


@dataclass(frozen=True)
class Settings:
    corpus: Path = Path("corpus")
    index_dir: Path = Path("embeddings")
    model: str = DEFAULT_MODEL
    min_score: float | None = None
    fusion: str | None = None
    lexical_weight: float | None = None
    reranker: str | None = None
    rerank_depth: int = RERANK_DEPTH
    approximate_from: int = APPROXIMATE_FROM
    qdrant: QdrantSettings | None = None  # CITEBOT_QDRANT_URL and friends; None: embedded
    top_k: int = 3
    max_passage_tokens: int = 200
    telegram_token: str | None = None
    telegram_api_base_url: str | None = None
    telegram_allowed_users: frozenset[int] = frozenset()
    telegram_allowed_chats: frozenset[int] = frozenset()
    telegram_admins: frozenset[int] = frozenset()
    telegram_rate_limit: float = 30.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        def get(name: str, convert: Callable[[str], T], default: T) -> T:
            raw = values.get(name, "").strip()
            if not raw:
                return default
            try:
                return convert(raw)
            except ValueError:
                raise CitebotError(f"{name}={raw!r} is not a valid value") from None

        defaults = cls()
        return cls(
            corpus=get("CITEBOT_CORPUS", Path, defaults.corpus),
            index_dir=get("CITEBOT_INDEX", Path, defaults.index_dir),
            model=get("CITEBOT_MODEL", str, defaults.model),
            min_score=get("CITEBOT_MIN_SCORE", float, None),
            fusion=get("CITEBOT_FUSION", _fusion_method, None),
            lexical_weight=get("CITEBOT_LEXICAL_WEIGHT", _weight, None),
            reranker=get("CITEBOT_RERANKER", str, None),
            rerank_depth=get("CITEBOT_RERANK_DEPTH", _positive_int, defaults.rerank_depth),
            approximate_from=get(
                "CITEBOT_APPROXIMATE_FROM", _non_negative_int, defaults.approximate_from
            ),
            qdrant=_qdrant(get),
            top_k=get("CITEBOT_TOP_K", top_k, defaults.top_k),
            max_passage_tokens=get(
                "CITEBOT_MAX_PASSAGE_TOKENS", _positive_int, defaults.max_passage_tokens
            ),
            telegram_token=get("TELEGRAM_BOT_TOKEN", str, None),
            telegram_api_base_url=get("TELEGRAM_API_BASE_URL", str, None),
            telegram_allowed_users=get("TELEGRAM_ALLOWED_USERS", _id_set, frozenset()),
            telegram_allowed_chats=get("TELEGRAM_ALLOWED_CHATS", _id_set, frozenset()),
            telegram_admins=get("TELEGRAM_ADMINS", _id_set, frozenset()),
            telegram_rate_limit=get(
                "TELEGRAM_RATE_LIMIT", _non_negative_float, defaults.telegram_rate_limit
            ),
        )


@dataclass(frozen=True)
class Environment:
    """The settings' raw values and where they came from."""

    values: dict[str, str]
    env_file: Path | None = None
    from_file: tuple[str, ...] = ()  # names whose value the file gave
    ignored: Path | None = None  # a .env in the working directory that was not read

    def guarded_from_file(self) -> list[str]:
        """`NAME=value` for each guarded setting the file gave, to be said out loud."""
        return [f"{name}={self.values[name]}" for name in GUARDED if name in self.from_file]


def read_environment(
    environ: Mapping[str, str], env_file: Path | None = None, *, cwd: Path | None = None
) -> Environment:
    """The environment overlaid on the settings file (see the module docstring)."""
    chosen = env_file or (
        Path(environ[ENV_FILE_VARIABLE]) if environ.get(ENV_FILE_VARIABLE) else None
    )
    ignored = None
    if chosen is not None:
        if not chosen.is_file():
            raise CitebotError(f"settings file {chosen} does not exist")
    else:
        own = PROJECT_DIR / ".env"
        if (PROJECT_DIR / "pyproject.toml").is_file() and own.is_file():
            chosen = own
        here = (cwd or Path.cwd()) / ".env"
        if here.is_file() and (chosen is None or not here.samefile(chosen)):
            ignored = here
    file_values: dict[str, str] = {}
    if chosen is not None:
        from dotenv import dotenv_values

        file_values = {k: v for k, v in dotenv_values(chosen).items() if v is not None}
    from_file = tuple(
        sorted(name for name, value in file_values.items() if name not in environ and value.strip())
    )
    if chosen is not None:
        log.info("settings from %s: %s", chosen, ", ".join(from_file) or "none")
        _check_guarded(chosen, [name for name in GUARDED if name in from_file])
    return Environment({**file_values, **environ}, chosen, from_file, ignored)


def _check_guarded(path: Path, names: list[str]) -> None:
    """Refuse guarded settings from a file that another user could have written."""
    if not names:
        return
    info = path.stat()
    if info.st_uid not in (os.getuid(), 0) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CitebotError(
            f"{path} sets {', '.join(names)} but other users can change that file; "
            f"make it yours and run `chmod go-w {path}`, or set them in the environment"
        )


def _qdrant(get: Callable[[str, Callable[[str], T], T], T]) -> QdrantSettings | None:
    """The Qdrant store's settings, or None (the embedded store) without CITEBOT_QDRANT_URL."""
    url = get("CITEBOT_QDRANT_URL", str, "")
    if not url:
        return None
    defaults = QdrantSettings(url)
    return QdrantSettings(
        url=url,
        api_key=get("CITEBOT_QDRANT_API_KEY", str, None),
        collection=get("CITEBOT_QDRANT_COLLECTION", _collection_name, defaults.collection),
        timeout=get("CITEBOT_QDRANT_TIMEOUT", _positive_float, defaults.timeout),
        shards=get("CITEBOT_QDRANT_SHARDS", _positive_int, defaults.shards),
        replicas=get("CITEBOT_QDRANT_REPLICAS", _positive_int, defaults.replicas),
    )


def _collection_name(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", raw):
        raise ValueError(raw)
    return raw


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:  # also refuses nan
        raise ValueError(raw)
    return value


def top_k(raw: str) -> int:
    """How many passages to show: 1 to MAX_TOP_K."""
    value = int(raw)
    if not 1 <= value <= MAX_TOP_K:
        raise ValueError(f"must be between 1 and {MAX_TOP_K}")
    return value


def _fusion_method(raw: str) -> str:
    if raw not in METHODS:
        raise ValueError(raw)
    return raw


def _weight(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError(raw)
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _id_set(raw: str) -> frozenset[int]:
    """Comma-separated Telegram ids (users are positive, groups negative)."""
    return frozenset(int(part) for part in raw.split(",") if part.strip())


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also refuses nan
        raise ValueError(raw)
    return value
