"""Settings from the environment and `.env`, read once at the entry points.

Every variable is documented in `.env.example`; the process environment wins over `.env`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from retrieval.encoders import DEFAULT_MODEL
from retrieval.errors import CitebotError

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    corpus: Path = Path("corpus")
    index_dir: Path = Path("embeddings")
    model: str = DEFAULT_MODEL
    min_score: float | None = None
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
            top_k=get("CITEBOT_TOP_K", _positive_int, defaults.top_k),
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


def read_environment(environ: Mapping[str, str], env_file: Path = Path(".env")) -> dict[str, str]:
    """`.env` values overlaid with the process environment."""
    values: dict[str, str] = {}
    if env_file.is_file():
        from dotenv import dotenv_values

        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(environ)
    return values


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
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
