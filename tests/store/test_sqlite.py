"""SQLite specifics: pragmas, blob dedup, schema versioning, several OS processes, kill -9."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pydantic
import pytest

import agentkit
import agentkit.store._location as location_mod
import agentkit.store._sqlite_rows as sqlite_rows
import agentkit.store._sqlite_schema as sqlite_schema
import agentkit.store.sqlite as sqlite_mod
from agentkit.store import (
    MemoryStore,
    NoteAdded,
    RunInfo,
    RunNotFound,
    SQLiteStore,
    ToolResultEvent,
    blob_key,
    open_store,
    resolve_store_location,
)
from agentkit.store._location import register_store_scheme
from agentkit.store._sqlite_schema import RUN_COLUMNS, SCHEMA_VERSION, SchemaTooNew
from agentkit.store.sqlite import StoreClosed
from agentkit.testing.conformance import make_run

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).with_name("_append_worker.py")
REPO = Path(agentkit.__file__).resolve().parents[1]


def raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, timeout=30, isolation_level=None)


def count(db: Path, table: str) -> int:
    with raw(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "agentkit.db"


# -- pragmas, schema, lifecycle --------------------------------------------------------------


@pytest.mark.parametrize(("mode", "level"), [("NORMAL", 1), ("FULL", 2)])
async def test_wal_journal_and_synchronous_level(db: Path, mode: sqlite_mod.Synchronous, level: int) -> None:
    async with SQLiteStore(db, synchronous=mode) as store:
        await store.create_run(make_run("r"))
        writer = store._writer
        assert writer is not None
        assert writer.execute("PRAGMA synchronous").fetchone()[0] == level
        assert writer.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    with raw(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_rejects_unknown_synchronous_mode(db: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(db, synchronous="OFF")  # type: ignore[arg-type]


async def test_open_is_lazy_and_creates_parent_dirs(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "store.db"
    store = SQLiteStore(db)
    assert not db.parent.exists()
    await store.open()
    assert db.exists()
    await store.aclose()


async def test_closed_store_refuses_work(db: Path) -> None:
    store = SQLiteStore(db)
    await store.create_run(make_run("r"))
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreClosed):
        await store.get_run("r")
    with pytest.raises(StoreClosed):
        await store.append("r", NoteAdded(text="x"))


async def test_refuses_a_store_from_a_newer_schema(db: Path) -> None:
    async with SQLiteStore(db):
        pass
    with raw(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        await SQLiteStore(db).open()


# -- blobs ------------------------------------------------------------------------------------


async def test_large_tool_result_is_stored_once_across_runs(db: Path) -> None:
    page = "Ein großer Text über Käse. " * 4000  # ~100 KB
    async with SQLiteStore(db) as store:
        for run_id in ("a", "b"):
            await store.create_run(make_run(run_id))
            await store.append(run_id, ToolResultEvent(step=1, call_id="c", name="fetch", text=page))
            await store.append(run_id, NoteAdded(text="small"))
        assert await store.put_blob(page.encode()) == blob_key(page.encode())
        for run_id in ("a", "b"):
            first = (await store.events(run_id))[0].event
            assert isinstance(first, ToolResultEvent) and first.text == page
    assert count(db, "blobs") == 1
    with raw(db) as conn:
        rows = conn.execute("SELECT type, length(data), refs FROM events ORDER BY run_id, seq").fetchall()
    assert [(t, refs is not None) for t, _n, refs in rows] == [
        ("tool_result", True),
        ("note", False),
        ("tool_result", True),
        ("note", False),
    ]
    assert max(n for _t, n, _r in rows) < 1000


async def test_inline_limit_boundary(db: Path) -> None:
    async with SQLiteStore(db, inline_limit=100) as store:
        await store.create_run(make_run("r"))
        await store.append("r", NoteAdded(text="x" * 100))
        assert count(db, "blobs") == 0
        await store.append("r", NoteAdded(text="x" * 101))
        assert count(db, "blobs") == 1
        assert [e.event.text for e in await store.events("r")] == ["x" * 100, "x" * 101]  # type: ignore[union-attr]


# -- runs -------------------------------------------------------------------------------------


async def test_update_run_validates_fields(db: Path) -> None:
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("r"))
        with pytest.raises(ValueError, match="no field"):
            await store.update_run("r", colour="blue")
        with pytest.raises(ValueError, match="id"):
            await store.update_run("r", id="other")
        with pytest.raises(pydantic.ValidationError):
            await store.update_run("r", status="sleeping")
        with pytest.raises(RunNotFound):
            await store.update_run("ghost", steps=1)
        await store.update_run("r", usage={"prompt_tokens": 7}, steps="3")
        run = await store.get_run("r")
        assert (run.usage.prompt_tokens, run.steps, run.status) == (7, 3, "running")


async def test_find_run_reaches_child_runs_by_prefix(db: Path) -> None:
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("parent01"))
        await store.create_run(make_run("child9f3", parent_id="parent01"))
        assert (await store.find_run("child")).id == "child9f3"
        with pytest.raises(RunNotFound):
            await store.find_run("")


async def test_runinfo_fields_without_a_column_live_in_extra(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What happens once RunInfo grows a field the schema has no column for (``label`` here).
    columns = tuple(c for c in RUN_COLUMNS if c != "label")
    select = f"SELECT {', '.join(columns)}, extra FROM runs"
    for module in (sqlite_mod, sqlite_rows):
        monkeypatch.setattr(module, "RUN_COLUMNS", columns)
        monkeypatch.setattr(module, "RUN_SELECT", select)
    monkeypatch.setattr(sqlite_rows, "_EXTRA_FIELDS", frozenset({"label"}))
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("r", label="first"))
        assert (await store.get_run("r")).label == "first"
        await store.update_run("r", label="second", steps=2)
        run = await store.get_run("r")
        assert (run.label, run.steps) == ("second", 2)
        await store.update_run("r", label=None)
        assert (await store.get_run("r")).label is None
    with raw(db) as conn:
        assert conn.execute("SELECT label FROM runs").fetchone()[0] is None


# -- the event loop stays free ----------------------------------------------------------------


async def test_waiting_for_a_foreign_write_lock_does_not_block_the_loop(db: Path) -> None:
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("r"))
        await store.append("r", NoteAdded(text="before"))
        other = raw(db)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        ticks = 0
        seq: list[int] = []

        async def appender() -> None:
            seq.append(await store.append("r", NoteAdded(text="after")))

        async with anyio.create_task_group() as tg:
            tg.start_soon(appender)
            for _ in range(20):
                await anyio.sleep(0.01)
                ticks += 1
            assert seq == []  # still waiting on busy_timeout, in a worker thread
            assert len(await store.events("r")) == 1  # WAL: reads go on meanwhile
            other.execute("COMMIT")
        other.close()
        assert ticks == 20 and seq == [2]


async def test_cancelled_append_finishes_its_transaction_first(db: Path) -> None:
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("r"))
        other = raw(db)
        other.execute("BEGIN IMMEDIATE")

        async def release_later() -> None:
            await anyio.sleep(0.2)
            other.execute("COMMIT")

        seqs: list[int] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(release_later)
            with anyio.move_on_after(0.05) as scope:
                seqs.append(await store.append("r", NoteAdded(text="in flight")))
                await anyio.sleep(1)  # the cancellation lands at the next checkpoint
        other.close()
        assert scope.cancel_called and scope.cancelled_caught
        assert seqs == [1]  # the append finished and reported its seq: no torn or lost commit
        assert [e.seq for e in await store.events("r")] == [1]


def test_stores_racing_to_create_one_file_all_open(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "database is locked" without waiting when two
    connections race (SQLite skips the busy handler there); opening must wait instead of failing.

    Threads hit the window far more often than processes: with no retry, about one round
    in twenty fails here, so eighty rounds of four stores catch a regression nearly always.
    """

    def open_one(path: Path, barrier: threading.Barrier, errors: list[BaseException]) -> None:
        store = SQLiteStore(path)
        barrier.wait()
        try:
            anyio.run(store.open)
        except BaseException as exc:  # collected, re-raised by the assertion below
            errors.append(exc)
        finally:
            store.close()

    for round_no in range(80):
        barrier, errors = threading.Barrier(4), list[BaseException]()
        args = (tmp_path / f"race{round_no}.db", barrier, errors)
        threads = [threading.Thread(target=open_one, args=args) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"round {round_no}: {errors[0]!r}"


async def test_a_store_of_the_first_schema_gains_the_cache(db: Path) -> None:
    """A store written before the cache existed (schema 1): a reader does not migrate it and
    finds nothing cached; the first writer adds the cache and keeps the rows it had."""
    with raw(db) as conn:
        conn.execute("BEGIN IMMEDIATE")
        sqlite_schema.MIGRATIONS[0](conn)
        conn.execute("INSERT INTO runs (id, task, status, created_at, updated_at) VALUES ('r', 't', 'finished', 1, 1)")
        conn.execute("PRAGMA user_version = 1")
        conn.execute("COMMIT")
    conn.close()
    async with SQLiteStore(db, readonly=True) as reader:
        assert await reader.get_cached("search", "q") is None
        assert (await reader.get_run("r")).status == "finished"
    assert count(db, "sqlite_master WHERE name = 'cache'") == 0  # the reader changed nothing
    async with SQLiteStore(db) as writer:
        assert await writer.get_cached("search", "q") is None
        await writer.put_cached("search", "q", b"hits")
    async with SQLiteStore(db, readonly=True) as reader:
        assert await reader.get_cached("search", "q") == b"hits"
        assert (await reader.get_run("r")).task == "t"
    with raw(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()


# -- several OS processes ---------------------------------------------------------------------


def spawn(*args: object) -> subprocess.Popen[bytes]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    command = [sys.executable, str(WORKER), *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def release(procs: list[subprocess.Popen[bytes]], go: Path) -> None:
    """Wait until every worker has imported everything, then let them all start."""
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline() == b"ready\n", p.communicate()[1].decode()
    go.touch()


def finish(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


async def test_two_processes_create_and_append_to_different_runs(
    db: Path, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    go, n = tmp_path / "go", 120
    # both open a file that does not exist yet: schema creation races too
    processes += [spawn(db, run_id, n, run_id, "--create", "--go", go, "--big") for run_id in ("A", "B")]
    release(processes, go)
    finish(processes)
    async with SQLiteStore(db) as store:
        for run_id in ("A", "B"):
            log = await store.events(run_id)
            assert [s.seq for s in log] == list(range(1, n + 1))
            texts = [getattr(s.event, "text", "").split("|")[0] for s in log]
            assert texts == [f"{run_id}:{i}" for i in range(n)]


async def test_two_processes_append_to_the_same_run(
    db: Path, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    go, n = tmp_path / "go", 150
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("shared"))
    processes += [spawn(db, "shared", n, tag, "--go", go, "--pause", 0.001) for tag in ("p", "q")]
    release(processes, go)
    finish(processes)
    async with SQLiteStore(db) as store:
        log = await store.events("shared")
    assert [s.seq for s in log] == list(range(1, 2 * n + 1))
    texts = [s.event.text for s in log if isinstance(s.event, NoteAdded)]
    for tag in ("p", "q"):
        assert [t for t in texts if t.startswith(f"{tag}:")] == [f"{tag}:{i}" for i in range(n)]
    interleaved = sum(1 for a, b in itertools.pairwise(texts) if a[0] != b[0])
    assert interleaved > 1, "the two writers never overlapped; the test proved nothing"


async def test_store_survives_sigkill_of_a_writer_mid_stream(
    db: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    async with SQLiteStore(db) as store:
        await store.create_run(make_run("victim"))
    proc = spawn(db, "victim", 0, "v", "--big")
    processes.append(proc)
    deadline = time.monotonic() + 30
    while count(db, "events") < 60:
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "the writer made no progress"
        await anyio.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with raw(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    async with SQLiteStore(db) as store:
        log = await store.events("victim")  # every row decodes, every blob it names is there
        n = len(log)
        assert n >= 60
        assert [s.seq for s in log] == list(range(1, n + 1))
        for i, stored in enumerate(log):
            event = stored.event
            if i % 2:
                assert isinstance(event, ToolResultEvent) and event.text == f"v:{i}|" + "x" * 20_000
            else:
                assert isinstance(event, NoteAdded) and event.text == f"v:{i}"
        assert await store.append("victim", NoteAdded(text="resumed")) == n + 1


# -- open_store -------------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTKIT_STORE", raising=False)
    return tmp_path


async def test_open_store_defaults_to_dot_agentkit_in_cwd(workdir: Path) -> None:
    assert resolve_store_location() == workdir / ".agentkit" / "agentkit.db"
    store = open_store(None)
    assert isinstance(store, SQLiteStore)
    async with store:
        await store.create_run(make_run("r"))
    assert (workdir / ".agentkit" / "agentkit.db").exists()


async def test_open_store_env_var_then_flag_wins(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_STORE", "from-env.db")
    assert resolve_store_location() == workdir / "from-env.db"
    assert resolve_store_location("") == workdir / "from-env.db"
    assert resolve_store_location("flag.db") == workdir / "flag.db"
    assert resolve_store_location(workdir / "sub" / "p.db") == workdir / "sub" / "p.db"
    store = open_store("flag.db")
    assert isinstance(store, SQLiteStore) and store.path == workdir / "flag.db"
    monkeypatch.setenv("AGENTKIT_STORE", ":memory:")
    assert isinstance(open_store(None), MemoryStore)


async def test_open_store_memory_urls_and_user_dir(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store(":memory:"), MemoryStore)
    monkeypatch.setenv("HOME", str(workdir))
    assert resolve_store_location("~/x.db") == workdir / "x.db"
    url_store = open_store(f"sqlite://{workdir}/url.db")
    assert isinstance(url_store, SQLiteStore) and url_store.path == workdir / "url.db"
    with pytest.raises(
        ValueError, match=r"no store backend for mysql:// \(known: postgres://, postgresql://, sqlite://"
    ):
        open_store("mysql://db/agentkit")
    monkeypatch.setattr(location_mod, "_SCHEMES", dict(location_mod._SCHEMES))
    register_store_scheme("demo", lambda location: MemoryStore())
    assert isinstance(open_store("demo://anything"), MemoryStore)


def test_store_is_reusable_across_event_loops(db: Path) -> None:
    store = SQLiteStore(db)

    async def first() -> None:
        await store.create_run(RunInfo(id="r", task="t"))
        await store.append("r", NoteAdded(text="one"))

    async def second() -> int:
        seq = await store.append("r", NoteAdded(text="two"))
        await store.aclose()
        return seq

    anyio.run(first)
    assert anyio.run(second) == 2
