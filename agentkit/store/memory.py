"""In-memory Store: for tests and throwaway library runs (nothing survives the process)."""

from __future__ import annotations

import time
from typing import Any

from agentkit._text import clean_text
from agentkit.store._codec import clean_model, kept_bytes, scrub
from agentkit.store.base import RunNotFound, Store, blob_key
from agentkit.store.events import RunInfo, Source, StoredEvent, TraceEvent


class MemoryStore(Store):
    def __init__(self) -> None:
        self._runs: dict[str, RunInfo] = {}
        self._events: dict[str, list[StoredEvent]] = {}
        self._blobs: dict[str, bytes] = {}
        self._sources: dict[str, dict[str, Source]] = {}
        self._cache: dict[tuple[str, str], bytes] = {}

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
        run_id = clean_text(run_id)
        log = self._events.get(run_id)
        if log is None:
            raise RunNotFound(run_id)
        seq = len(log) + 1
        log.append(StoredEvent(run_id=run_id, seq=seq, event=clean_model(event).model_copy(deep=True)))
        return seq

    async def events(self, run_id: str, *, after: int = 0) -> list[StoredEvent]:
        run_id = clean_text(run_id)
        if run_id not in self._events:
            raise RunNotFound(run_id)
        return [e.model_copy(deep=True) for e in self._events[run_id][after:]]

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

    async def list_sources(self, run_id: str) -> list[Source]:
        return [s.model_copy(deep=True) for s in self._sources.get(clean_text(run_id), {}).values()]

    async def get_cached(self, namespace: str, key: str) -> bytes | None:
        return self._cache.get((clean_text(namespace), clean_text(key)))

    async def put_cached(self, namespace: str, key: str, value: bytes) -> None:
        self._cache[clean_text(namespace), clean_text(key)] = kept_bytes(value)
