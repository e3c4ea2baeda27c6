"""The SQLite store under hostile conditions: strings that are not valid Unicode, a full
disk, a damaged file, a file of another application, a missing file opened read-only.
Each is one typed error (StoreFull, StoreCorrupt, StoreUnavailable, StoreMissing) with a
one-line message, and never a change to a file that is not an agentkit store."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from agentkit.llm.types import AssistantTurn
from agentkit.store import (
    AssistantMessage,
    NoteAdded,
    RunNotFound,
    SQLiteStore,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreMissing,
    StoreUnavailable,
    ToolResultEvent,
)
from agentkit.store._sqlite_schema import SCHEMA_VERSION, SchemaTooNew
from agentkit.testing.conformance import make_run

pytestmark = pytest.mark.anyio


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


class CappedStore(SQLiteStore):
    """A store whose file cannot grow past ``pages`` pages: SQLite answers SQLITE_FULL
    exactly as on a full disk (``PRAGMA max_page_count`` is per connection)."""

    pages = 0

    def _connect(self, *, write: bool) -> sqlite3.Connection:
        conn = super()._connect(write=write)
        if write and self.pages:
            conn.execute(f"PRAGMA max_page_count = {self.pages}")
        return conn


async def test_full_store_raises_store_full_and_keeps_every_committed_event(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = CappedStore(db)
    await store.create_run(make_run("r"))
    await store.append("r", NoteAdded(text="before"))
    assert store._writer is not None
    used = int(store._writer.execute("PRAGMA page_count").fetchone()[0])
    store._writer.execute(f"PRAGMA max_page_count = {used + 2}")
    with pytest.raises(StoreFull) as info:
        for i in range(100):
            await store.append("r", ToolResultEvent(step=i, call_id=f"c{i}", name="fetch", text=f"{i}" * 20_000))
    assert str(info.value).startswith(f"the store at {db} is full") and "\n" not in str(info.value)
    saved = await store.events("r")  # reads still work on a full store
    await store.aclose()
    again = SQLiteStore(db)  # space freed: the run goes on where it stopped
    assert [e.seq for e in await again.events("r")] == [e.seq for e in saved]
    assert await again.append("r", NoteAdded(text="after")) == len(saved) + 1
    await again.aclose()


async def test_a_text_file_is_not_a_store_and_is_left_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# My project\n\nNot a database.\n" * 50)
    before, names = digest(readme), siblings(readme)
    for readonly in (False, True):
        with pytest.raises(StoreCorrupt, match=r"is not an agentkit store \(not a SQLite database\)"):
            await SQLiteStore(readme, readonly=readonly).list_runs()
    assert digest(readme) == before and siblings(readme) == names  # no -wal, -shm or -leases


async def test_a_database_of_another_application_is_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "places.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org')")
    conn.close()
    before, names = digest(other), siblings(other)
    for readonly in (False, True):
        store = SQLiteStore(other, readonly=readonly)
        with pytest.raises(StoreCorrupt, match=r"a SQLite database of another application \(tables: moz_places\)"):
            await store.create_run(make_run("r")) if not readonly else await store.list_runs()
        await store.aclose()
    assert digest(other) == before and siblings(other) == names
    with sqlite3.connect(other) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreCorrupt, match="another application"):  # not "upgrade agentkit"
        await SQLiteStore(other).open()


async def test_a_store_from_a_newer_agentkit_is_unavailable_not_corrupt(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with SQLiteStore(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew) as info:
        await SQLiteStore(db, readonly=True).list_runs()
    assert isinstance(info.value, StoreUnavailable) and "Upgrade agentkit" in str(info.value)


async def test_a_damaged_store_raises_store_corrupt(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("r"))
        for i in range(40):
            await store.append("r", NoteAdded(text=f"note {i} " * 200))
    data = bytearray(db.read_bytes())
    page = 4096
    data[page : len(data) - page] = b"\xa5" * (len(data) - 2 * page)  # keep the header page, wreck the rest
    db.write_bytes(bytes(data))
    for readonly in (False, True):
        store = SQLiteStore(db, readonly=readonly)
        with pytest.raises(StoreCorrupt) as info:
            await store.events("r")
        await store.aclose()
        assert str(info.value).startswith(f"the store at {db} is damaged") and "\n" not in str(info.value)


async def test_an_unreadable_event_row_is_store_corrupt(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("r"))
        await store.append("r", NoteAdded(text="fine"))
    with sqlite3.connect(db) as conn:
        conn.execute('UPDATE events SET data = \'{"type": "from_the_future"}\'')
    conn.close()
    async with SQLiteStore(db, readonly=True) as store:
        with pytest.raises(StoreCorrupt, match=r"event 1 of run r cannot be read"):
            await store.events("r")


async def test_read_only_open_never_creates_anything(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "agentkit.db"
    store = SQLiteStore(missing, readonly=True)
    with pytest.raises(StoreMissing, match=rf"^no store at {missing}$"):
        await store.list_runs()
    with pytest.raises(StoreMissing):
        await store.is_leased("r")
    await store.aclose()
    assert not (tmp_path / "typo").exists()
    db = tmp_path / "s.db"
    async with SQLiteStore(db) as writer:
        await writer.create_run(make_run("r"))
    names = siblings(db)
    async with SQLiteStore(db, readonly=True) as reader:
        assert [r.id for r in await reader.list_runs()] == ["r"]
        assert await reader.is_leased("r") is False
        with pytest.raises(StoreUnavailable, match="opened read-only"):
            await reader.append("r", NoteAdded(text="x"))
    # no lease directory either; a WAL reader's -wal/-shm are SQLite's, the next writer removes them
    assert {n for n in siblings(db) if not n.endswith(("-wal", "-shm"))} == set(names)


async def test_store_errors_are_one_family(tmp_path: Path) -> None:
    for cls in (StoreFull, StoreCorrupt, StoreUnavailable, StoreMissing):
        assert issubclass(cls, StoreError)
    assert issubclass(StoreMissing, StoreUnavailable)
    directory = tmp_path / "a-directory.db"
    directory.mkdir()
    with pytest.raises(StoreUnavailable, match="cannot open"):
        await SQLiteStore(directory).open()


async def test_lone_surrogates_in_run_rows_and_lookups(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "s.db") as store:
        await store.create_run(make_run("r", task="task \ud800"))
        await store.update_run("r", answer="answer \udfff", stop_reason="why \ud800")
        run = await store.get_run("r")
        assert (run.task, run.answer, run.stop_reason) == ("task \ufffd", "answer \ufffd", "why \ufffd")
        with pytest.raises(RunNotFound):  # a command-line id with undecodable bytes
            await store.find_run("r\udcff")
        turn = AssistantTurn(content="c\ud800" * 5000, reasoning="r")
        await store.append("r", AssistantMessage(step=1, turn=turn))  # large: goes to the blob table
        (stored,) = await store.events("r")
        assert isinstance(stored.event, AssistantMessage)
        assert stored.event.turn.content == "c\ufffd" * 5000


async def test_a_provider_answer_with_a_lone_surrogate_is_stored(tmp_path: Path) -> None:
    """Valid JSON from a provider ("\\ud800") decodes to a str the UTF-8 codecs refuse: the
    run still finishes, and the trace holds U+FFFD in its place."""
    from agentkit import Agent
    from agentkit.testing import ScriptedModel, Turn

    async with SQLiteStore(tmp_path / "s.db") as store:
        model = ScriptedModel([Turn(content="the answer \ud800", reasoning="r \udfff")])
        result = await Agent(llm=model, tools=[], store=store, plan=False).run("a question")
        assert result.status == "finished"
        run = await store.get_run(result.run_id)
        assert run.answer == "the answer \ufffd"
        turns = [e.event for e in await store.events(result.run_id) if isinstance(e.event, AssistantMessage)]
        assert turns[-1].turn.reasoning == "r \ufffd"
