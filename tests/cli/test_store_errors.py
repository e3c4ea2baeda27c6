"""The CLI against stores it cannot use: a text file, another application's database, a
damaged store, a missing one, a full one and a read-only one. Every command gives one clear
line and exit 2 (a bad store, nothing started) or 1 (the disk filled during a run, which is
saved up to its last committed event), never a traceback, and never changes a file that is
not an agentkit store. Read-only commands never create a store."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from cli_tasks import pages_task
from typer.testing import CliRunner, Result

from agentkit.cli import app
from agentkit.store import NoteAdded, SQLiteStore
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.testing.conformance import make_run

runner = CliRunner()
COMMANDS = [["run", "TASK"], ["runs"], ["show", "r1"], ["report", "r1"], ["resume", "r1"]]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def one_clear_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = result.output
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return " ".join(lines[0].split())


def invoke(args: list[str], task: Path, store: Path) -> Result:
    return runner.invoke(app, [str(task) if a == "TASK" else a for a in args] + ["--store", str(store)])


@pytest.fixture
def task(tmp_path: Path) -> Path:
    path = tmp_path / "task.yaml"  # the store is checked before any model request: nothing listens here
    path.write_text("task: x\nmodel: {provider: vllm, base_url: 'http://127.0.0.1:9/v1'}\ntools: [fetch]\n")
    return path


def text_file(folder: Path) -> Path:
    path = folder / "README.md"
    path.write_text("# A project\n\nThis is documentation, not a database.\n" * 40)
    return path


def foreign_db(folder: Path) -> Path:
    path = folder / "places.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org')")
    conn.close()
    return path


def damaged_store(folder: Path) -> Path:
    path = folder / "damaged.db"

    async def fill() -> None:
        async with SQLiteStore(path) as store:
            await store.create_run(make_run("r1"))
            for i in range(40):
                await store.append("r1", NoteAdded(text=f"note {i} " * 200))

    anyio.run(fill)
    data = bytearray(path.read_bytes())
    data[4096 : len(data) - 4096] = b"\xa5" * (len(data) - 8192)  # the header page survives
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("make", [text_file, foreign_db], ids=["text-file", "other-apps-db"])
@pytest.mark.parametrize("args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_file_that_is_not_a_store_is_refused_and_left_alone(
    make: object, args: list[str], task: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    store = make(folder)  # type: ignore[operator]
    before, names = digest(store), listing(folder)
    result = invoke(args, task, store)
    assert result.exit_code == 2
    line = one_clear_line(result)
    assert f"{store} is not an agentkit store" in line, line
    assert digest(store) == before and listing(folder) == names  # not even a -wal or a lease folder


def test_the_demo_refuses_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    store = text_file(tmp_path)
    before = digest(store)
    result = runner.invoke(app, ["demo", "--store", str(store), "--out", str(tmp_path / "demo")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"error: {store} is not an agentkit store" in " ".join(result.output.split())
    assert digest(store) == before


@pytest.mark.parametrize("args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_damaged_store_is_refused(args: list[str], task: Path, tmp_path: Path) -> None:
    store = damaged_store(tmp_path)
    result = invoke(args, task, store)
    assert result.exit_code == 2
    line = one_clear_line(result)
    assert f"the store at {store} is damaged" in line, line


@pytest.mark.parametrize("args", COMMANDS[1:], ids=[c[0] for c in COMMANDS[1:]])
def test_read_only_commands_never_create_a_store(args: list[str], task: Path, tmp_path: Path) -> None:
    store = tmp_path / "typo" / "agentkit.db"
    result = invoke(args, task, store)
    assert result.exit_code == 2
    assert one_clear_line(result) == f"error: no store at {store}"
    assert not (tmp_path / "typo").exists()


def test_default_store_is_not_created_by_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTKIT_STORE", raising=False)
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 2 and "no store at" in result.output
    assert listing(tmp_path) == []


# -- a full disk --------------------------------------------------------------------------


def pages_responder(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Read every page.")
    done = sum(1 for m in req.messages if m["role"] == "tool")
    if done < 40:
        base = req.body["messages"][1]["content"].split()[-1]
        return Turn(reasoning=f"page {done}" * 300, tool_calls=[call("fetch", url=f"{base}/p{done + 1}")])
    return Turn(content=f"read {done} pages")


def write_task(tmp_path: Path, fake: FakeProvider, pages: str) -> Path:
    return pages_task(
        tmp_path,
        fake,
        pages,
        question="Read the pages at",
        extra="context: {keep_tool_results: 500}\n",
        name="pages.yaml",
    )


@pytest.fixture
def capped_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Stores of this process cannot grow past ``cap[0]`` pages: SQLite then answers
    SQLITE_FULL, the error a full disk gives (``PRAGMA max_page_count`` is per connection,
    so it is set on each writer connection the store opens). ``cap[0] = 0`` lifts it."""
    cap = [0]
    connect = SQLiteStore._connect

    def capped(self: SQLiteStore, *, write: bool) -> sqlite3.Connection:
        conn = connect(self, write=write)
        if write and cap[0]:
            conn.execute(f"PRAGMA max_page_count = {cap[0]}")
        return conn

    monkeypatch.setattr(SQLiteStore, "_connect", capped)
    yield cap


