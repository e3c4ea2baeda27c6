"""Schema of the SQLite trace store and its migrations (``PRAGMA user_version``).

``MIGRATIONS[i]`` takes a database at version ``i`` to version ``i + 1``; version 0 is an
empty file. To change the schema, append a function: it runs inside the same
``BEGIN IMMEDIATE`` transaction as the version bump, so a crash or a concurrent opener
never sees a half-migrated store. Never edit a migration that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from agentkit.store._sqlite_search import create_tables
from agentkit.store.base import StoreCorrupt, StoreUnavailable

RUN_COLUMNS: tuple[str, ...] = (
    "id",
    "task",
    "status",
    "parent_id",
    "label",
    "created_at",
    "updated_at",
    "answer",
    "stop_reason",
    "steps",
    "usage",
    "cost_usd",
    "config",
)
"""``RunInfo`` fields with a column of their own; any other field lives in ``runs.extra``."""

JSON_RUN_COLUMNS = frozenset({"usage", "config"})


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    for statement in (
        """CREATE TABLE runs (
            id          TEXT PRIMARY KEY,
            task        TEXT NOT NULL,
            status      TEXT NOT NULL,
            parent_id   TEXT,
            label       TEXT,
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL,
            answer      TEXT,
            stop_reason TEXT,
            steps       INTEGER NOT NULL DEFAULT 0,
            usage       TEXT NOT NULL DEFAULT '{}',
            cost_usd    REAL NOT NULL DEFAULT 0,
            config      TEXT NOT NULL DEFAULT '{}',
            extra       TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX runs_by_parent ON runs (parent_id, created_at)",
        "CREATE INDEX runs_by_created ON runs (created_at)",
        """CREATE TABLE events (
            run_id TEXT NOT NULL REFERENCES runs (id),
            seq    INTEGER NOT NULL,
            type   TEXT NOT NULL,
            ts     REAL NOT NULL,
            data   TEXT NOT NULL,
            refs   TEXT,
            UNIQUE (run_id, seq)
        )""",
        """CREATE TABLE blobs (
            key  TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        )""",
        """CREATE TABLE sources (
            run_id       TEXT NOT NULL REFERENCES runs (id),
            id           TEXT NOT NULL,
            url          TEXT NOT NULL,
            content_hash TEXT,
            data         TEXT NOT NULL,
            PRIMARY KEY (run_id, id)
        )""",
    ):
        conn.execute(statement)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """The keyed cache (``get_cached``/``put_cached``)."""
    conn.execute(
        """CREATE TABLE cache (
            namespace  TEXT NOT NULL,
            key        TEXT NOT NULL,
            value      BLOB NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (namespace, key)
        )"""
    )


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """The full-text index of runs' traces (``search_text``) and run tags; the events and
    sources already stored are indexed here, once."""
    create_tables(conn)


MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (_v0_to_v1, _v1_to_v2, _v2_to_v3)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(StoreUnavailable):
    """The store file was written by a newer agentkit."""


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


TABLES = frozenset({"runs", "events", "blobs", "sources"})


def has_cache(conn: sqlite3.Connection) -> bool:
    """Whether the store has the ``cache`` table (one of an older agentkit opened read-only
    is not migrated, so it has none)."""
    return user_version(conn) >= 2


def check_store(conn: sqlite3.Connection, path: str) -> int:
    """The schema version of an agentkit store; raises :class:`StoreCorrupt` for a SQLite
    database of another application (reads only, so a foreign file is never changed).
    Version 0 with no tables is a new, empty file."""
    own = not conn.in_transaction  # one snapshot: another process may be migrating the file
    if own:
        conn.execute("BEGIN")
    try:
        version = user_version(conn)
        tables = {str(name) for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
    ours = tables >= TABLES if version > 0 else not tables
    if not ours:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreCorrupt(
            f"{path} is not an agentkit store: a SQLite database of another application (tables: {shown})",
            location=path,
        )
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path} has store schema version {version}; this agentkit reads up to {SCHEMA_VERSION}. Upgrade agentkit.",
            location=path,
        )
    return version


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION` (connection in autocommit mode)."""
    if check_store(conn, path) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = check_store(conn, path)  # another process may have migrated meanwhile
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
