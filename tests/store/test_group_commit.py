"""The SQLite store's group commit: writes queued while a transaction commits go together in
the next one, and each caller still gets its own outcome (agentkit/store/_sqlite_writes.py).

Every test makes the batch the same way, with no clock: another connection holds the write
lock, so the first write waits in the worker thread on ``busy_timeout``; the writes made
meanwhile queue behind it; ``wait_all_tasks_blocked`` says they all have; the lock is released.
The writer connection's statements are counted with SQLite's trace callback."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio import wait_all_tasks_blocked
from anyio.lowlevel import checkpoint

from agentkit.store import NoteAdded, RunNotFound, SQLiteStore, _sqlite_writes
from agentkit.testing.conformance import make_run

pytestmark = pytest.mark.anyio


class Outcomes:
    """What each queued write returned or raised, by name."""

    def __init__(self) -> None:
        self.got: dict[str, Any] = {}

    def start(self, tg: anyio.abc.TaskGroup, name: str, write: Callable[[], Awaitable[Any]]) -> None:
        async def go() -> None:
            try:
                self.got[name] = await write()
            except Exception as exc:  # kept for the assertions
                self.got[name] = exc

        tg.start_soon(go)


@asynccontextmanager
async def held(store: SQLiteStore, db: Path, statements: list[str]) -> AsyncIterator[anyio.abc.TaskGroup]:
    """A task group whose writes queue behind one ("first") stuck on another connection's
    write lock; on leaving, the lock is released and every write finishes."""
    assert store._writer is not None
    store._writer.set_trace_callback(statements.append)
    other = sqlite3.connect(db, timeout=30, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.append, "a", NoteAdded(text="first"))
            await wait_all_tasks_blocked()  # "first" is in the thread, waiting for the lock
            yield tg
            await wait_all_tasks_blocked()  # everything else is queued behind it
            other.execute("COMMIT")
    finally:
        other.close()


async def texts(store: SQLiteStore, run_id: str) -> list[str]:
    return [getattr(e.event, "text", "") for e in await store.events(run_id)]


async def test_writes_queued_behind_a_commit_go_in_one_transaction(tmp_path: Path) -> None:
    db, statements, seqs = tmp_path / "s.db", [], {}
    async with SQLiteStore(db) as store:
        for run in ("a", "b", "c"):
            await store.create_run(make_run(run))
        async with held(store, db, statements) as tg:

            async def append(run: str, k: int) -> None:
                seqs[run, k] = await store.append(run, NoteAdded(text=f"{run}{k}"))

            for k in range(10):
                for run in ("a", "b", "c"):
                    tg.start_soon(append, run, k)
        assert statements.count("COMMIT") == 2  # "first" alone, then the thirty together
        assert statements.count("BEGIN IMMEDIATE") == 2
        assert [seqs["b", k] for k in range(10)] == list(range(1, 11))  # in the order called
        assert [seqs["a", k] for k in range(10)] == list(range(2, 12))
        assert await texts(store, "a") == ["first"] + [f"a{k}" for k in range(10)]
        assert await texts(store, "c") == [f"c{k}" for k in range(10)]


async def test_a_failing_write_in_a_batch_fails_alone(tmp_path: Path) -> None:
    db, statements, out = tmp_path / "s.db", [], Outcomes()
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("a"))
        async with held(store, db, statements) as tg:
            out.start(tg, "before", lambda: store.append("a", NoteAdded(text="before")))
            out.start(tg, "no such run", lambda: store.append("ghost", NoteAdded(text="lost")))
            out.start(tg, "duplicate", lambda: store.create_run(make_run("a")))
            out.start(tg, "new run", lambda: store.create_run(make_run("n")))
            out.start(tg, "into it", lambda: store.append("n", NoteAdded(text="in n")))
            out.start(tg, "after", lambda: store.append("a", NoteAdded(text="after")))
        assert statements.count("COMMIT") == 2
        assert isinstance(out.got["no such run"], RunNotFound)
        assert isinstance(out.got["duplicate"], ValueError) and "exists" in str(out.got["duplicate"])
        assert (out.got["before"], out.got["after"], out.got["into it"]) == (2, 3, 1)
        assert await texts(store, "a") == ["first", "before", "after"]
        assert await texts(store, "n") == ["in n"]
        with pytest.raises(RunNotFound):
            await store.events("ghost")
        statements.clear()
        await store.append("n", NoteAdded(text="known"))  # the batch's new run is known once it committed
        assert not [s for s in statements if s.startswith("SELECT 1 FROM runs")]


async def test_a_batch_that_cannot_commit_fails_every_write_and_believes_nothing(tmp_path: Path) -> None:
    """COMMIT fails (a deferred foreign key, checked only then): nothing of the batch is kept,
    every write in it gets the error, and the run created in it is not taken to exist."""
    db, statements, out = tmp_path / "s.db", [], Outcomes()

    def orphan(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute(
            "INSERT INTO events (run_id, seq, type, ts, data, refs) VALUES ('ghost', 1, 'note', 0, '{}', NULL)"
        )

    async with SQLiteStore(db) as store:
        await store.create_run(make_run("a"))
        async with held(store, db, statements) as tg:
            out.start(tg, "new run", lambda: store.create_run(make_run("x")))
            out.start(tg, "into it", lambda: store.append("x", NoteAdded(text="in x")))
            out.start(tg, "orphan", lambda: store._write(orphan))
        assert statements.count("COMMIT") == 2 and statements.count("ROLLBACK") == 1
        assert {type(e) for e in out.got.values()} == {sqlite3.IntegrityError}
        with pytest.raises(RunNotFound):
            await store.append("x", NoteAdded(text="not believed"))  # not "FOREIGN KEY constraint failed"
        with pytest.raises(RunNotFound):
            await store.get_run("x")
        assert await texts(store, "a") == ["first"]
        await store.create_run(make_run("x"))  # the store goes on
        assert await store.append("x", NoteAdded(text="now")) == 1


async def test_a_write_that_ends_the_transaction_leaves_the_others_committed(tmp_path: Path) -> None:
    """SQLite rolls a whole transaction back on some full-disk and I/O errors: the writes of
    the batch that had succeeded before it are run again, each alone, and so are the rest."""
    db, statements, out = tmp_path / "s.db", [], Outcomes()

    def ends_it(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # what SQLite does by itself after such an error
        raise sqlite3.OperationalError("disk I/O error")

    async with SQLiteStore(db) as store:
        await store.create_run(make_run("a"))
        async with held(store, db, statements) as tg:
            out.start(tg, "one", lambda: store.append("a", NoteAdded(text="one")))
            out.start(tg, "new run", lambda: store.create_run(make_run("n")))
            out.start(tg, "broken", lambda: store._write(ends_it))
            out.start(tg, "two", lambda: store.append("a", NoteAdded(text="two")))
            out.start(tg, "into it", lambda: store.append("n", NoteAdded(text="in n")))
        assert isinstance(out.got["broken"], sqlite3.OperationalError) and "disk I/O error" in str(out.got["broken"])
        assert (out.got["one"], out.got["two"], out.got["into it"]) == (2, 3, 1)
        assert await texts(store, "a") == ["first", "one", "two"]
        assert await texts(store, "n") == ["in n"]
        assert statements.count("COMMIT") == 1 + 4  # "first", then the four good writes alone


async def test_a_write_cancelled_while_queued_is_dropped(tmp_path: Path) -> None:
    db, statements = tmp_path / "s.db", []
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("a"))
        async with held(store, db, statements) as tg:
            scope = anyio.CancelScope()

            async def queued() -> None:
                with scope:
                    await store.append("a", NoteAdded(text="dropped"))

            tg.start_soon(queued)
            await wait_all_tasks_blocked()
            scope.cancel()
        assert scope.cancelled_caught
        assert await store.append("a", NoteAdded(text="next")) == 2  # the next batch does not carry it
        assert await texts(store, "a") == ["first", "next"]


async def test_a_write_taken_into_a_batch_finishes_when_its_caller_is_cancelled(tmp_path: Path) -> None:
    """Batches held in the worker thread by gates: the cancelled write is in the second."""
    gates, entered = [threading.Event(), threading.Event()], [threading.Event(), threading.Event()]

    def gate(k: int) -> Callable[[sqlite3.Connection], None]:
        def wait(conn: sqlite3.Connection) -> None:
            entered[k].set()
            gates[k].wait()

        return wait

    got: list[int] = []
    async with SQLiteStore(tmp_path / "s.db") as store:
        await store.create_run(make_run("a"))
        scope = anyio.CancelScope()

        async def kept() -> None:
            with scope:
                got.append(await store.append("a", NoteAdded(text="kept")))
                await checkpoint()  # the cancellation lands here, after the seq came back

        async with anyio.create_task_group() as tg:
            tg.start_soon(store._write, gate(0))
            await anyio.to_thread.run_sync(entered[0].wait)
            tg.start_soon(kept)
            tg.start_soon(store._write, gate(1))
            await wait_all_tasks_blocked()  # both queued behind the first batch
            gates[0].set()
            await anyio.to_thread.run_sync(entered[1].wait)  # the second batch is in the thread
            scope.cancel()
            await wait_all_tasks_blocked()
            assert got == []  # still waiting for its batch, shielded
            gates[1].set()
        assert scope.cancelled_caught and got == [1]
        assert await texts(store, "a") == ["kept"]


async def test_a_batch_takes_at_most_max_batch_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sqlite_writes, "MAX_BATCH", 4)
    db, statements = tmp_path / "s.db", []
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("a"))
        async with held(store, db, statements) as tg:
            for k in range(10):
                tg.start_soon(store.append, "a", NoteAdded(text=f"{k}"))
        assert statements.count("COMMIT") == 1 + 3  # "first", then 4 + 4 + 2
        assert await texts(store, "a") == ["first"] + [f"{k}" for k in range(10)]
