"""News filters: which documents a question may be answered from, by date and by source."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from retrieval.records import Source

_DATE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")


@dataclass(frozen=True)
class Filters:
    """`since`/`until` are ISO dates (inclusive); `source` is matched, ignoring case,
    against the document's path, URL and site. A dated filter leaves out undated documents."""

    since: str | None = None
    until: str | None = None
    source: str | None = None

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.source)

    def admits(self, source: Source) -> bool:
        if self.since or self.until:
            if not source.date:
                return False
            if (self.since and source.date < self.since) or (
                self.until and source.date > self.until
            ):
                return False
        if self.source:
            needle = self.source.casefold()
            site = urlsplit(source.url).hostname or "" if source.url else ""
            return any(
                needle in field.casefold() for field in (source.path, source.url or "", site)
            )
        return True

    def describe(self) -> str:
        parts = [
            f"since {self.since}" if self.since else "",
            f"until {self.until}" if self.until else "",
        ]
        parts.append(f"source “{self.source}”" if self.source else "")
        return ", ".join(part for part in parts if part)


def date_bound(text: str, *, end: bool) -> str:
    """`2021`, `2021-05` or `2021-05-06` as an ISO date: the first day, or with `end` the last.

    Raises ValueError for anything else.
    """
    match = _DATE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a date like 2021-05-06, 2021-05 or 2021")
    year = int(match.group(1))
    month = int(match.group(2) or (12 if end else 1))
    if not 1 <= month <= 12:
        raise ValueError(f"{text!r} has no month {month}")
    last = calendar.monthrange(year, month)[1]
    day = int(match.group(3) or (last if end else 1))
    if not 1 <= day <= last:
        raise ValueError(f"{text!r} has no day {day}")
    return f"{year:04d}-{month:02d}-{day:02d}"


NO_FILTERS = Filters()
