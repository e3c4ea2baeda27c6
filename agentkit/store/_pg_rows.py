"""Rows of the PostgreSQL store: JSON text of runs and sources, ``update_run``'s patch,
cache row ids, and blobs stored once by key."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection

from agentkit._text import clean_text
from agentkit.store._codec import scrub
from agentkit.store.events import RunInfo

Conn = AsyncConnection[Any]
RUN_FIELDS = frozenset(RunInfo.model_fields)


def to_json(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


def run_patch(run_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate ``update_run`` keywords against ``RunInfo``; the JSON fields to set."""
    unknown = sorted(set(fields) - RUN_FIELDS)
    if unknown:
        raise ValueError(f"RunInfo has no field(s) {', '.join(unknown)}")
    if "id" in fields:
        raise ValueError("a run's id cannot be changed")
    fields = {**fields, "updated_at": time.time()}
    checked = RunInfo.model_validate({"id": run_id, "task": "", **fields})
    patch: dict[str, Any] = scrub(checked.model_dump(mode="json", include=set(fields)))
    return patch


def cache_id(namespace: str, key: str) -> tuple[bytes, bytes, bytes]:
    """The row id of a cache entry (any namespace and key, NUL included, fit an index) and
    both as UTF-8."""
    ns, k = clean_text(namespace).encode(), clean_text(key).encode()
    return hashlib.sha256(len(ns).to_bytes(8, "big") + ns + k).digest(), ns, k


async def insert_blobs(conn: Conn, blobs: Sequence[tuple[str, bytes]]) -> None:
    """Store blobs not yet stored (in key order: concurrent writers never deadlock)."""
    if not blobs:
        return
    cur = await conn.execute("SELECT key FROM blobs WHERE key = ANY(%s)", ([k for k, _ in blobs],))
    have = {str(k) for (k,) in await cur.fetchall()}
    missing = [(k, len(v), v) for k, v in sorted(blobs) if k not in have]
    if missing:
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO blobs (key, size, data) VALUES (%s, %s, %s) ON CONFLICT (key) DO NOTHING", missing
            )


async def select_blobs(conn: Conn, keys: set[str]) -> dict[str, bytes]:
    if not keys:
        return {}
    cur = await conn.execute("SELECT key, data FROM blobs WHERE key = ANY(%s)", (sorted(keys),))
    return {str(k): bytes(d) for k, d in await cur.fetchall()}


__all__ = ["RUN_FIELDS", "cache_id", "insert_blobs", "run_patch", "select_blobs", "to_json"]
