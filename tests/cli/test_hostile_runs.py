"""Runs that end badly: killed while writing the report (the report is pending and `resume`
writes it), a finished run resumed, and errors nobody planned for (one line naming the
saved run, the traceback only with AGENTKIT_DEBUG=1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest
from cli_tasks import pages_task
from typer.testing import CliRunner

import agentkit.cli.commands as cli_mod
from agentkit.cli import app
from agentkit.store import SQLiteStore, StoreError
from agentkit.testing import Delay, FakeProvider, FakeRequest, Fault, Turn, call

runner = CliRunner()


class ReportHangsOnce:
    """Plan, one fetch, the answer; the first request of the report phase hangs (the run is
    killed there), later ones answer."""

    def __init__(self) -> None:
        self.tool_less = 0
        self.hanging = threading.Event()

    def __call__(self, req: FakeRequest) -> Turn | Fault:
        if not req.tools:
            self.tool_less += 1
            if self.tool_less == 2 and not self.hanging.is_set():  # the first report request
                self.hanging.set()
                return Delay(120)
            return Turn(content="1. Read the page.\n2. Report the value.")
        if not any(m["role"] == "tool" for m in req.messages):
            base = req.body["messages"][1]["content"].split()[-1]
            return Turn(tool_calls=[call("fetch", url=f"{base}/p1")])
        return Turn(content="The value is 3 [S1].")


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


def run_status(db: Path) -> tuple[str, str] | None:
    async def read() -> tuple[str, str] | None:
        store = SQLiteStore(db, readonly=True)
        try:
            runs = await store.list_runs()
            return (runs[0].id, runs[0].status) if runs else None
        except StoreError:
            return None
        finally:
            await store.aclose()

    return anyio.run(read)


def test_killed_while_writing_the_report_then_resume_writes_it(tmp_path: Path, pages: str) -> None:
    db, out_dir = tmp_path / "s.db", tmp_path / "out"
    script = ReportHangsOnce()
    with FakeProvider(script) as fake:
        task = tmp_path / "task.yaml"
        task.write_text(
            f"task: 'Read the page at {pages}'\n"
            f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
            f"tools: [fetch]\nfetch: {{allow_private_hosts: true}}\noutput: {{dir: '{out_dir}'}}\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentkit", "run", str(task), "--store", str(db)],
            cwd=tmp_path,
            env=env(),
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert script.hanging.wait(60), "the report phase never started"
        seen = run_status(db)
        assert seen is not None and seen[1] == "finished"
        run_id = seen[0]
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)

        shown = runner.invoke(app, ["show", run_id, "--store", str(db)])
        text = " ".join(shown.stdout.split())
        assert shown.exit_code == 0 and f"run {run_id} — finished" in text
        assert f"report pending: the run stopped while writing it; write it with: agentkit resume {run_id}" in text
        assert json.loads(runner.invoke(app, ["show", run_id, "--store", str(db), "--json"]).stdout)["report_pending"]
        report = runner.invoke(app, ["report", run_id, "--store", str(db)])
        assert report.exit_code == 2 and f"agentkit resume {run_id}" in " ".join(report.output.split())

        resumed = runner.invoke(app, ["resume", run_id, "--store", str(db), "--json"])
        assert resumed.exit_code == 0, resumed.output
        data = json.loads(resumed.stdout)
        assert data["status"] == "finished" and data["answer"] == "The value is 3 [S1]."
        assert data["report"] and [Path(f).name for f in data["report_files"]] == ["report.md"]
    assert (out_dir / "report.md").read_text().strip()
    report = runner.invoke(app, ["report", run_id, "--store", str(db)])
    assert report.exit_code == 0 and report.stdout.startswith("# Read the page at")
    shown = runner.invoke(app, ["show", run_id, "--store", str(db)])
    assert "report pending" not in shown.stdout
    blocked = tmp_path / "task.yaml" / "report.md"  # under a file: cannot be written
    result = runner.invoke(app, ["report", run_id, "--store", str(db), "-o", str(blocked)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"-o {blocked}: cannot write the report" in " ".join(result.output.split())


def test_resume_of_a_finished_run_without_a_task_file_says_it_ended(tmp_path: Path) -> None:
    from agentkit import Agent
    from agentkit.testing import ScriptedModel

    db = tmp_path / "s.db"

    async def from_python() -> str:
        async with SQLiteStore(db) as store:
            agent = Agent(llm=ScriptedModel([Turn(content="plan"), Turn(content="42")]), tools=[], store=store)
            return (await agent.run("What is 6 x 7?")).run_id

    run_id = anyio.run(from_python)
    result = runner.invoke(app, ["resume", run_id, "--store", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert "not started from a task file" not in result.output
    assert f"run {run_id} already ended (finished); nothing to resume" in " ".join(result.stderr.split())
    assert json.loads(result.stdout)["answer"] == "42"


def test_an_unexpected_error_in_a_run_is_one_line(tmp_path: Path, pages: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentkit.run.agent import _RunLoop

    async def broken(*args: object, **kwargs: object) -> None:  # a bug where the tools are run
        raise RuntimeError("boom in the loop")

    monkeypatch.setattr(_RunLoop, "run_tools", broken)
    db = tmp_path / "s.db"
    responder = ReportHangsOnce()
    responder.hanging.set()  # no report phase here: nothing may hang (a second run's plan would)
    with FakeProvider(responder) as fake:
        task = pages_task(tmp_path, fake, pages)
        result = runner.invoke(app, ["run", str(task), "--store", str(db), "--json"])
        monkeypatch.setenv(cli_mod.DEBUG_ENV, "1")
        debug = runner.invoke(app, ["run", str(task), "--store", str(db)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    data = json.loads(result.stdout)
    run_id = data["run_id"]
    assert data["status"] == "failed" and "RuntimeError: boom in the loop" in data["error"]
    assert "Traceback" not in result.stderr
    line = " ".join(result.stderr.split())
    assert (
        f"agentkit: internal error: RuntimeError: boom in the loop (run {run_id} saved; "
        f"`agentkit show {run_id} --store {db}`)" in line
    )
    assert debug.exit_code == 1 and "Traceback" in debug.stderr and "boom in the loop" in debug.stderr


def test_the_last_resort_guard_of_every_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    async def broken(self: SQLiteStore, **kwargs: object) -> None:
        raise RuntimeError("a bug while listing")

    async def make() -> None:
        async with SQLiteStore(tmp_path / "s.db"):
            pass

    anyio.run(make)
    monkeypatch.setattr(SQLiteStore, "list_runs", broken)
    monkeypatch.setattr(sys, "argv", ["agentkit", "runs", "--store", str(tmp_path / "s.db")])
    monkeypatch.delenv(cli_mod.DEBUG_ENV, raising=False)
    captured: list[str] = []
    monkeypatch.setattr(cli_mod, "say", captured.append)
    with pytest.raises(SystemExit) as exit_info:
        cli_mod.main()
    assert exit_info.value.code == 1
    assert captured == [
        f"agentkit: internal error: RuntimeError: a bug while listing (set {cli_mod.DEBUG_ENV}=1 to see where)"
    ]


def test_real_process_internal_error_has_no_traceback(tmp_path: Path) -> None:
    """A bug in a real process: `python -m agentkit` goes through main()'s guard."""
    code = (
        "import sys\nfrom agentkit.cli import main\n"
        "from agentkit.store import SQLiteStore\n"
        "async def broken(self, **kw): raise RuntimeError('bug')\n"
        "SQLiteStore.list_runs = broken\n"
        "sys.argv = ['agentkit', 'runs', '--store', sys.argv[1]]\n"
        "main()\n"
    )

    async def make() -> None:
        async with SQLiteStore(tmp_path / "s.db"):
            pass

    anyio.run(make)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "s.db")], capture_output=True, text=True, env=env(), timeout=60
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "agentkit: internal error: RuntimeError: bug" in proc.stderr
