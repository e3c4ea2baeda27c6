"""The Store interface: every backend passes ``agentkit.testing.conformance``."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Self

from agentkit.store._search import MAX_K, ScanIndex, TextHit, parse_query
from agentkit.store.events import RunInfo, Source, StoredEvent, TraceEvent


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RunNotFound(KeyError):
    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id

    def __str__(self) -> str:
        return f"no run with id {self.run_id!r}"


class RunBusy(RuntimeError):
    """Another driver (process, task or store object) holds the lease on this run."""

    def __init__(self, run_id: str, holder: str = "") -> None:
        super().__init__(run_id, holder)
        self.run_id, self.holder = run_id, holder

    def __str__(self) -> str:
        by = f" by {self.holder}" if self.holder else ""
        return f"run {self.run_id} is being driven{by} right now; wait for it to end (or stop it), then resume it"


class StoreError(RuntimeError):
    """The store cannot do what was asked. ``str()`` is one line naming the store's location;
    the subclass says what kind of trouble it is, so callers can tell them apart."""

    def __init__(self, message: str, *, location: str = "") -> None:
        super().__init__(message)
        self.location = location


class StoreUnavailable(StoreError):
    """The store exists but cannot be used now: read-only, locked, no permission, unreachable."""


class StoreMissing(StoreUnavailable):
    """A store opened for reading does not exist (nothing is created by a read)."""


class StoreCorrupt(StoreError):
    """The location holds something that is not a readable agentkit store: another file
    type, another application's database, or a damaged store."""


class StoreFull(StoreError):
    """A write did not fit (disk or quota full). Everything committed before it is kept."""


class Store(abc.ABC):
    """Append-only run logs plus content-addressed blobs, a source registry and a keyed
    cache (e.g. web search results by normalised query).

    ``append`` returns only once the event is durable (per the backend's guarantee);
    events of one run are totally ordered by ``seq`` starting at 1.
    """

    # runs
    @abc.abstractmethod
    async def create_run(self, run: RunInfo) -> None: ...

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunInfo:
        """Raises :class:`RunNotFound`."""

    @abc.abstractmethod
    async def list_runs(self, *, parent_id: str | None = None, limit: int = 100) -> list[RunInfo]:
        """Newest first. ``parent_id=None`` lists top-level runs only."""

    @abc.abstractmethod
    async def update_run(self, run_id: str, **fields: Any) -> None:
        """Set fields of the run row (status, answer, steps, usage, cost_usd, ...)."""

    async def find_run(self, prefix: str) -> RunInfo:
        """A run by id or unique id prefix (as typed on the command line)."""
        try:
            return await self.get_run(prefix)
        except RunNotFound:
            pass
        matches = [r for r in await self.list_runs(limit=10_000) if r.id.startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        raise RunNotFound(prefix)

    async def tagged_runs(self, tag: str, *, limit: int = 1000) -> list[RunInfo]:
        """Runs whose ``tags`` hold ``tag`` (matched exactly), newest first, children included.

        This default walks every run; backends answer from an index."""
        found: list[RunInfo] = []
        level = await self.list_runs(limit=1_000_000)
        while level:
            found += [r for r in level if tag in r.tags]
            level = [c for r in level for c in await self.list_runs(parent_id=r.id, limit=1_000_000)]
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[:limit]

    # events
    @abc.abstractmethod
    async def append(self, run_id: str, event: TraceEvent) -> int:
        """Append and commit; returns the event's ``seq``."""

    async def append_many(self, run_id: str, events: Sequence[TraceEvent]) -> list[int]:
        return [await self.append(run_id, e) for e in events]

    @abc.abstractmethod
    async def events(self, run_id: str, *, after: int = 0) -> list[StoredEvent]: ...

    # full-text search
    async def search_text(self, run_ids: Sequence[str], query: str, *, k: int = 5) -> list[TextHit]:
        """The ``k`` pieces of the runs' traces that best match ``query``, best first.

        Searched: tool results, reasoning, messages and tool calls, notes, plans, summaries,
        the task, answers, Python cells and sources' fetched text (see
        :mod:`agentkit.store._search`); never a run's config. ``query`` is plain words (any
        text: nothing in it is query syntax); no words, no hits. Only the runs named are
        searched; an id with no run finds nothing.

        This default reads the runs' events and sources and scans them; backends keep an
        index filled as events are appended.
        """
        parsed = parse_query(query)
        if parsed.empty or k <= 0:
            return []
        index = ScanIndex()
        wanted = list(dict.fromkeys(run_ids))
        for run_id in wanted:
            try:
                stored = await self.events(run_id)
            except RunNotFound:
                continue
            index.add_events(run_id, 1, [e.event for e in stored])
            for source in await self.list_sources(run_id):
                blob = await self.get_blob(source.content_hash) if source.content_hash else None
                index.set_source(run_id, source, blob)
        return index.search(wanted, parsed, min(k, MAX_K))

    # blobs
    @abc.abstractmethod
    async def put_blob(self, data: bytes) -> str:
        """Store once by content hash; returns the key."""

    @abc.abstractmethod
    async def get_blob(self, key: str) -> bytes | None: ...

    # sources
    @abc.abstractmethod
    async def add_source(self, run_id: str, source: Source) -> None:
        """Register (or replace) a source of a run by its id."""

    @abc.abstractmethod
    async def list_sources(self, run_id: str) -> list[Source]: ...

    async def get_source(self, run_id: str, source_id: str) -> Source | None:
        for s in await self.list_sources(run_id):
            if s.id == source_id:
                return s
        return None

    # keyed cache
    @abc.abstractmethod
    async def get_cached(self, namespace: str, key: str) -> bytes | None:
        """The value last put under ``(namespace, key)``, or ``None``. Keys are any text
        (matched exactly; text that is not valid Unicode is matched with U+FFFD in place of
        each lone surrogate, as everywhere in the store)."""

    @abc.abstractmethod
    async def put_cached(self, namespace: str, key: str, value: bytes) -> None:
        """Keep ``value`` under ``(namespace, key)``; the last write wins. Durable backends
        keep it across reopening, like everything else they store."""

    # leases
    def lease(self, run_id: str) -> AbstractAsyncContextManager[None]:
        """The exclusive right to drive ``run_id`` for the duration of the ``async with``.

        Raises :class:`RunBusy` at once (never waits) when someone else holds it, so two
        resumes of one run cannot both append turns. A holder that dies — even by SIGKILL —
        must not keep the lease. This default guards one store object in one process;
        backends that several processes share override it.
        """
        return _local_lease(self, run_id)

    async def is_leased(self, run_id: str) -> bool | None:
        """Whether someone drives ``run_id`` right now (holds its lease); ``None`` when the
        backend cannot tell. A ``running`` run that nobody drives was interrupted (its
        driver died). Never waits and never takes the lease."""
        return run_id in self.__dict__.get("_held_leases", set())

    async def open(self) -> Self:
        """Check now that the store can be used (backends open lazily otherwise); raises
        :class:`StoreError`."""
        return self

    async def aclose(self) -> None:  # noqa: B027 - optional: backends without resources keep it
        """Release connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@asynccontextmanager
async def _local_lease(store: Store, run_id: str) -> AsyncIterator[None]:
    held: set[str] = store.__dict__.setdefault("_held_leases", set())
    if run_id in held:
        raise RunBusy(run_id, "another task of this process")
    held.add(run_id)
    try:
        yield
    finally:
        held.discard(run_id)
