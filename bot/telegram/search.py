"""How the bot reaches the engine: batched searches off the event loop, recent answers for buttons.

Questions that arrive while a search runs wait for the next one and go to the engine as
one `search_many` call, so under load the bot answers many questions per model call; the
same question asked again on the same index is not searched twice. Buttons carry only a
short key (callback data is limited to 64 bytes); the answer behind it is kept in a
bounded LRU, and the engine tells from the answer's index generation whether a button is
from an older index. A forgotten or stale answer is refused politely. Nothing here holds
an index: an old one is freed as soon as no search runs on it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from retrieval.engine import Engine
from retrieval.records import Answer
from retrieval.search.filters import NO_FILTERS, Filters

log = logging.getLogger(__name__)

_CALLBACK = re.compile(r"([mc]):([\w-]{1,16}):(\d{1,4})")


@dataclass(frozen=True)
class Searched:
    """An answer, the filters it was searched with, and how many passages its index held."""

    answer: Answer
    passages: int
    filters: Filters = NO_FILTERS


_Key = tuple[str, Filters]


class SearchBatcher:
    """Runs questions through `Searcher.search_many` in a worker thread, in batches."""

    def __init__(self, engine: Engine, k: int, *, max_batch: int = 64, remember: int = 512):
        self._k = k
        self._engine = engine
        self._max_batch = max_batch
        self._remember = remember
        self._waiting: dict[_Key, list[asyncio.Future[Searched]]] = {}
        self._recent: OrderedDict[_Key, Searched] = OrderedDict()  # touched by the worker only
        self._worker: asyncio.Task[None] | None = None

    async def search(self, query: str, filters: Filters = NO_FILTERS) -> Searched:
        """The answer to `query` (non-empty), searched with the next batch."""
        future: asyncio.Future[Searched] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((" ".join(query.split()), filters), []).append(future)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="citebot-search")
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    async def _work(self) -> None:
        while self._waiting:
            queries = list(itertools.islice(self._waiting, self._max_batch))
            futures = [self._waiting.pop(query) for query in queries]
            try:
                found = await asyncio.to_thread(self._search, queries)
            # Any failure goes to every handler waiting on this batch; its error handler reports.
            except Exception as exc:
                for future in itertools.chain.from_iterable(futures):
                    if not future.done():
                        future.set_exception(exc)
                continue
            for result, waiting in zip(found, futures, strict=True):
                for future in waiting:
                    if not future.done():
                        future.set_result(result)

    def _search(self, queries: list[_Key]) -> list[Searched]:
        searcher = self._engine.searcher()
        generation = searcher.generation
        known = {
            q: s
            for q in queries
            if (s := self._recent.get(q)) and s.answer.generation == generation
        }
        fresh = [key for key in queries if key not in known]
        if fresh:
            log.debug("searching %d questions (%d remembered)", len(fresh), len(known))
        for filters in dict.fromkeys(f for _, f in fresh):  # one model call per set of filters
            group = [query for query, f in fresh if f == filters]
            answers = searcher.search_many(group, self._k, filters=filters)
            for query, answer in zip(group, answers, strict=True):
                known[query, filters] = Searched(answer, len(searcher.index), filters)
        for query in queries:
            self._recent[query] = known[query]
            self._recent.move_to_end(query)
        while len(self._recent) > self._remember:
            self._recent.popitem(last=False)
        return [known[query] for query in queries]


@dataclass
class Recent:
    """An answer shown with buttons; `answer` grows when "More" needs hits beyond it."""

    key: str
    answer: Answer
    total: int  # hits the "More" button may page through
    filters: Filters = NO_FILTERS


class RecentAnswers:
    """A bounded LRU of answers that have buttons, under short random keys."""

    def __init__(self, capacity: int = 2000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, Recent] = OrderedDict()

    def add(self, searched: Searched, max_hits: int) -> Recent:
        key = secrets.token_urlsafe(6)
        total = min(max_hits, searched.passages)
        recent = Recent(key, searched.answer, total, searched.filters)
        self._entries[key] = recent
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return recent

    def get(self, key: str) -> Recent | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry


def more_data(key: str, offset: int) -> str:
    return f"m:{key}:{offset}"


def context_data(key: str, rank: int) -> str:
    return f"c:{key}:{rank}"


def parse_data(data: str | None) -> tuple[str, str, int] | None:
    """(kind, key, number) from a button's callback data, or None when it is not ours."""
    match = _CALLBACK.fullmatch(data or "")
    return (match[1], match[2], int(match[3])) if match else None


def more_hits(engine: Engine, recent: Recent, needed: int) -> Answer | None:
    """The answer with up to `needed` hits (at most its total), or None when the index has
    changed since. Blocking (it may search): call it in a thread."""
    answer = engine.more(recent.answer, min(needed, recent.total), recent.filters)
    if answer is not None:
        recent.answer = answer
    return answer
