"""The PostgreSQL Store: one store shared by every process and machine that reaches the
server (a cluster's workers, several CLIs), with the SQLite store's semantics.

``open_store("postgresql://user@host:5432/db")`` (or ``postgres://``, or the same URL in
``$AGENTKIT_STORE``) opens it; the optional ``?schema=name`` picks the schema (default
``agentkit``), so several stores can share a database. The password may be in the URL, in
``$PGPASSWORD`` or in ``~/.pgpass`` (libpq's rules); no message ever shows it.

Design, in short:

* **psycopg 3, async**, a small connection pool (``psycopg_pool``) per store object, opened
  lazily in the event loop of the first operation; the store serves that loop only.
* **Schema created on first open** (``_pg_schema``): idempotent, and safe when several
  processes open a new database at once. ``readonly=True`` never creates anything: its
  connections are read-only sessions, and a database without the store is
  :class:`~agentkit.store.base.StoreMissing`.
* **Gapless seqs across processes.** An append bumps the run row's ``last_seq`` in the
  transaction that inserts its events: the row lock orders concurrent appenders, a
  rolled-back append gives its numbers back.
* **Commits are never torn by cancellation**: once a write has its connection, it runs to
  the end (as a SQLite write already in its worker thread does); one still waiting for a
  connection is dropped unwritten.
* **Large strings once**, by content hash in ``blobs`` (the shared ``_codec``), as in SQLite.
* **Leases are session-level advisory locks** (``pg_try_advisory_lock``, ``_pg_lease``), all
  of one store object on one connection of its own, held for the ``async with``: the server
  drops a session's locks with the session, so a killed holder's leases are gone as soon as
  the server sees its connection close (TCP keepalives bound that for a vanished machine).
  ``is_leased`` reads ``pg_locks``.
* **Typed errors**: an unreachable server or a refused login is
  :class:`~agentkit.store.base.StoreUnavailable` naming host, port, database and user (never
  the password); a full disk (SQLSTATE 53100) is :class:`~agentkit.store.base.StoreFull`;
  a schema of another application, a damaged row or SQLSTATE XX001/XX002 is
  :class:`~agentkit.store.base.StoreCorrupt`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any, Self, TypeVar

import anyio
import orjson
import psycopg
import psycopg.errors
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from agentkit._text import clean_text
from agentkit.store import _pg_search as search
from agentkit.store._codec import (
    INLINE_LIMIT,
    MissingBlob,
    decode_event,
    encode_event,
    kept_bytes,
    ref_keys,
    scrub,
)
from agentkit.store._pg_errors import PgTarget, parse_target, pg_error
from agentkit.store._pg_lease import LeaseSession, holder_pid
from agentkit.store._pg_rows import RUN_FIELDS, cache_id, insert_blobs, run_patch, select_blobs, to_json
from agentkit.store._pg_schema import SCHEMA_VERSION, migrate, require_store
from agentkit.store._search import MAX_K, TextHit, parse_query
from agentkit.store.base import RunNotFound, Store, StoreCorrupt, StoreUnavailable
from agentkit.store.events import RunInfo, Source, StoredEvent, TraceEvent
from agentkit.store.sqlite import StoreClosed

# The pool reports connections it discards as warnings: an application that configures
# logging sees them; a CLI user, who gets the store's typed error, is not shown them.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

T = TypeVar("T")
_PATIENCE_S = 2.0
"""How long an operation waits for a pooled connection before it checks the server is there."""
Conn = AsyncConnection[Any]


class PostgresStore(Store):
    """A :class:`Store` in a PostgreSQL database (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        readonly: bool = False,
        pool_size: int = 4,
        connect_timeout_s: float = 10.0,
        pool_timeout_s: float = 60.0,
        inline_limit: int = INLINE_LIMIT,
    ) -> None:
        self.target: PgTarget = parse_target(url, schema)
        self.readonly = readonly
        self._pool_size = max(1, pool_size)
        self._connect_timeout_s = connect_timeout_s
        self._pool_timeout_s = pool_timeout_s
        self._inline_limit = inline_limit
        self._pool: AsyncConnectionPool[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False
        self._probing: asyncio.Lock | None = None
        self._reachable_at = 0.0
        self._version = SCHEMA_VERSION  # of the store's schema (one opened read-only may be older)
        self._leases = LeaseSession(self.target.schema, partial(self._connect, lease=True), self._error)

    def __repr__(self) -> str:
        ro = ", readonly=True" if self.readonly else ""
        return f"PostgresStore({self.target.display!r}{ro})"

    @property
    def location(self) -> str:
        """The URL without its password."""
        return self.target.display

    # -- connections ---------------------------------------------------------------------

    def _kwargs(self, *, lease: bool = False) -> dict[str, Any]:
        """Connection settings the URL did not choose itself."""
        given = self.target.params
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in given:
            kwargs["connect_timeout"] = max(1, round(self._connect_timeout_s))
        if lease:  # how another process names the holder; keepalives notice a vanished one
            kwargs["application_name"] = f"agentkit lease {os.getpid()}@{socket.gethostname()}"[:63]
            for name, value in (("keepalives", 1), ("keepalives_idle", 30), ("keepalives_interval", 10)):
                kwargs.setdefault(name, given.get(name, value))
        elif "application_name" not in given:
            kwargs["application_name"] = "agentkit"
        return kwargs

    async def _configure(self, conn: Conn) -> None:
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.target.schema)))
        if self.readonly:
            await conn.execute("SET default_transaction_read_only = on")

    async def _connect(self, *, lease: bool = False) -> Conn:
        try:
            conn = await AsyncConnection.connect(self.target.conninfo, **self._kwargs(lease=lease))
        except psycopg.Error as exc:
            raise pg_error(exc, self.target, readonly=self.readonly) from None  # its text may hold the URL
        try:
            await self._configure(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    def _check_usable(self) -> None:
        if self._closed:
            raise StoreClosed(f"{self!r} is closed", location=self.location)
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            raise RuntimeError(f"{self!r} serves the event loop it was opened in; open another store for this one")

    async def _ready(self) -> AsyncConnectionPool[Any]:
        """The pool, after checking (reader) or creating (writer) the schema once."""
        self._check_usable()
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                conn = await self._connect()
                try:
                    if self.readonly:
                        self._version = await require_store(conn, self.target)
                    else:
                        await migrate(conn, self.target)
                except psycopg.Error as exc:
                    raise self._error(exc) from exc
                finally:
                    await conn.close()
                pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                    self.target.conninfo,
                    kwargs=self._kwargs(),
                    min_size=1,
                    max_size=self._pool_size,
                    open=False,
                    configure=self._configure,
                    check=AsyncConnectionPool.check_connection,  # after a server restart: a new one
                    timeout=self._pool_timeout_s,
                    name="agentkit-store",
                )
                await pool.open(wait=False)
                self._pool, self._loop = pool, asyncio.get_running_loop()
        return self._pool

    def _error(self, exc: BaseException) -> BaseException:
        return pg_error(exc, self.target, readonly=self.readonly)

    async def _checkout(self, pool: AsyncConnectionPool[Any]) -> Conn:
        """A pooled connection. While none comes, the server is probed every few seconds, so
        an unreachable server is reported at once (typed), not after the pool's timeout."""
        deadline = time.monotonic() + self._pool_timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                conn: Conn = await pool.getconn(timeout=max(0.01, min(_PATIENCE_S, left)))
                return conn
            except PoolTimeout:
                if left <= _PATIENCE_S:
                    raise
                await self._probe()

    async def _probe(self) -> None:
        """Raise the typed error if the server cannot be reached now (one probe at a time;
        a server found reachable is not asked again for a while)."""
        if self._probing is None:
            self._probing = asyncio.Lock()
        async with self._probing:
            if time.monotonic() - self._reachable_at < _PATIENCE_S:
                return
            await (await self._connect()).close()
            self._reachable_at = time.monotonic()

    async def _use(self, fn: Callable[[Conn], Awaitable[T]], *, shielded: bool) -> T:
        pool = await self._ready()
        try:
            conn = await self._checkout(pool)
            try:
                with anyio.CancelScope(shield=shielded):
                    result = await fn(conn)
            finally:
                with anyio.CancelScope(shield=True):  # back to the pool even when cancelled
                    await pool.putconn(conn)
            return result
        except (psycopg.Error, PoolTimeout) as exc:
            mapped = self._error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        return await self._use(fn, shielded=False)

    async def _write(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """Once it has a connection, the write runs to its end even if the caller is
        cancelled (one still waiting for a connection is dropped unwritten)."""
        if self.readonly:
            raise StoreUnavailable(f"the store at {self.location} is opened read-only", location=self.location)
        return await self._use(fn, shielded=True)

    async def open(self) -> Self:
        """Connect now (and create the schema, unless read-only); a writer also checks that
        the server lets it write, with a transaction that changes nothing."""
        if self.readonly:
            await self._read(_nothing)
        else:
            await self._write(_probe_write)
        return self

    async def __aenter__(self) -> Self:
        return await self.open()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._leases.close()
        pool, self._pool = self._pool, None
        if pool is not None and self._loop is asyncio.get_running_loop():
            with anyio.CancelScope(shield=True):
                await pool.close()

    # -- leases --------------------------------------------------------------------------

    def lease(self, run_id: str) -> AbstractAsyncContextManager[None]:
        """Exclusive among every session of the database (every process, every machine);
        the server releases it when the holder's connection closes, killed or not."""
        return self._lease(clean_text(run_id))

    @asynccontextmanager
    async def _lease(self, run_id: str) -> AsyncIterator[None]:
        if self.readonly:
            raise StoreUnavailable(f"the store at {self.location} is opened read-only", location=self.location)
        await self._ready()
        async with self._leases.hold(run_id):
            yield

    async def is_leased(self, run_id: str) -> bool | None:
        """Whether a session holds the run's lease now (reads ``pg_locks``; takes nothing)."""
        key = self._leases.key(clean_text(run_id))

        async def held(conn: Conn) -> bool:
            return await holder_pid(conn, key) is not None

        return await self._read(held)

    # -- runs ----------------------------------------------------------------------------

    async def create_run(self, run: RunInfo) -> None:
        data = scrub(run.model_dump(mode="json"))
        row = (data["id"], data["parent_id"], data["created_at"], to_json(data))

        async def insert(conn: Conn) -> None:
            try:
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO runs (id, parent_id, created_at, data) VALUES (%s, %s, %s, %s)", row
                    )
                    await search.set_tags(conn, data["id"], data["tags"])
            except psycopg.errors.UniqueViolation:
                raise ValueError(f"run {run.id!r} exists") from None

        await self._write(insert)

    async def get_run(self, run_id: str) -> RunInfo:
        async def select(conn: Conn) -> RunInfo:
            cur = await conn.execute("SELECT data FROM runs WHERE id = %s", (clean_text(run_id),))
            row = await cur.fetchone()
            if row is None:
                raise RunNotFound(run_id)
            return self._run(row[0])

        return await self._read(select)

    async def list_runs(self, *, parent_id: str | None = None, limit: int = 100) -> list[RunInfo]:
        async def select(conn: Conn) -> list[RunInfo]:
            order = "ORDER BY created_at DESC, n DESC LIMIT %s"
            if parent_id is None:
                cur = await conn.execute(f"SELECT data FROM runs WHERE parent_id IS NULL {order}", (limit,))
            else:
                cur = await conn.execute(
                    f"SELECT data FROM runs WHERE parent_id = %s {order}", (clean_text(parent_id), limit)
                )
            return [self._run(data) for (data,) in await cur.fetchall()]

        return await self._read(select)

    async def update_run(self, run_id: str, **fields: Any) -> None:
        run_id = clean_text(run_id)
        patch = run_patch(run_id, fields)

        async def update(conn: Conn) -> None:
            async with conn.transaction():
                cur = await conn.execute("SELECT data FROM runs WHERE id = %s FOR UPDATE", (run_id,))
                row = await cur.fetchone()
                if row is None:
                    raise RunNotFound(run_id)
                merged = {**self._run_data(row[0]), **patch}
                await conn.execute(
                    "UPDATE runs SET parent_id = %s, created_at = %s, data = %s WHERE id = %s",
                    (merged["parent_id"], merged["created_at"], to_json(merged), run_id),
                )
                if "tags" in patch:
                    await search.set_tags(conn, run_id, patch["tags"])

        await self._write(update)

    async def find_run(self, prefix: str) -> RunInfo:
        """By id or unique id prefix, children included (ids sort next to their prefix)."""
        prefix = clean_text(prefix)

        async def select(conn: Conn) -> RunInfo:
            cur = await conn.execute("SELECT data FROM runs WHERE id >= %s ORDER BY id LIMIT 2", (prefix,))
            runs = [self._run(data) for (data,) in await cur.fetchall()]
            if runs and runs[0].id == prefix:
                return runs[0]
            matches = [r for r in runs if r.id.startswith(prefix)]
            if len(matches) == 1 and prefix:
                return matches[0]
            raise RunNotFound(prefix)

        return await self._read(select)

    def _run_data(self, data: str) -> dict[str, Any]:
        try:
            loaded = orjson.loads(data)
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
            return loaded
        except ValueError as exc:
            raise self._damaged("the row of a run", exc) from exc

    def _run(self, data: str) -> RunInfo:
        fields = self._run_data(data)
        try:
            return RunInfo.model_validate({k: v for k, v in fields.items() if k in RUN_FIELDS})
        except ValueError as exc:
            raise self._damaged(f"the row of run {fields.get('id')!r}", exc) from exc

    def _damaged(self, what: str, exc: Exception) -> StoreCorrupt:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return StoreCorrupt(
            f"the PostgreSQL store is damaged, {self.target.where}: {what} cannot be read ({first})",
            location=self.location,
        )

    # -- events --------------------------------------------------------------------------

    async def append(self, run_id: str, event: TraceEvent) -> int:
        (seq,) = await self.append_many(run_id, [event])
        return seq

    async def append_many(self, run_id: str, events: Sequence[TraceEvent]) -> list[int]:
        """Append several events in one transaction (one commit, consecutive seqs)."""
        run_id = clean_text(run_id)
        encoded = [encode_event(e, self._inline_limit) for e in events]
        prepared = search.prepare(events)
        blobs = sorted({k: v for enc in encoded for k, v in enc.blobs.items()}.items())

        async def insert(conn: Conn) -> list[int]:
            async with conn.transaction():
                if not encoded:
                    await self._require_run(conn, run_id)
                    return []
                await insert_blobs(conn, blobs)  # before the run's row lock: it is held shorter
                cur = await conn.execute(
                    "UPDATE runs SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq", (len(encoded), run_id)
                )
                row = await cur.fetchone()
                if row is None:
                    raise RunNotFound(run_id)
                first = int(row[0]) - len(encoded) + 1
                seqs = list(range(first, first + len(encoded)))
                async with conn.cursor() as c:
                    await c.executemany(
                        "INSERT INTO events (run_id, seq, type, ts, data, refs) VALUES (%s, %s, %s, %s, %s, %s)",
                        [(run_id, s, e.type, e.ts, e.data, e.refs) for s, e in zip(seqs, encoded, strict=True)],
                    )
                await search.index_events(conn, run_id, first, prepared)
            return seqs

        return await self._write(insert)

    async def events(self, run_id: str, *, after: int = 0) -> list[StoredEvent]:
        run_id = clean_text(run_id)

        async def select(conn: Conn) -> list[StoredEvent]:
            cur = await conn.execute(
                "SELECT seq, data, refs FROM events WHERE run_id = %s AND seq > %s ORDER BY seq", (run_id, after)
            )
            rows: list[tuple[int, str, str | None]] = await cur.fetchall()
            if not rows:
                await self._require_run(conn, run_id)
                return []
            blobs = await select_blobs(conn, {k for _s, _d, refs in rows for k in ref_keys(refs)})
            out: list[StoredEvent] = []
            for seq, data, refs in rows:
                try:
                    out.append(StoredEvent(run_id=run_id, seq=seq, event=decode_event(data, refs, blobs)))
                except (ValueError, MissingBlob) as exc:
                    raise self._damaged(f"event {seq} of run {run_id}", exc) from exc
            return out

        return await self._read(select)

    async def _require_run(self, conn: Conn, run_id: str) -> None:
        cur = await conn.execute("SELECT 1 FROM runs WHERE id = %s", (run_id,))
        if await cur.fetchone() is None:
            raise RunNotFound(run_id)

    # -- blobs ---------------------------------------------------------------------------

    async def put_blob(self, data: bytes) -> str:
        data = kept_bytes(data)
        key = hashlib.sha256(data).hexdigest()

        async def insert(conn: Conn) -> str:
            await insert_blobs(conn, [(key, data)])
            return key

        return await self._write(insert)

    async def get_blob(self, key: str) -> bytes | None:
        async def select(conn: Conn) -> bytes | None:
            return (await select_blobs(conn, {key})).get(key)

        return await self._read(select)

    # -- sources -------------------------------------------------------------------------

    async def add_source(self, run_id: str, source: Source) -> None:
        run_id = clean_text(run_id)
        fields = scrub(source.model_dump(mode="json"))

        async def upsert(conn: Conn) -> None:
            try:
                async with conn.transaction():
                    cur = await conn.execute(
                        "SELECT data FROM sources WHERE run_id = %s AND id = %s FOR UPDATE", (run_id, fields["id"])
                    )
                    before = await cur.fetchone()
                    await conn.execute(
                        "INSERT INTO sources (run_id, id, data) VALUES (%s, %s, %s) "
                        "ON CONFLICT (run_id, id) DO UPDATE SET data = excluded.data",
                        (run_id, fields["id"], to_json(fields)),
                    )
                    await search.index_source(
                        conn, run_id, Source.model_validate(fields), None if before is None else before[0]
                    )
            except psycopg.errors.ForeignKeyViolation:
                raise RunNotFound(run_id) from None

        await self._write(upsert)

    async def list_sources(self, run_id: str) -> list[Source]:
        async def select(conn: Conn) -> list[Source]:
            cur = await conn.execute("SELECT data FROM sources WHERE run_id = %s ORDER BY n", (clean_text(run_id),))
            return [self._source(data) for (data,) in await cur.fetchall()]

        return await self._read(select)

    async def get_source(self, run_id: str, source_id: str) -> Source | None:
        async def select(conn: Conn) -> Source | None:
            cur = await conn.execute(
                "SELECT data FROM sources WHERE run_id = %s AND id = %s", (clean_text(run_id), clean_text(source_id))
            )
            row = await cur.fetchone()
            return None if row is None else self._source(row[0])

        return await self._read(select)

    def _source(self, data: str) -> Source:
        try:
            return Source.model_validate_json(data)
        except ValueError as exc:
            raise self._damaged("a source", exc) from exc

    # -- full-text search and tags ------------------------------------------------------

    async def search_text(self, run_ids: Sequence[str], query: str, *, k: int = 5) -> list[TextHit]:
        """From the index (``_pg_search``); a store of an older agentkit opened read-only is scanned."""
        parsed, wanted = parse_query(query), list(dict.fromkeys(clean_text(r) for r in run_ids))
        if parsed.empty or k <= 0 or not wanted:
            return []
        await self._ready()
        if self._version < 2:
            return await super().search_text(wanted, query, k=k)

        async def select(conn: Conn) -> list[TextHit]:
            return await search.search(conn, wanted, parsed, min(k, MAX_K))

        return await self._read(select)

    async def tagged_runs(self, tag: str, *, limit: int = 1000) -> list[RunInfo]:
        await self._ready()
        if self._version < 2:
            return []  # a store of an older agentkit opened read-only: no run has tags

        async def select(conn: Conn) -> list[RunInfo]:
            return [self._run(data) for data in await search.tagged(conn, clean_text(tag), limit)]

        return await self._read(select)

    # -- keyed cache ---------------------------------------------------------------------

    async def get_cached(self, namespace: str, key: str) -> bytes | None:
        ident = cache_id(namespace, key)[0]

        async def select(conn: Conn) -> bytes | None:
            row = await (await conn.execute("SELECT value FROM cache WHERE id = %s", (ident,))).fetchone()
            return None if row is None else bytes(row[0])

        return await self._read(select)

    async def put_cached(self, namespace: str, key: str, value: bytes) -> None:
        ident, ns, k = cache_id(namespace, key)
        row = (ident, ns, k, kept_bytes(value), time.time())

        async def upsert(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO cache (id, namespace, key, value, updated_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                row,
            )

        await self._write(upsert)


# -- helpers ----------------------------------------------------------------------------------


async def _nothing(conn: Conn) -> None:
    return None


async def _probe_write(conn: Conn) -> None:
    """Fails as a real write would on a read-only server or without privileges; changes nothing."""
    async with conn.transaction(force_rollback=True):
        await conn.execute("UPDATE meta SET value = value WHERE key = 'application'")


__all__ = ["PostgresStore"]
