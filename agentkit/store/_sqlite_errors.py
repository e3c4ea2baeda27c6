"""How the SQLite store names what went wrong: SQLite result codes and OS errors mapped to
the typed store errors of :mod:`agentkit.store.base` (one line each, naming the location)."""

from __future__ import annotations

import errno
import sqlite3

from agentkit.store.base import StoreCorrupt, StoreError, StoreFull, StoreUnavailable


def unreadable(location: str, what: str, exc: Exception) -> StoreCorrupt:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return StoreCorrupt(f"the store at {location} is damaged: {what} cannot be read ({first})", location=location)


def probe_write(conn: sqlite3.Connection) -> None:
    """A write transaction that is rolled back: fails like a real write would on a
    read-only file or a store that cannot grow, and changes nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("CREATE TABLE agentkit_write_probe (x INTEGER)")  # allocates a page
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def store_error(exc: sqlite3.Error, location: str) -> Exception:
    """The typed store error for an SQLite error (or ``exc`` itself, for a programming error)."""
    code = int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF  # the primary result code
    why = str(exc)
    if code == sqlite3.SQLITE_FULL:
        return StoreFull(
            f"the store at {location} is full ({why}): free disk space; what was committed is kept", location=location
        )
    if code == sqlite3.SQLITE_CORRUPT:
        return StoreCorrupt(f"the store at {location} is damaged ({why})", location=location)
    if code == sqlite3.SQLITE_NOTADB:
        return StoreCorrupt(f"{location} is not an agentkit store (not a SQLite database)", location=location)
    if code == sqlite3.SQLITE_READONLY:
        return StoreUnavailable(f"the store at {location} is read-only ({why})", location=location)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreUnavailable(f"the store at {location} is locked by another process ({why})", location=location)
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH, sqlite3.SQLITE_IOERR):
        return StoreUnavailable(f"cannot open the store at {location} ({why})", location=location)
    return exc


def os_error(exc: OSError, location: str) -> StoreError:
    why = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFull(f"the store at {location} is full ({why})", location=location)
    return StoreUnavailable(f"cannot create the store at {location} ({why})", location=location)
