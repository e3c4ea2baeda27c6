"""In-memory Store: for tests and throwaway library runs (nothing survives the process).
Events are kept as the JSON the other stores write (the encoding the run loop's check before
each commit already made): appending copies nothing, and each read decodes a new copy. Its
full-text search scans chunks of the runs' texts, prepared once per event and source (on the
first search that reaches them, so runs nobody searches cost nothing)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from agentkit._text import clean_text
from agentkit.store._codec import clean_model, kept_bytes, kept_json, scrub
from agentkit.store._search import MAX_K, ScanIndex, TextHit, parse_query
from agentkit.store.base import RunNotFound, Store, blob_key
from agentkit.store.events import EVENT_ADAPTER, RunInfo, Source, StoredEvent, TraceEvent


class MemoryStore(Store):
    def __init__(self) -> None:
        self._runs: dict[str, RunInfo] = {}
        self._events: dict[str, list[bytes]] = {}
        """Each run's events, in order (seq 1, 2, ...), as JSON."""
        self._blobs: dict[str, bytes] = {}
        self._sources: dict[str, dict[str, Source]] = {}
        self._cache: dict[tuple[str, str], bytes] = {}
        self._text = ScanIndex()
        self._indexed: dict[str, int] = {}  # events of each run already in _text
        self._unindexed_sources: dict[str, set[str]] = {}

    async def create_run(self, run: RunInfo) -> None:
        run = clean_model(run)
        if run.id in self._runs:
            raise ValueError(f"run {run.id!r} exists")
        self._runs[run.id] = run.model_copy(deep=True)
        self._events[run.id] = []

    async def get_run(self, run_id: str) -> RunInfo:
        try:
            return self._runs[clean_text(run_id)].model_copy(deep=True)
        except KeyError:
            raise RunNotFound(run_id) from None

    async def list_runs(self, *, parent_id: str | None = None, limit: int = 100) -> list[RunInfo]:
        runs = [r for r in self._runs.values() if r.parent_id == parent_id]
        runs.sort(key=lambda r: r.created_at, reverse=True)
        return [r.model_copy(deep=True) for r in runs[:limit]]

    async def find_run(self, prefix: str) -> RunInfo:
        prefix = clean_text(prefix)
        if prefix in self._runs:
            return await self.get_run(prefix)
        matches = [r for r in self._runs.values() if r.id.startswith(prefix)]
        if len(matches) == 1:
            return matches[0].model_copy(deep=True)
        raise RunNotFound(prefix)

    async def update_run(self, run_id: str, **fields: Any) -> None:
        run = self._runs.get(clean_text(run_id))
        if run is None:
            raise RunNotFound(run_id)
        self._runs[run.id] = run.model_copy(update={**scrub(fields), "updated_at": time.time()})

    async def append(self, run_id: str, event: TraceEvent) -> int:
        return (await self.append_many(run_id, [event]))[0]

    async def append_many(self, run_id: str, events: Sequence[TraceEvent]) -> list[int]:
        run_id = clean_text(run_id)
        log = self._events.get(run_id)
        if log is None:
            raise RunNotFound(run_id)
        first = len(log) + 1
        # A copy of orjson's output: the bytes it returns keep the capacity of its buffer
        # (~64 KB for an event of a few KB), ten times what a long run's log needs.
        log += [bytes(memoryview(kept_json(e)[1])) for e in events]
        return list(range(first, len(log) + 1))

    async def events(self, run_id: str, *, after: int = 0) -> list[StoredEvent]:
        run_id = clean_text(run_id)
        log = self._events.get(run_id)
        if log is None:
            raise RunNotFound(run_id)
        after = max(after, 0)
        return [
            StoredEvent(run_id=run_id, seq=after + i + 1, event=EVENT_ADAPTER.validate_json(raw))
            for i, raw in enumerate(log[after:])
        ]

    async def put_blob(self, data: bytes) -> str:
        data = kept_bytes(data)
        key = blob_key(data)
        self._blobs.setdefault(key, data)
        return key

    async def get_blob(self, key: str) -> bytes | None:
        return self._blobs.get(key)

    async def add_source(self, run_id: str, source: Source) -> None:
        run_id, source = clean_text(run_id), clean_model(source)
        if run_id not in self._runs:
            raise RunNotFound(run_id)
        self._sources.setdefault(run_id, {})[source.id] = source.model_copy(deep=True)
        self._unindexed_sources.setdefault(run_id, set()).add(source.id)

    async def list_sources(self, run_id: str) -> list[Source]:
        return [s.model_copy(deep=True) for s in self._sources.get(clean_text(run_id), {}).values()]

    async def search_text(self, run_ids: Sequence[str], query: str, *, k: int = 5) -> list[TextHit]:
        parsed = parse_query(query)
        if parsed.empty or k <= 0:
            return []
        wanted = [clean_text(r) for r in run_ids]
        for run_id in wanted:
            log = self._events.get(run_id, [])
            done = self._indexed.get(run_id, 0)
            if len(log) > done:
                self._text.add_events(run_id, done + 1, [EVENT_ADAPTER.validate_json(raw) for raw in log[done:]])
                self._indexed[run_id] = len(log)
            for sid in self._unindexed_sources.pop(run_id, set()):
                source = self._sources[run_id][sid]
                self._text.set_source(run_id, source, self._blobs.get(source.content_hash or ""))
        return self._text.search(wanted, parsed, min(k, MAX_K))

    async def tagged_runs(self, tag: str, *, limit: int = 1000) -> list[RunInfo]:
        tag = clean_text(tag)
        runs = sorted((r for r in self._runs.values() if tag in r.tags), key=lambda r: r.created_at, reverse=True)
        return [r.model_copy(deep=True) for r in runs[:limit]]

    async def get_cached(self, namespace: str, key: str) -> bytes | None:
        return self._cache.get((clean_text(namespace), clean_text(key)))

    async def put_cached(self, namespace: str, key: str, value: bytes) -> None:
        self._cache[clean_text(namespace), clean_text(key)] = kept_bytes(value)
