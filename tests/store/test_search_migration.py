"""Stores made by an earlier agentkit (fixtures written by its code, see
tests/fixtures/stores/README.md) gain the full-text index once, on the first open by a writer;
a reader searches them by a scan and changes nothing."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from agentkit.store import NoteAdded, RunInfo, SQLiteStore, Store

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parents[1] / "fixtures" / "stores"


async def found(store: Store, query: str, runs: tuple[str, ...] = ("old1",)) -> list[tuple[str, str, int | None]]:
    return [(h.run_id, h.kind, h.seq) for h in await store.search_text(list(runs), query)]


async def check_old_runs_are_searchable(store: Store) -> None:
    assert {("old1", "tool_result", 4), ("old1", "answer", 6)} <= set(await found(store, "quetzal cloud forests"))
    assert await found(store, "resplendent") == [("old1", "reasoning", 3)]
    assert await found(store, "toucan") == [("old1", "note", 5)]
    assert await found(store, "axolotl") == [("old1", "source", None)]  # the source's fetched text (a blob)
    assert await found(store, "kinkajou", ("old1.0",)) == [("old1.0", "note", 1)]
    assert await found(store, "kinkajou") == []
    hit = (await store.search_text(["old1"], "padding2999 quetzal"))[0]  # the piece with both words
    assert (hit.kind, hit.step, hit.source_id) == ("tool_result", 1, "S0a1b2c3d")
    assert "padding2999" in hit.snippet and "quetzal" in hit.snippet


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()


def version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


async def test_an_old_sqlite_store_is_indexed_by_its_first_writer(tmp_path: Path) -> None:
    db = tmp_path / "agentkit.db"
    shutil.copy(FIXTURES / "sqlite_v2.db", db)
    before = db.read_bytes()
    async with SQLiteStore(db, readonly=True) as reader:
        await check_old_runs_are_searchable(reader)  # a scan: the reader creates nothing
        assert await reader.tagged_runs("x") == []
    assert db.read_bytes() == before and version(db) == 2 and "recall_fts" not in tables(db)
    async with SQLiteStore(db) as writer:
        await check_old_runs_are_searchable(writer)
        assert version(db) == 3 and {"recall_fts", "recall_docs", "run_tags"} <= tables(db)
        await writer.append("old1", NoteAdded(text="a new toucan note"))
        assert sorted(h.seq or 0 for h in await writer.search_text(["old1"], "toucan")) == [5, 7]
        await writer.create_run(RunInfo(id="new", task="t", tags=["x"]))
        assert [r.id for r in await writer.tagged_runs("x")] == ["new"]
    async with SQLiteStore(db) as again:  # indexed once: opening again adds nothing
        assert sorted(h.seq or 0 for h in await again.search_text(["old1"], "toucan")) == [5, 7]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM recall_docs WHERE kind = 'note' AND run_id = 'old1'").fetchone() == (2,)
    conn.close()


async def test_an_old_postgres_store_is_indexed_by_its_first_writer(postgres_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    from agentkit.store.postgres import PostgresStore

    dump = (FIXTURES / "postgres_v1.sql").read_text()
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute(dump)
        await conn.execute("SET search_path TO public")

        async def schema_version() -> str:
            cur = await conn.execute("SELECT value FROM agentkit.meta WHERE key = 'schema_version'")
            row = await cur.fetchone()
            assert row is not None
            return str(row[0])

        async with PostgresStore(postgres_url, readonly=True) as reader:
            await check_old_runs_are_searchable(reader)
            assert await reader.tagged_runs("x") == []
        assert await schema_version() == "1"
        async with PostgresStore(postgres_url) as writer:
            await check_old_runs_are_searchable(writer)
            assert await schema_version() == "2"
            await writer.append("old1", NoteAdded(text="a new toucan note"))
            assert sorted(h.seq or 0 for h in await writer.search_text(["old1"], "toucan")) == [5, 7]
        async with PostgresStore(postgres_url) as again:
            assert sorted(h.seq or 0 for h in await again.search_text(["old1"], "toucan")) == [5, 7]
