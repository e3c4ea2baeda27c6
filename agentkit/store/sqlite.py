"""The default Store: one SQLite file, shared safely by several processes.

Design, in short:

* **WAL journal, ``synchronous=NORMAL``** by default: a committed append survives a crash
  or ``kill -9`` of the process; after a power loss the last few commits may be rolled
  back (never corrupted). ``synchronous="FULL"`` syncs the WAL on every commit and
  survives power loss too, at a higher cost per append.
* **Commits off the event loop, grouped.** One writer connection does the SQLite work in a
  worker thread, one batch at a time: writes queue in async land while a transaction
  commits, and the next transaction takes them all, each in a savepoint, so many runs
  committing at once (a swarm, a heavy ensemble) pay for one commit, not one each; each
  caller still gets its own result or error (see ``_sqlite_writes``). Reads use a second
  connection, one worker thread at a time, so they never wait behind a commit (WAL
  readers do not block the writer).
* **Cancellation never tears a commit.** An append already taken into a batch when its
  caller is cancelled runs to the end and returns its ``seq``; the cancellation lands at
  the caller's next checkpoint. One still queued is dropped unwritten.
* **Several processes per file.** Every write is a ``BEGIN IMMEDIATE`` transaction (the
  write lock is taken up front, waiting up to ``busy_timeout``), and an event's ``seq`` is
  computed inside it; ``UNIQUE(run_id, seq)`` backs that up. Two processes appending to
  one run interleave into one gapless log.
* **Large strings once.** Strings over ``inline_limit`` characters anywhere in an event go
  to the ``blobs`` table keyed by SHA-256 (``INSERT OR IGNORE``), so an identical page
  fetched by eight trajectories is stored once; reads restore them transparently.
* **Schema versioned** with ``PRAGMA user_version`` (see ``_sqlite_schema``).
* **Full-text search** (``search_text``): an FTS5 index filled in each append's transaction
  (see ``_sqlite_search``).

Opening is lazy: the constructor touches nothing on disk; the first operation (or
``async with``) creates the directory and the file in a worker thread. ``readonly=True``
(what ``agentkit runs``/``show``/``report`` use) never creates anything: no directory, no
database, no lease file; a missing file is :class:`~agentkit.store.base.StoreMissing`.

**Hostile conditions are typed errors.** SQLite's answers are mapped at the one place every
operation passes through: a full disk is :class:`~agentkit.store.base.StoreFull` (the
failed transaction is rolled back, everything committed before it stays), a damaged file,
a file that is not a database or another application's database is
:class:`~agentkit.store.base.StoreCorrupt` (such a file is checked before anything is
written, so it is never changed), a read-only, locked or unopenable file is
:class:`~agentkit.store.base.StoreUnavailable`. Text that is not valid Unicode (a lone
surrogate) is stored with U+FFFD in its place.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal, Self, TypeVar
from urllib.parse import quote

import anyio
import anyio.to_thread
import orjson

from agentkit._text import clean_text
from agentkit.store import _lease
from agentkit.store import _sqlite_search as search
from agentkit.store._codec import (
    INLINE_LIMIT,
    EncodedEvent,
    MissingBlob,
    decode_event,
    encode_event,
    kept_bytes,
    ref_keys,
    scrub,
)
from agentkit.store._search import MAX_K, TextHit, parse_query
from agentkit.store._sqlite_errors import os_error, probe_write, store_error, unreadable
from agentkit.store._sqlite_rows import RUN_SELECT, row_run, row_source, run_row, run_update
from agentkit.store._sqlite_schema import RUN_COLUMNS, check_store, has_cache, migrate
from agentkit.store._sqlite_writes import WriteQueue, Writer, queue_for
from agentkit.store._sqlite_writes import transaction as _transaction
from agentkit.store.base import (
    RunNotFound,
    Store,
    StoreError,
    StoreMissing,
    StoreUnavailable,
    blob_key,
)
from agentkit.store.events import RunInfo, Source, StoredEvent, TraceEvent

T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]

_SQL_VARS = 500  # keys per IN (...) query, well under SQLite's variable limit


class StoreClosed(StoreUnavailable):
    """The store was used after ``aclose()``."""


class SQLiteStore(Store):
    """A :class:`Store` in one SQLite file (WAL), safe for concurrent tasks and processes."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_s: float = 30.0,
        inline_limit: int = INLINE_LIMIT,
        readonly: bool = False,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self._memory = str(path) == ":memory:"
        self.path: Path | None = None if self._memory else Path(path).expanduser()
        self.synchronous: Synchronous = synchronous
        self.readonly = readonly and not self._memory
        self._busy_timeout_s = busy_timeout_s
        self._inline_limit = inline_limit
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._closed = False
        self._indexing = False  # the writer keeps the full-text index (known once it is open)
        # Writes queue per event loop and commit in batches (_sqlite_writes); reads queue on a
        # limiter, one worker thread at a time. The locks make the connections safe even if the
        # store is driven from two event loops.
        self._write_lock = threading.Lock()
        self._writer_side = Writer(
            lock=self._write_lock,
            connect=self._writer_conn,
            fail=self._typed_error,
            known=set(),  # runs are never deleted: a positive cache is safe
            learning=set(),
        )
        self._write_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteQueue] = (
            weakref.WeakKeyDictionary()
        )
        self._read_limiter = anyio.CapacityLimiter(1)
        # one private database in memory: reads must use the writer's connection
        self._read_lock = self._write_lock if self._memory else threading.Lock()

    def __repr__(self) -> str:
        ro = ", readonly=True" if self.readonly else ""
        return f"SQLiteStore({str(self.path or ':memory:')!r}, synchronous={self.synchronous!r}{ro})"

    @property
    def location(self) -> str:
        return ":memory:" if self.path is None else str(self.path)

    # -- connections and threads -------------------------------------------------------

    def _connect(self, *, write: bool) -> sqlite3.Connection:
        target, uri = self.location, False
        if self.readonly and self.path is not None:
            target, uri = f"file:{quote(str(self.path.absolute()))}?mode=ro", True
        conn = sqlite3.connect(
            target, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False, uri=uri
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            # before anything is written: another application's file is never changed
            checked = self.path is not None and (write or self.readonly)
            if checked and check_store(conn, self.location) == 0 and self.readonly:
                raise StoreMissing(f"no store at {self.location} (the file is empty)", location=self.location)
            if write:
                mode = self._enable_wal(conn)
                if mode != "wal" and not self._memory:
                    warnings.warn(
                        f"SQLite store {target}: WAL journal unavailable (got {mode!r}); readers will wait for writers",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                conn.execute("PRAGMA foreign_keys = ON")
            else:
                conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch to WAL, retrying while another process holds the file.

        SQLite answers "database is locked" at once, without calling the busy handler, when
        two connections race to switch a new file to WAL; so this retries up to the busy timeout.
        """
        deadline = time.monotonic() + self._busy_timeout_s
        delay = 0.005
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    conn.close()
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _writer_conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreClosed(f"{self!r} is closed", location=self.location)
        if self.readonly:
            raise StoreUnavailable(f"the store at {self.location} is opened read-only", location=self.location)
        if self._writer is None:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect(write=True)
            try:
                migrate(conn, str(self.path))
                self._indexing = search.ensure_index(conn)
            except BaseException:
                conn.close()
                raise
            self._writer = conn
        return self._writer

    def _reader_conn(self) -> sqlite3.Connection:
        if self._memory:
            return self._writer_conn()
        if self._closed:
            raise StoreClosed(f"{self!r} is closed", location=self.location)
        if self._reader is None:
            if self.readonly:
                self._require_file()
            else:
                with self._write_lock:  # the schema must exist before a query-only connection reads it
                    self._writer_conn()
            self._reader = self._connect(write=False)
        return self._reader

    def _require_file(self) -> None:
        if self.path is not None and not self.path.exists():
            raise StoreMissing(f"no store at {self.location}", location=self.location)

    def _typed_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, sqlite3.Error):
            error = store_error(exc, self.location)
        elif isinstance(exc, OSError):  # creating the directory
            error = os_error(exc, self.location)
        else:
            return exc
        if error is not exc:
            error.__cause__ = exc
        return error

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, alone: bool = False) -> T:
        """Run ``fn`` on the writer connection in a worker thread, committed with the writes
        queued beside it (``alone``: in a batch of its own, for one that manages its own
        transaction)."""
        result: T = await queue_for(self._write_queues, self._writer_side.run_batch).write(fn, alone=alone)
        return result

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def job() -> T:
            with self._read_lock:
                try:
                    return fn(self._reader_conn())
                except (sqlite3.Error, OSError) as exc:
                    error = self._typed_error(exc)
                    if error is exc:
                        raise
                    raise error from exc

        return await anyio.to_thread.run_sync(job, limiter=self._read_limiter)

    async def open(self) -> Self:
        """Create/open the file now (otherwise the first operation does): surfaces bad paths
        early. A writable store is also checked for room and write permission with a
        transaction that changes nothing."""
        if not self.readonly:
            await self._write(probe_write, alone=True)
        await self._read(lambda conn: None)
        return self

    async def __aenter__(self) -> Self:
        return await self.open()

    def close(self) -> None:
        """Close the connections (blocking; prefer ``await aclose()`` inside async code)."""
        # lock order everywhere: read lock, then write lock (the reader's first open takes both)
        with self._read_lock if not self._memory else nullcontext(), self._write_lock:
            self._closed = True
            for conn in (self._reader, self._writer):
                if conn is not None:
                    conn.close()
            self._reader = self._writer = None

    async def aclose(self) -> None:
        if self._closed:
            return
        await anyio.to_thread.run_sync(self.close)  # waits for the batch in flight (the writer lock)

    # -- leases --------------------------------------------------------------------------

    @property
    def lease_dir(self) -> Path | None:
        """Where run leases live: ``<file>-leases/`` next to the database (None in memory)."""
        return None if self.path is None else self.path.with_name(self.path.name + "-leases")

    def lease(self, run_id: str) -> AbstractAsyncContextManager[None]:
        """Exclusive among every process on this machine that opens the same file; the
        kernel releases it when the holder exits or is killed."""
        if self.readonly:
            return _refuse(
                StoreUnavailable(f"the store at {self.location} is opened read-only", location=self.location)
            )
        if self.lease_dir is None or not _lease.AVAILABLE:
            return super().lease(run_id)
        return _lease.file_lease(self.lease_dir, run_id)

    async def is_leased(self, run_id: str) -> bool | None:
        """Whether a process holds the run's lease now (probes the lock; creates nothing)."""
        if self.lease_dir is None or not _lease.AVAILABLE:
            return await super().is_leased(run_id)
        if self.readonly:
            self._require_file()
        return await anyio.to_thread.run_sync(_lease.is_held, self.lease_dir, run_id)

    # -- runs ----------------------------------------------------------------------------

    async def create_run(self, run: RunInfo) -> None:
        row = run_row(run)
        placeholders = ", ".join("?" * len(row))

        def insert(conn: sqlite3.Connection) -> None:
            try:
                with _transaction(conn):
                    conn.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}, extra) VALUES ({placeholders})", row)
                    search.set_tags(conn, run.id, scrub(run.tags))
            except sqlite3.IntegrityError:
                raise ValueError(f"run {run.id!r} exists") from None
            self._writer_side.learning.add(run.id)

        await self._write(insert)

    async def get_run(self, run_id: str) -> RunInfo:
        def select(conn: sqlite3.Connection) -> RunInfo:
            row = conn.execute(f"{RUN_SELECT} WHERE id = ?", (clean_text(run_id),)).fetchone()
            if row is None:
                raise RunNotFound(run_id)
            return row_run(row, self.location)

        return await self._read(select)

    async def list_runs(self, *, parent_id: str | None = None, limit: int = 100) -> list[RunInfo]:
        def select(conn: sqlite3.Connection) -> list[RunInfo]:
            rows = conn.execute(
                f"{RUN_SELECT} WHERE parent_id IS ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (None if parent_id is None else clean_text(parent_id), limit),
            ).fetchall()
            return [row_run(r, self.location) for r in rows]

        return await self._read(select)

    async def update_run(self, run_id: str, **fields: Any) -> None:
        assignments, params = run_update(run_id, fields)

        def update(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                cur = conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*params, clean_text(run_id)))
                if cur.rowcount == 0:
                    raise RunNotFound(run_id)
                if "tags" in fields:
                    search.set_tags(conn, clean_text(run_id), scrub(list(fields["tags"])))

        await self._write(update)

    async def find_run(self, prefix: str) -> RunInfo:
        """By id or unique id prefix, children included (ids sort next to their prefix)."""

        def select(conn: sqlite3.Connection) -> RunInfo:
            rows = conn.execute(f"{RUN_SELECT} WHERE id >= ? ORDER BY id LIMIT 2", (clean_text(prefix),)).fetchall()
            runs = [row_run(r, self.location) for r in rows]
            if runs and runs[0].id == prefix:
                return runs[0]
            matches = [r for r in runs if r.id.startswith(prefix)]
            if len(matches) == 1 and prefix:
                return matches[0]
            raise RunNotFound(prefix)

        return await self._read(select)

    # -- events --------------------------------------------------------------------------

    async def append(self, run_id: str, event: TraceEvent) -> int:
        (seq,) = await self.append_many(run_id, [event])
        return seq

    async def append_many(self, run_id: str, events: Sequence[TraceEvent]) -> list[int]:
        """Append several events in one transaction (one commit, consecutive seqs)."""
        run_id = clean_text(run_id)
        if not events:
            await self._write(lambda conn: self._require_run(conn, run_id))
            return []
        limit = self._inline_limit

        def insert(conn: sqlite3.Connection) -> list[int]:
            encoded = [encode_event(e, limit) for e in events]  # hashing 1 MB is off the loop too
            prepared = search.prepare(events) if self._indexing else None
            with _transaction(conn):
                self._require_run(conn, run_id)
                _insert_blobs(conn, ((k, v) for enc in encoded for k, v in enc.blobs.items()))
                first = int(
                    conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = ?", (run_id,)).fetchone()[
                        0
                    ]
                )
                seqs = list(range(first, first + len(encoded)))
                conn.executemany(
                    "INSERT INTO events (run_id, seq, type, ts, data, refs) VALUES (?, ?, ?, ?, ?, ?)",
                    [_event_row(run_id, seq, enc) for seq, enc in zip(seqs, encoded, strict=True)],
                )
                if prepared is not None:
                    search.index_events(conn, run_id, first, prepared)
            return seqs

        return await self._write(insert)

    async def events(self, run_id: str, *, after: int = 0) -> list[StoredEvent]:
        run_id = clean_text(run_id)

        def select(conn: sqlite3.Connection) -> list[StoredEvent]:
            rows: list[tuple[int, str, str | None]] = conn.execute(
                "SELECT seq, data, refs FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
                (run_id, after),
            ).fetchall()
            if not rows:
                self._require_run(conn, run_id)
                return []
            blobs = _select_blobs(conn, {k for _s, _d, refs in rows for k in ref_keys(refs)})
            out: list[StoredEvent] = []
            for seq, data, refs in rows:
                try:
                    out.append(StoredEvent(run_id=run_id, seq=seq, event=decode_event(data, refs, blobs)))
                except (ValueError, MissingBlob) as exc:
                    raise unreadable(self.location, f"event {seq} of run {run_id}", exc) from exc
            return out

        return await self._read(select)

    def _require_run(self, conn: sqlite3.Connection, run_id: str) -> None:
        if run_id in self._writer_side.known:
            return
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFound(run_id)
        self._writer_side.learning.add(run_id)

    # -- blobs ---------------------------------------------------------------------------

    async def put_blob(self, data: bytes) -> str:
        data = kept_bytes(data)

        def insert(conn: sqlite3.Connection) -> str:
            key = blob_key(data)
            with _transaction(conn):
                _insert_blobs(conn, [(key, data)])
            return key

        return await self._write(insert)

    async def get_blob(self, key: str) -> bytes | None:
        return await self._read(lambda conn: _select_blobs(conn, {key}).get(key))

    # -- sources -------------------------------------------------------------------------

    async def add_source(self, run_id: str, source: Source) -> None:
        run_id = clean_text(run_id)
        fields = scrub(source.model_dump(mode="json"))
        data = orjson.dumps(fields).decode()

        def upsert(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                self._require_run(conn, run_id)
                old = conn.execute("SELECT data FROM sources WHERE run_id = ? AND id = ?", (run_id, fields["id"]))
                before = old.fetchone()
                conn.execute(
                    "INSERT INTO sources (run_id, id, url, content_hash, data) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (run_id, id) DO UPDATE SET url = excluded.url, "
                    "content_hash = excluded.content_hash, data = excluded.data",
                    (run_id, fields["id"], fields["url"], fields["content_hash"], data),
                )
                if self._indexing:
                    search.index_source(
                        conn, run_id, Source.model_validate(fields), None if before is None else before[0]
                    )

        await self._write(upsert)

    async def list_sources(self, run_id: str) -> list[Source]:
        def select(conn: sqlite3.Connection) -> list[Source]:
            rows = conn.execute(
                "SELECT data FROM sources WHERE run_id = ? ORDER BY rowid", (clean_text(run_id),)
            ).fetchall()
            return [row_source(data, self.location) for (data,) in rows]

        return await self._read(select)

    async def get_source(self, run_id: str, source_id: str) -> Source | None:
        def select(conn: sqlite3.Connection) -> Source | None:
            row = conn.execute(
                "SELECT data FROM sources WHERE run_id = ? AND id = ?", (clean_text(run_id), clean_text(source_id))
            ).fetchone()
            return None if row is None else row_source(row[0], self.location)

        return await self._read(select)

    # -- full-text search and tags ------------------------------------------------------

    async def search_text(self, run_ids: Sequence[str], query: str, *, k: int = 5) -> list[TextHit]:
        """From the FTS5 index; a store without one (read-only and made by an older agentkit,
        or this SQLite has no FTS5) is scanned."""
        parsed, wanted = parse_query(query), list(dict.fromkeys(clean_text(r) for r in run_ids))
        if parsed.empty or k <= 0 or not wanted:
            return []
        if not await self._read(search.has_index):
            return await super().search_text(wanted, query, k=k)
        return await self._read(lambda conn: search.search(conn, wanted, parsed, min(k, MAX_K)))

    async def tagged_runs(self, tag: str, *, limit: int = 1000) -> list[RunInfo]:
        def select(conn: sqlite3.Connection) -> list[RunInfo] | None:
            if not search.has_tags(conn):
                return None  # a store of an older agentkit opened read-only: no run has tags
            return [row_run(r, self.location) for r in search.tagged(conn, RUN_SELECT, clean_text(tag), limit)]

        found = await self._read(select)
        return [] if found is None else found

    # -- keyed cache ---------------------------------------------------------------------

    async def get_cached(self, namespace: str, key: str) -> bytes | None:
        args = (clean_text(namespace), clean_text(key))

        def select(conn: sqlite3.Connection) -> bytes | None:
            if self.readonly and not has_cache(conn):
                return None  # a store written by an older agentkit, not migrated by a reader
            row = conn.execute("SELECT value FROM cache WHERE namespace = ? AND key = ?", args).fetchone()
            return None if row is None else bytes(row[0])

        return await self._read(select)

    async def put_cached(self, namespace: str, key: str, value: bytes) -> None:
        args = (clean_text(namespace), clean_text(key), kept_bytes(value), time.time())

        def upsert(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(
                    "INSERT INTO cache (namespace, key, value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT "
                    "(namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    args,
                )

        await self._write(upsert)


# -- helpers (run in the worker threads) ------------------------------------------------


def _insert_blobs(conn: sqlite3.Connection, items: Iterable[tuple[str, bytes]]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO blobs (key, size, data) VALUES (?, ?, ?)",
        [(key, len(data), data) for key, data in items],
    )


def _select_blobs(conn: sqlite3.Connection, keys: set[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    ordered = sorted(keys)
    for i in range(0, len(ordered), _SQL_VARS):
        chunk = ordered[i : i + _SQL_VARS]
        rows = conn.execute(
            f"SELECT key, data FROM blobs WHERE key IN ({', '.join('?' * len(chunk))})", chunk
        ).fetchall()
        found.update((k, bytes(d)) for k, d in rows)
    return found


def _event_row(run_id: str, seq: int, enc: EncodedEvent) -> tuple[Any, ...]:
    return (run_id, seq, enc.type, enc.ts, enc.data, enc.refs)


@asynccontextmanager
async def _refuse(error: StoreError) -> AsyncIterator[None]:
    raise error
    yield


__all__ = ["SQLiteStore", "StoreClosed"]
