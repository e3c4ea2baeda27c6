"""Schema of the PostgreSQL trace store and its migrations.

The store lives in one schema of a database (``agentkit`` unless the URL says
``?schema=name``); its ``meta`` table holds ``application = agentkit`` and the
``schema_version``. ``MIGRATIONS[i]`` takes version ``i`` to ``i + 1``; they run in one
transaction under a transaction-level advisory lock, so two processes opening a new
database at once create it once (the second waits, then finds it done). Never edit a
migration that has shipped: append one.

Text that is matched or ordered (run ids) uses the ``"C"`` collation: a prefix is a range of
ids whatever the database's locale. Everything else a run, an event or a source holds is
JSON text, so it round-trips exactly (a NUL character included, which a ``TEXT`` column and
``jsonb`` refuse).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from psycopg import AsyncConnection, sql

from agentkit.store import _pg_search
from agentkit.store._pg_errors import PgTarget
from agentkit.store._pg_lease import lock_key
from agentkit.store.base import StoreCorrupt, StoreMissing, StoreUnavailable

APPLICATION = "agentkit"

_V1: tuple[str, ...] = (
    "CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE {s}.runs (
        id         TEXT COLLATE "C" PRIMARY KEY,
        parent_id  TEXT COLLATE "C",
        created_at DOUBLE PRECISION NOT NULL,
        n          BIGINT GENERATED ALWAYS AS IDENTITY,
        last_seq   BIGINT NOT NULL DEFAULT 0,
        data       TEXT NOT NULL
    )""",
    "CREATE INDEX runs_by_parent ON {s}.runs (parent_id, created_at, n)",
    """CREATE TABLE {s}.events (
        run_id TEXT COLLATE "C" NOT NULL REFERENCES {s}.runs (id),
        seq    BIGINT NOT NULL,
        type   TEXT NOT NULL,
        ts     DOUBLE PRECISION NOT NULL,
        data   TEXT NOT NULL,
        refs   TEXT,
        PRIMARY KEY (run_id, seq)
    )""",
    "CREATE TABLE {s}.blobs (key TEXT PRIMARY KEY, size BIGINT NOT NULL, data BYTEA NOT NULL)",
    """CREATE TABLE {s}.sources (
        run_id TEXT COLLATE "C" NOT NULL REFERENCES {s}.runs (id),
        id     TEXT NOT NULL,
        n      BIGINT GENERATED ALWAYS AS IDENTITY,
        data   TEXT NOT NULL,
        PRIMARY KEY (run_id, id)
    )""",
    """CREATE TABLE {s}.cache (
        id         BYTEA PRIMARY KEY,
        namespace  BYTEA NOT NULL,
        key        BYTEA NOT NULL,
        value      BYTEA NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
)


async def _v1_to_v2(conn: AsyncConnection[Any], s: sql.Identifier) -> None:
    """The full-text index of runs' traces (``search_text``) and run tags; the events and
    sources already stored are indexed here, once (the connection's search path is the schema)."""
    for statement in _pg_search.DDL:
        await conn.execute(sql.SQL(statement).format(s=s))
    await _pg_search.backfill(conn)


Migration = tuple[str, ...] | Callable[[AsyncConnection[Any], sql.Identifier], Awaitable[None]]
"""Statements (``{s}`` is the schema), or a function of the connection and the schema."""

MIGRATIONS: Sequence[Migration] = (_V1, _v1_to_v2)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(StoreUnavailable):
    """The store was written by a newer agentkit."""


async def check_store(conn: AsyncConnection[Any], target: PgTarget) -> int:
    """The schema version of the store; 0 when the schema is absent or empty. Raises
    :class:`StoreCorrupt` for a schema of another application (it reads only)."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1",
        (target.schema,),
    )
    tables = [str(name) for (name,) in await cur.fetchall()]
    if not tables:
        return 0
    facts: dict[str, str] = {}
    if "meta" in tables:
        query = sql.SQL("SELECT key, value FROM {}.meta").format(sql.Identifier(target.schema))
        facts = {str(k): str(v) for k, v in await (await conn.execute(query)).fetchall()}
    if facts.get("application") != APPLICATION or not facts.get("schema_version", "").isdigit():
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreCorrupt(
            f"schema {target.schema} of {target.where} is not an agentkit store: it holds tables of another "
            f"application ({shown}); name another schema with ?schema=NAME in the URL",
            location=target.display,
        )
    version = int(facts["schema_version"])
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the PostgreSQL store, {target.where}, has schema version {version}; this agentkit reads up to "
            f"{SCHEMA_VERSION}. Upgrade agentkit.",
            location=target.display,
        )
    return version


async def require_store(conn: AsyncConnection[Any], target: PgTarget) -> int:
    """For a reader: the store must exist (nothing is created). Returns its schema version."""
    version = await check_store(conn, target)
    if version == 0:
        raise StoreMissing(
            f"no store at {target.display}: the database holds no agentkit store (schema {target.schema})",
            location=target.display,
        )
    return version


async def migrate(conn: AsyncConnection[Any], target: PgTarget) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION` (``conn`` in autocommit mode)."""
    if await check_store(conn, target) == SCHEMA_VERSION:
        return
    s = sql.Identifier(target.schema)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("migrate", target.schema),))
        version = await check_store(conn, target)  # another process may have migrated meanwhile
        if version == SCHEMA_VERSION:
            return
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
        for step in MIGRATIONS[version:]:
            if callable(step):
                await step(conn, s)
                continue
            for statement in step:
                await conn.execute(sql.SQL(statement).format(s=s))
        await conn.execute(
            sql.SQL(
                "INSERT INTO {}.meta (key, value) VALUES ('application', %s), ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ).format(s),
            (APPLICATION, str(SCHEMA_VERSION)),
        )


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaTooNew", "check_store", "migrate", "require_store"]
