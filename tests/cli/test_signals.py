"""Stopping a real `agentkit run` process from outside: SIGTERM (what `kill`, systemd and
container runtimes send) is handled like Ctrl-C, and SIGKILL leaves a run that readers see
as interrupted. Each test waits for a row in the store before it signals, never for time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
from cli_tasks import pages_task
from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.store import AssistantMessage, SQLiteStore, StoreError
from agentkit.testing import Delay, FakeProvider, FakeRequest, Fault, Turn, call

runner = CliRunner()


class SlowAfterFirstStep:
    """Plan, one fetch, then a model call that hangs (the run is busy when signalled);
    after ``release()`` the next request answers."""

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.hang.set()
        self.hanging = threading.Event()

    def __call__(self, req: FakeRequest) -> Turn | Fault:
        if not req.tools:
            return Turn(content="1. Read the page.")
        if not any(m["role"] == "tool" for m in req.messages):
            base = req.body["messages"][1]["content"].split()[-1]
            return Turn(tool_calls=[call("fetch", url=f"{base}/p1")])
        if self.hang.is_set() and not self.hanging.is_set():
            self.hanging.set()
            return Delay(120)
        return Turn(content="value=3")

    def release(self) -> None:
        self.hang.clear()


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit", *args],
        cwd=cwd,
        env=env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_first_step(db: Path, proc: subprocess.Popen[str]) -> str:
    """The run's id, once its first model turn is committed (polls the store)."""

    async def first_turn() -> str | None:
        store = SQLiteStore(db, readonly=True)
        try:
            runs = await store.list_runs()
            if runs and any(isinstance(e.event, AssistantMessage) for e in await store.events(runs[0].id)):
                return runs[0].id
            return None
        except StoreError:  # not created yet
            return None
        finally:
            await store.aclose()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        run_id = anyio.run(first_turn)
        if run_id:
            return run_id
        time.sleep(0.05)
    raise AssertionError("the run never committed its first step")


def status(db: Path, run_id: str) -> str:
    async def read() -> str:
        async with SQLiteStore(db, readonly=True) as store:
            return (await store.get_run(run_id)).status

    return anyio.run(read)


def test_sigterm_saves_the_run_as_interrupted_and_says_how_to_resume(tmp_path: Path, pages: str) -> None:
    db = tmp_path / "s.db"
    script = SlowAfterFirstStep()
    with FakeProvider(script) as fake:
        proc = start("run", str(pages_task(tmp_path, fake, pages)), "--store", str(db), "--json", cwd=tmp_path)
        run_id = wait_for_first_step(db, proc)
        assert script.hanging.wait(60)  # the run waits on the model
        listed = runner.invoke(app, ["runs", "--store", str(db), "--json"])
        assert [r["status"] for r in json.loads(listed.stdout)] == ["running"]  # its driver holds the lease
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 143, err[-3000:]
        assert "Traceback" not in err and f"agentkit resume {run_id} --store {db}" in " ".join(err.split())
        assert json.loads(out) == {
            "run_id": run_id,
            "status": "interrupted",
            "answer": "",
            "error": "terminated (SIGTERM)",
        }
        assert f"terminated (SIGTERM): run {run_id} is saved; resume it with:" in " ".join(err.split())
        assert status(db, run_id) == "interrupted"
        script.release()
        resumed = subprocess.run(
            [sys.executable, "-m", "agentkit", "resume", run_id, "--store", str(db), "--json"],
            cwd=tmp_path,
            env=env(),
            text=True,
            capture_output=True,
            timeout=120,
        )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["answer"] == "value=3"


def test_a_killed_run_is_shown_as_interrupted(tmp_path: Path, pages: str) -> None:
    db = tmp_path / "s.db"
    script = SlowAfterFirstStep()
    with FakeProvider(script) as fake:
        proc = start("run", str(pages_task(tmp_path, fake, pages)), "--store", str(db), cwd=tmp_path)
        run_id = wait_for_first_step(db, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert status(db, run_id) == "running"  # the row could not say otherwise: nothing ran
        listed = subprocess.run(
            [sys.executable, "-m", "agentkit", "runs", "--store", str(db), "--json"],
            env=env(),
            text=True,
            capture_output=True,
            timeout=60,
        )
        shown = subprocess.run(
            [sys.executable, "-m", "agentkit", "show", run_id, "--store", str(db)],
            env=env(),
            text=True,
            capture_output=True,
            timeout=60,
        )
    (row,) = json.loads(listed.stdout)
    assert row["status"] == "interrupted" and "killed or crashed" in row["stop_reason"]
    text = " ".join(shown.stdout.split())
    assert f"run {run_id} — interrupted" in text and f"agentkit resume {run_id} --store {db}" in text
