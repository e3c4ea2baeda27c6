"""Run leases of the PostgreSQL store: session-level advisory locks.

A store object keeps one connection of its own for its leases (however many runs it drives:
a process running hundreds of trajectories holds one session, not hundreds) and takes each
run's lock there with ``pg_try_advisory_lock``, which never waits. A session may take a lock
it already holds, so the runs held through this store are also tracked here: a second task
of this process asking for a run it drives is refused as another process would be.

The server drops a session's locks when the session ends: on release, on ``aclose()``, and
when the process dies (the server sees the socket close; TCP keepalives bound the wait for
a machine that vanished). ``pg_locks`` tells anyone whether a run's lock is held, and
``pg_stat_activity`` names the holder (the lease connection's ``application_name`` carries
its pid and host).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
from psycopg import AsyncConnection

from agentkit.store.base import RunBusy

Conn = AsyncConnection[Any]
LEASE_NAME = re.compile(r"agentkit lease (\d+)@(.*)")


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory lock key for ``parts`` (agentkit's own, by hash)."""
    digest = hashlib.sha256("\0".join(("agentkit", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeaseSession:
    """The advisory locks one store holds, on one connection made by ``connect``;
    ``error`` maps a psycopg error to the store's typed error."""

    def __init__(
        self, schema: str, connect: Callable[[], Awaitable[Conn]], error: Callable[[Exception], BaseException]
    ) -> None:
        self._schema = schema
        self._connect = connect
        self._error = error
        self._conn: Conn | None = None
        self._guard: asyncio.Lock | None = None
        self._held: dict[str, Conn | None] = {}
        """Run id -> the session holding its lock (``None`` while it is being taken)."""

    def key(self, run_id: str) -> int:
        return lock_key("lease", self._schema, run_id)

    @asynccontextmanager
    async def hold(self, run_id: str) -> AsyncIterator[None]:
        if run_id in self._held:
            raise RunBusy(run_id, "another task of this process")
        self._held[run_id] = None  # reserved before any await: a racing task of ours sees it
        try:
            with anyio.CancelScope(shield=True):  # a lock taken is always recorded, so released
                self._held[run_id] = await self._take(run_id)
            yield
        finally:
            session = self._held.pop(run_id)
            if session is not None:
                with anyio.CancelScope(shield=True):
                    await self._release(run_id, session)

    async def _session(self) -> Conn:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await self._connect()
        return self._conn

    def _lock(self) -> asyncio.Lock:
        if self._guard is None:
            self._guard = asyncio.Lock()
        return self._guard

    async def _take(self, run_id: str) -> Conn:
        key = self.key(run_id)
        async with self._lock():
            conn = await self._session()
            try:
                row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
                if row is not None and row[0]:
                    return conn
                holder = await describe_holder(conn, key)
            except psycopg.Error as exc:
                raise self._error(exc) from exc
        raise RunBusy(run_id, holder)

    async def _release(self, run_id: str, session: Conn) -> None:
        """Unlock now, so the run is free when ``async with`` returns. A session that ended
        (the connection broke) took its locks with it: nothing to do."""
        async with self._lock():
            if session is self._conn and not session.closed and not session.broken:
                with contextlib.suppress(psycopg.Error):
                    await session.execute("SELECT pg_advisory_unlock(%s)", (self.key(run_id),))

    async def close(self) -> None:
        """End the session (every lock still held through it goes with it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()


_HOLDER_SQL = (
    "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid::bigint = %s AND l.objid::bigint = %s LIMIT 1"
)


async def holder_pid(conn: Conn, key: int) -> int | None:
    """The server pid of the session holding advisory lock ``key`` in this database."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF  # pg_locks shows a bigint key as two oids
    row = await (await conn.execute(_HOLDER_SQL, (unsigned >> 32, unsigned & 0xFFFF_FFFF))).fetchone()
    return None if row is None else int(row[0])


async def describe_holder(conn: Conn, key: int) -> str:
    """Who holds the lock: ``process P on HOST (since HH:MM:SS)`` for an agentkit lease
    session the server lets us see, else its server pid."""
    pid = await holder_pid(conn, key)
    if pid is None:
        return "another session"
    cur = await conn.execute("SELECT application_name, backend_start FROM pg_stat_activity WHERE pid = %s", (pid,))
    row = await cur.fetchone()
    match = LEASE_NAME.fullmatch(str(row[0] or "")) if row else None
    if row is None or match is None:
        return f"PostgreSQL session {pid}"
    since = f" (since {row[1].astimezone().strftime('%H:%M:%S')})" if row[1] is not None else ""
    return f"process {match.group(1)} on {match.group(2)}{since}"


__all__ = ["LeaseSession", "describe_holder", "holder_pid", "lock_key"]
