"""PostgreSQL specifics on a real throwaway cluster: the schema and who may create it, typed
errors that never show the password, several OS processes appending to one run, leases
held by another process and freed by its death, blobs stored once, NUL characters."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import anyio.lowlevel
import psycopg
import pytest

import agentkit
from agentkit.store import (
    NoteAdded,
    RunBusy,
    Source,
    StoreCorrupt,
    StoreFull,
    StoreMissing,
    StoreUnavailable,
    ToolResultEvent,
    open_store,
)
from agentkit.store._location import display_location
from agentkit.store._pg_schema import SCHEMA_VERSION, SchemaTooNew
from agentkit.store.postgres import PostgresStore
from agentkit.store.sqlite import StoreClosed
from agentkit.testing.conformance import make_run
from agentkit.testing.postgres_server import PostgresServer

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).with_name("_pg_worker.py")
REPO = Path(agentkit.__file__).resolve().parents[1]
SECRET = "pa55-w0rd-never-shown"


def raw(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


def scalar(url: str, query: str, *params: object) -> object:
    with raw(url) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return None if row is None else row[0]


def schemas(url: str) -> set[str]:
    with raw(url) as conn:
        return {str(n) for (n,) in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


# -- the schema ---------------------------------------------------------------------------------


async def test_schema_created_on_first_open_in_its_own_schema(postgres_url: str) -> None:
    assert "agentkit" not in schemas(postgres_url)
    store = PostgresStore(postgres_url)
    assert "agentkit" not in schemas(postgres_url)  # lazy: nothing before the first use
    async with store:
        await store.create_run(make_run("r"))
    assert scalar(postgres_url, "SELECT value FROM agentkit.meta WHERE key = 'schema_version'") == str(SCHEMA_VERSION)
    async with PostgresStore(postgres_url) as again:  # reopening changes nothing
        assert [r.id for r in await again.list_runs()] == ["r"]
    async with PostgresStore(f"{postgres_url}?schema=other") as other:  # a second store in the same database
        assert await other.list_runs() == []
    assert {"agentkit", "other"} <= schemas(postgres_url)


async def test_stores_racing_to_create_the_schema_all_open(postgres_url: str) -> None:
    for round_no in range(10):
        stores = [PostgresStore(f"{postgres_url}?schema=race{round_no}") for _ in range(6)]
        try:
            async with anyio.create_task_group() as tg:
                for store in stores:
                    tg.start_soon(store.open)
            await stores[0].create_run(make_run("r"))
            assert [r.id for r in await stores[-1].list_runs()] == ["r"]
        finally:
            for store in stores:
                await store.aclose()


async def test_readonly_on_an_empty_database_says_there_is_no_store_and_creates_nothing(postgres_url: str) -> None:
    reader = open_store(postgres_url, readonly=True)
    assert isinstance(reader, PostgresStore)
    for attempt in (reader.list_runs(), reader.is_leased("r"), reader.get_cached("n", "k"), reader.open()):
        with pytest.raises(StoreMissing, match="no store at") as info:
            await attempt
        assert "holds no agentkit store" in str(info.value) and SECRET not in str(info.value)
    await reader.aclose()
    assert "agentkit" not in schemas(postgres_url)


async def test_a_reader_reads_and_refuses_every_write(postgres_url: str) -> None:
    async with PostgresStore(postgres_url) as writer:
        await writer.create_run(make_run("r"))
        await writer.put_cached("n", "k", b"v")
    async with PostgresStore(postgres_url, readonly=True) as reader:
        assert (await reader.get_run("r")).id == "r"
        assert await reader.get_cached("n", "k") == b"v"
        assert await reader.is_leased("r") is False
        for write in (reader.create_run(make_run("s")), reader.append("r", NoteAdded(text="x"))):
            with pytest.raises(StoreUnavailable, match="read-only"):
                await write
        with pytest.raises(StoreUnavailable, match="read-only"):
            async with reader.lease("r"):
                pass


async def test_a_schema_of_another_application_is_refused_and_left_alone(postgres_url: str) -> None:
    with raw(postgres_url) as conn:
        conn.execute("CREATE SCHEMA agentkit")
        conn.execute("CREATE TABLE agentkit.runs (x INTEGER)")
        conn.execute("INSERT INTO agentkit.runs VALUES (7)")
    for readonly in (False, True):
        with pytest.raises(StoreCorrupt, match=r"not an agentkit store.*runs.*schema=NAME"):
            async with PostgresStore(postgres_url, readonly=readonly) as store:
                await store.list_runs()
    assert scalar(postgres_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'agentkit'") == 1
    assert scalar(postgres_url, "SELECT x FROM agentkit.runs") == 7


async def test_refuses_a_store_from_a_newer_schema(postgres_url: str) -> None:
    async with PostgresStore(postgres_url):
        pass
    with raw(postgres_url) as conn:
        conn.execute("UPDATE agentkit.meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(SchemaTooNew, match="Upgrade agentkit"):
        await PostgresStore(postgres_url).open()


# -- errors never show the password -------------------------------------------------------------


async def test_unreachable_server_names_host_port_and_database_but_never_the_password() -> None:
    port = closed_port()
    url = f"postgresql://alice:{SECRET}@127.0.0.1:{port}/research"
    for readonly in (False, True):
        store = open_store(url, readonly=readonly)
        with pytest.raises(StoreUnavailable) as info:
            await store.list_runs()
        message = str(info.value)
        assert f"database 'research' at 127.0.0.1:{port} (user alice" in message
        assert "Connection refused" in message
        assert SECRET not in message and SECRET not in info.value.location and SECRET not in repr(store)
        assert info.value.__cause__ is None  # psycopg's text is not chained into a traceback either
        await store.aclose()


async def test_a_refused_login_never_shows_the_password(postgres_server: PostgresServer) -> None:
    url = postgres_server.url(password=SECRET)
    with pytest.raises(StoreUnavailable, match=r"cannot log in.*password authentication failed") as info:
        await PostgresStore(url).open()
    assert SECRET not in str(info.value) and postgres_server.password not in str(info.value)


async def test_a_missing_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.url("no_such_db")
    with pytest.raises(StoreUnavailable, match=r"does not exist.*createdb no_such_db"):
        await PostgresStore(url).open()
    with pytest.raises(StoreMissing, match="no store at"):
        await PostgresStore(url, readonly=True).list_runs()


def test_a_malformed_url_is_a_value_error_without_the_password() -> None:
    for url in (f"postgresql://bob:{SECRET}%zz@db.example/x", f"postgres://bob:{SECRET}@db.example/x?nonsense=1"):
        with pytest.raises(ValueError) as info:
            open_store(url)
        assert "not a valid PostgreSQL URL" in str(info.value) and SECRET not in str(info.value)
    with pytest.raises(ValueError, match="schema name"):
        PostgresStore("postgresql://db.example/x?schema=drop;table")


def test_display_location_hides_the_password() -> None:
    url = f"postgresql://bob:{SECRET}@db.example:5433/x?schema=s"
    assert display_location(url) == "postgresql://bob:***@db.example:5433/x?schema=s"
    assert display_location("postgresql://db.example/x") == "postgresql://db.example/x"
    assert display_location("/tmp/a:b@c.db") == "/tmp/a:b@c.db"
    assert PostgresStore(url).location == "postgresql://bob:***@db.example:5433/x (schema s)"


def test_without_psycopg_the_url_says_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import agentkit.store\n"
        "from agentkit.store import open_store\n"
        "try:\n    open_store('postgresql://db.example/x')\n"
        "except ValueError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert 'pip install "agentkit[postgres]"' in out.stdout, out.stderr


def test_importing_the_store_package_does_not_import_psycopg() -> None:
    code = "import sys, agentkit.store, agentkit.cli; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False", out.stderr


# -- hostile conditions --------------------------------------------------------------------------

FULL_DISK_TRIGGER = """
CREATE FUNCTION agentkit.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device' USING ERRCODE = 'disk_full'; END $$;
CREATE TRIGGER full_disk BEFORE INSERT ON agentkit.events FOR EACH ROW EXECUTE FUNCTION agentkit.disk_full();
"""


async def test_a_full_disk_is_store_full_and_keeps_what_was_committed(postgres_url: str) -> None:
    async with PostgresStore(postgres_url) as store:
        await store.create_run(make_run("r"))
        assert await store.append_many("r", [NoteAdded(text="one"), NoteAdded(text="two")]) == [1, 2]
        with raw(postgres_url) as conn:
            conn.execute(FULL_DISK_TRIGGER)  # the server answers SQLSTATE 53100, as on a full disk
        with pytest.raises(StoreFull, match=r"full.*No space left on device.*what was committed is kept"):
            await store.append("r", ToolResultEvent(step=1, call_id="c", name="fetch", text="x" * 50_000))
        with raw(postgres_url) as conn:
            conn.execute("DROP TRIGGER full_disk ON agentkit.events")
        assert [e.seq for e in await store.events("r")] == [1, 2]
        assert await store.append("r", NoteAdded(text="three")) == 3  # the failed append gave its seq back


async def test_damaged_rows_are_store_corrupt(postgres_url: str) -> None:
    async with PostgresStore(postgres_url) as store:
        await store.create_run(make_run("r"))
        await store.append("r", NoteAdded(text="fine"))
        await store.append("r", NoteAdded(text="to be damaged"))
        await store.append("r", ToolResultEvent(step=1, call_id="c", name="fetch", text="y" * 20_000))
        with raw(postgres_url) as conn:
            conn.execute("UPDATE agentkit.events SET data = '{\"type\": ' WHERE seq = 2")
        with pytest.raises(StoreCorrupt, match=r"damaged.*event 2 of run r"):
            await store.events("r")
        assert [e.seq for e in await store.events("r", after=2)] == [3]
        with raw(postgres_url) as conn:
            conn.execute("DELETE FROM agentkit.blobs")
        with pytest.raises(StoreCorrupt, match=r"event 3 of run r.*missing blob"):
            await store.events("r", after=2)
        with raw(postgres_url) as conn:
            conn.execute("UPDATE agentkit.runs SET data = 'not json'")
        with pytest.raises(StoreCorrupt, match="the row of a run"):
            await store.get_run("r")


async def test_a_nul_in_an_id_is_a_value_error(postgres_url: str) -> None:
    # NUL inside text round-trips (the conformance suite checks it); ids are TEXT columns
    async with PostgresStore(postgres_url) as store:
        with pytest.raises(ValueError, match="NUL"):
            await store.create_run(make_run("bad\x00id"))
        await store.create_run(make_run("ok"))
        with pytest.raises(ValueError, match="NUL"):
            await store.add_source("ok", Source(id="S\x001", url="https://a.example"))
        assert await store.list_sources("ok") == []


async def test_a_large_result_is_stored_once_across_runs(postgres_url: str) -> None:
    page = "the same page " * 10_000
    async with PostgresStore(postgres_url) as store:
        for run_id in ("a", "b"):
            await store.create_run(make_run(run_id))
            await store.append(run_id, ToolResultEvent(step=1, call_id="c", name="fetch", text=page))
        assert scalar(postgres_url, "SELECT count(*) FROM agentkit.blobs") == 1
        for run_id in ("a", "b"):
            (stored,) = await store.events(run_id)
            assert isinstance(stored.event, ToolResultEvent) and stored.event.text == page


async def test_closed_store_and_another_event_loop_are_refused_clearly(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.create_run(make_run("r"))

    def elsewhere() -> None:
        anyio.run(store.list_runs)

    with pytest.raises(RuntimeError, match="serves the event loop it was opened in"):
        await anyio.to_thread.run_sync(elsewhere)
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreClosed):
        await store.get_run("r")


async def test_cancelled_append_finishes_its_transaction_first(postgres_url: str) -> None:
    async with PostgresStore(postgres_url) as store:
        await store.create_run(make_run("r"))
        other = raw(postgres_url)
        other.autocommit = False
        other.execute("SELECT 1 FROM agentkit.runs WHERE id = 'r' FOR UPDATE")  # another process holds the row
        seqs: list[int] = []
        scope = anyio.CancelScope()

        async def appender() -> None:
            with scope:
                seqs.append(await store.append("r", NoteAdded(text="in flight")))
                await anyio.sleep_forever()  # the cancellation lands at the next checkpoint

        async with anyio.create_task_group() as tg:
            tg.start_soon(appender)
            deadline = time.monotonic() + 30
            waiting = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            while scalar(postgres_url, waiting) == 0:  # the append reached the server and waits for the row
                assert time.monotonic() < deadline, "the append never reached the row lock"
                await anyio.sleep(0.01)
            scope.cancel()
            await anyio.lowlevel.checkpoint()
            assert seqs == []
            other.commit()
        other.close()
        assert scope.cancel_called and seqs == [1]  # finished and reported: no torn or lost commit
        assert [e.seq for e in await store.events("r")] == [1]


async def test_the_leases_of_one_store_share_one_session(postgres_url: str) -> None:
    """A process driving many runs holds one lease connection, not one per run (the
    server's connection limit is ~100)."""
    lease_sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'agentkit lease %%'"
    async with PostgresStore(postgres_url) as store, AsyncExitStack() as held:
        for i in range(20):
            await held.enter_async_context(store.lease(f"run{i}"))
        assert scalar(postgres_url, lease_sessions) == 1
        assert [await store.is_leased(f"run{i}") for i in (0, 19)] == [True, True]
        with pytest.raises(RunBusy, match="another task of this process"):
            async with store.lease("run7"):
                pass
        async with PostgresStore(postgres_url) as other:
            with pytest.raises(RunBusy, match=rf"by process {os.getpid()} on "):
                async with other.lease("run7"):
                    pass
        await held.aclose()
        assert await store.is_leased("run7") is False  # released on exit, not when the session ends
        async with PostgresStore(postgres_url) as other, other.lease("run7"):
            assert await store.is_leased("run7") is True
    assert scalar(postgres_url, lease_sessions) == 0  # aclose ended the session


async def test_a_server_that_goes_away_is_store_unavailable_and_its_return_is_used() -> None:
    with PostgresServer(settings={"fsync": "off"}) as server:  # commits reach the WAL: a crash keeps them
        url = server.create_database()
        async with PostgresStore(url) as store:
            await store.create_run(make_run("r"))
            await store.append("r", NoteAdded(text="before"))
            server.stop_server("immediate")  # as a crash of the server
            with pytest.raises(StoreUnavailable, match=f"PostgreSQL store, database '.*' at 127.0.0.1:{server.port}"):
                await store.append("r", NoteAdded(text="lost"))
            server.start_server()
            assert await store.append("r", NoteAdded(text="after")) == 2  # the failed append took no seq
            assert [getattr(e.event, "text", "") for e in await store.events("r")] == ["before", "after"]


# -- several OS processes ---------------------------------------------------------------------------


def spawn(*args: object) -> subprocess.Popen[bytes]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    command = [sys.executable, str(WORKER), *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def first_line(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line, proc.communicate()[1].decode()
    return line.strip()


def release(procs: list[subprocess.Popen[bytes]], go: Path) -> None:
    """Wait until every worker has imported everything, then let them all start."""
    for p in procs:
        assert first_line(p) == "ready"
    go.touch()


def finish(procs: list[subprocess.Popen[bytes]]) -> list[str]:
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        outputs.append(out.decode())
    return outputs


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


async def test_two_processes_create_the_store_and_append_to_their_runs(
    postgres_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    go, n = tmp_path / "go", 60
    # both open a database without the store: creating the schema races too
    processes += [spawn("append", postgres_url, run_id, n, run_id, "--create", "--go", go, "--big") for run_id in "AB"]
    release(processes, go)
    finish(processes)
    async with PostgresStore(postgres_url) as store:
        for run_id in "AB":
            log = await store.events(run_id)
            assert [s.seq for s in log] == list(range(1, n + 1))
            assert [getattr(s.event, "text", "").split("|")[0] for s in log] == [f"{run_id}:{i}" for i in range(n)]


async def test_two_processes_append_to_one_run_without_gaps(
    postgres_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    go, n = tmp_path / "go", 150
    async with PostgresStore(postgres_url) as store:
        await store.create_run(make_run("shared"))
    processes += [spawn("append", postgres_url, "shared", n, tag, "--go", go) for tag in "pq"]
    release(processes, go)
    finish(processes)
    async with PostgresStore(postgres_url) as store:
        log = await store.events("shared")
    assert [s.seq for s in log] == list(range(1, 2 * n + 1))
    texts = [s.event.text for s in log if isinstance(s.event, NoteAdded)]
    for tag in "pq":
        assert [t for t in texts if t.startswith(f"{tag}:")] == [f"{tag}:{i}" for i in range(n)]
    interleaved = sum(1 for a, b in itertools.pairwise(texts) if a[0] != b[0])
    assert interleaved > 1, "the two writers never overlapped; the test proved nothing"


async def test_a_lease_held_by_another_process_is_busy_and_dies_with_it(
    postgres_url: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    async with PostgresStore(postgres_url) as store:
        await store.create_run(make_run("r"))
        holder = spawn("hold", postgres_url, "r")
        processes.append(holder)
        assert first_line(holder) == "leased"
        assert await store.is_leased("r") is True
        assert await store.is_leased("other") is False
        with pytest.raises(RunBusy, match=rf"run r is being driven by process {holder.pid} on .* \(since "):
            async with store.lease("r"):
                pass
        (out,) = finish([spawn("try", postgres_url, "r")])  # another process sees it too
        seen, busy = out.splitlines()
        assert seen == "is_leased=True"
        assert busy.startswith(f"busy: run r is being driven by process {holder.pid} on ")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 30
        while await store.is_leased("r"):  # the server ends the session when it sees the socket close
            assert time.monotonic() < deadline, "the killed holder's lease never went away"
            await anyio.sleep(0.01)
        async with store.lease("r"):
            assert await store.is_leased("r") is True
        (out,) = finish([spawn("try", postgres_url, "r")])
        assert out.splitlines() == ["is_leased=False", "got"]
