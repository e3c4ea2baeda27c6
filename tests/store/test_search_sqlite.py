"""SQLite specifics of full-text search: a damaged source row can still be replaced, and the
index is written in the append's own transaction (an event and its index rows commit together)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agentkit.store import NoteAdded, RunInfo, Source, SQLiteStore

pytestmark = pytest.mark.anyio


async def test_a_damaged_source_row_is_replaced_and_reindexed(tmp_path: Path) -> None:
    db = tmp_path / "agentkit.db"
    async with SQLiteStore(db) as store:
        await store.create_run(RunInfo(id="r", task="t"))
        old = await store.put_blob(b"the old capybara text")
        await store.add_source("r", Source(id="S1", url="https://c.example/", content_hash=old))
    conn = sqlite3.connect(db)
    conn.execute("UPDATE sources SET data = 'not json' WHERE id = 'S1'")
    conn.commit()
    conn.close()
    async with SQLiteStore(db) as store:
        new = await store.put_blob(b"the new tapir text")
        await store.add_source("r", Source(id="S1", url="https://c.example/", content_hash=new))
        assert [h.source_id for h in await store.search_text(["r"], "tapir")] == ["S1"]
        assert await store.search_text(["r"], "capybara") == []  # its old pieces are gone


async def test_an_event_and_its_index_rows_commit_together(tmp_path: Path) -> None:
    db = tmp_path / "agentkit.db"
    async with SQLiteStore(db) as store:
        await store.create_run(RunInfo(id="r", task="t"))
        await store.append("r", NoteAdded(text="the first okapi"))
    conn = sqlite3.connect(db)  # indexing the next event fails, after the event's own insert
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON recall_docs WHEN NEW.seq = 2 BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    conn.commit()
    conn.close()
    async with SQLiteStore(db) as store:
        with pytest.raises(sqlite3.IntegrityError):
            await store.append_many("r", [NoteAdded(text="a second okapi")])
        assert len(await store.events("r")) == 1  # the event was rolled back with its index rows
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER refuse")
    conn.commit()
    conn.close()
    async with SQLiteStore(db) as store:
        assert await store.append("r", NoteAdded(text="a second okapi")) == 2
        assert sorted(h.seq or 0 for h in await store.search_text(["r"], "okapi")) == [1, 2]
