"""Ctrl-C during `agentkit demo` says how to resume, like any run, and `agentkit resume` finishes
the demo run: the same answer and report as a demo never interrupted.

A real `agentkit demo` process; the test waits for an event (the demo's Python step committed
in the store), freezes the process (SIGSTOP) to check the run is still going, sends SIGINT and
lets it go on (SIGCONT): the interrupt lands mid-run whatever the machine's speed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio

from agentkit.store import AssistantMessage, RunFinished, SQLiteStore, StoreError


def agentkit(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def trace(db: Path) -> tuple[str, list[object]] | None:
    async def read() -> tuple[str, list[object]] | None:
        store = SQLiteStore(db, readonly=True)
        try:
            runs = await store.list_runs()
            return (runs[0].id, [e.event for e in await store.events(runs[0].id)]) if runs else None
        except StoreError:  # not created yet
            return None
        finally:
            await store.aclose()

    return anyio.run(read)


def python_step_committed(db: Path, proc: subprocess.Popen[str]) -> str:
    """The run id, once the model turn that calls the Python tool is in the store."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        seen = trace(db)
        if seen and any(
            isinstance(e, AssistantMessage) and any(c.name == "python" for c in e.turn.tool_calls) for e in seen[1]
        ):
            return seen[0]
        time.sleep(0.05)
    raise AssertionError("the demo never committed its Python step")


def test_ctrl_c_in_the_demo_says_how_to_resume_and_resume_finishes_it(tmp_path: Path) -> None:
    db, out = tmp_path / "s.db", tmp_path / "report"
    proc = agentkit("demo", "--store", str(db), "--out", str(out), cwd=tmp_path)
    run_id = python_step_committed(db, proc)
    proc.send_signal(signal.SIGSTOP)
    try:
        seen = trace(db)
        assert seen is not None and not any(isinstance(e, RunFinished) for e in seen[1])  # mid-run
        proc.send_signal(signal.SIGINT)
    finally:
        proc.send_signal(signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    said = " ".join(stderr.split())
    assert "Traceback" not in stderr
    resume = f"agentkit resume {run_id} --store {db} --out {out}"
    assert f"interrupted (Ctrl-C): run {run_id} is saved; resume it with: {resume}" in said
    assert not (out / "report.md").exists()

    resumed = agentkit("resume", run_id, "--store", str(db), "--out", str(out), cwd=tmp_path)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr[-3000:]
    assert "Answer (finished, 6 steps, 8 tool calls" in stdout
    assert "E-bikes, added in March 2022 [S" in " ".join(stdout.split())
    md = (out / "report.md").read_text()
    # the report an uninterrupted demo writes (test_demo.py): the planted claims, and only they, marked
    assert "| supported | 6 |" in md and "| weak | 0 |" in md and "| unsupported | 2 |" in md
    assert "## References" in md and "Annual Report 2024" in md

    again = agentkit("resume", run_id, "--store", str(db), cwd=tmp_path)
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0 and f"run {run_id} already ended (finished); nothing to resume" in stderr