def test_a_full_disk_stops_the_run_saved_and_resumable(tmp_path: Path, pages: str, capped_disk: list[int]) -> None:
    db = tmp_path / "s.db"
    capped_disk[0] = 24  # 96 KB: the run starts, and fills the store after a few steps
    with FakeProvider(pages_responder) as fake:
        task = write_task(tmp_path, fake, pages)
        result = runner.invoke(app, ["run", str(task), "--store", str(db), "--json"])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        data = json.loads(result.stdout)
        run_id = data["run_id"]
        assert data["error"].startswith(f"the store at {db} is full") and data["status"] == "interrupted"
        line = " ".join(result.stderr.split())
        assert "Traceback" not in result.stderr and run_id in line, line
        assert f"agentkit resume {run_id}" in line, line

        async def saved() -> int:
            async with SQLiteStore(db, readonly=True) as store:
                return len(await store.events(run_id))

        kept = anyio.run(saved)
        assert kept >= 4  # the steps before the disk filled
        capped_disk[0] = 0  # space freed
        resumed = runner.invoke(app, ["resume", run_id, "--store", str(db), "--json"])
    assert resumed.exit_code == 0, resumed.output  # nothing was lost: it finishes from where it stopped
    assert json.loads(resumed.stdout)["answer"] == "read 40 pages"


def mount_tmpfs(target: Path, size: str) -> bool:
    """A small real filesystem, when this machine lets us mount one (root with CAP_SYS_ADMIN)."""
    target.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)]).returncode == 0


def test_a_really_full_filesystem(tmp_path: Path, pages: str) -> None:
    disk = tmp_path / "disk"
    if os.geteuid() != 0 or not mount_tmpfs(disk, "160k"):
        pytest.skip(
            "not applicable: mounting a tmpfs needs root with CAP_SYS_ADMIN (the max_page_count test covers CI)"
        )
    try:
        db = disk / "s.db"
        with FakeProvider(pages_responder) as fake:
            task = write_task(tmp_path, fake, pages)
            proc = subprocess.run(
                [sys.executable, "-m", "agentkit", "run", str(task), "--store", str(db), "--json"],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp_path,
            )
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        data = json.loads(proc.stdout)
        assert "is full" in data["error"] and data["run_id"] in proc.stderr
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# -- a read-only store --------------------------------------------------------------------


def _without_dac_override() -> None:
    """Root ignores file permissions; without CAP_DAC_OVERRIDE in its bounding set (dropped
    before exec) the child is bound by them like any user."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 1, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_DAC_OVERRIDE
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        preexec_fn=_without_dac_override if os.geteuid() == 0 else None,
    )


def test_a_read_only_store_can_be_read_but_not_run_into(tmp_path: Path, pages: str) -> None:
    db = tmp_path / "s.db"
    with FakeProvider(pages_responder) as fake:
        task = write_task(tmp_path, fake, pages)
        first = runner.invoke(app, ["run", str(task), "--store", str(db), "--json"])
        assert first.exit_code == 0, first.output
        run_id = json.loads(first.stdout)["run_id"]
        db.chmod(0o444)
        before, asked = digest(db), fake.request_count
        listed = cli("runs", "--store", str(db), "--json", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
        shown = cli("show", run_id, "--store", str(db), cwd=tmp_path)
        assert shown.returncode == 0 and "read 40 pages" in shown.stdout, shown.stderr
        again = cli("run", str(task), "--store", str(db), cwd=tmp_path)
        assert again.returncode == 2, again.stderr
        assert "Traceback" not in again.stderr
        assert re.search(rf"error: the store at {re.escape(str(db))} is read-only", " ".join(again.stderr.split()))
        assert fake.request_count == asked  # the refused run asked the model nothing
    assert digest(db) == before
