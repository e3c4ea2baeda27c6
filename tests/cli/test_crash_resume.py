"""SIGKILL the CLI at random points of a long scripted run, resume each time, and check
the final answer and that the trace has no duplicated or unanswered steps."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from agentkit.store import SQLiteStore
from agentkit.store.events import AssistantMessage, RunFinished, ToolResultEvent
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

PAGES = 80


def responder(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Read every page.\n2. Add the values.")
    values = [int(v) for m in req.messages if m["role"] == "tool" for v in re.findall(r"value=(\d+)", m["content"])]
    if len(values) < PAGES:
        base = req.body["messages"][1]["content"].split()[-1]
        n = len(values) + 1
        # two calls in some turns, so a kill can land between the results of one turn
        calls = [call("fetch", url=f"{base}/p{n}")]
        if n % 3 == 0 and n < PAGES:
            calls.append(call("fetch", url=f"{base}/p{n + 1}"))
        return Turn(reasoning=f"page {n}", tool_calls=calls)
    return Turn(content=f"sum={sum(values)}")


def write_task(tmp_path: Path, fake: FakeProvider, pages: str, extra: str = "") -> Path:
    task = tmp_path / "task.yaml"
    task.write_text(
        f"task: 'Add the values on the pages at {pages}'\n"
        f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
        "tools: [fetch]\nfetch: {allow_private_hosts: true}\n"
        "context: {keep_tool_results: 500}\n" + extra  # the scripted model adds up every result
    )
    return task


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


async def _count_events(db: Path, parent_only: bool) -> tuple[int, int]:
    """(events of the first run, events of its child runs)."""
    store = SQLiteStore(db)
    try:
        runs = await store.list_runs()
        if not runs:
            return 0, 0
        own = len(await store.events(runs[0].id))
        if parent_only:
            return own, 0
        children = await store.list_runs(parent_id=runs[0].id)
        return own, sum([len(await store.events(c.id)) for c in children])
    finally:
        await store.aclose()


def wait_for_events(db: Path, proc: subprocess.Popen[str], *, own: int = 0, children: int = 0) -> bool:
    """Wait until the store holds ``own`` events of the first run and ``children`` events of its
    child runs (an event in the trace, not a guess of the clock). False if the process ended first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if db.exists():
            try:
                have = anyio.run(_count_events, db, children == 0)
            except Exception:  # the store is being created by the other process
                have = (0, 0)
            if have[0] >= own and have[1] >= children:
                return True
        time.sleep(0.02)
    raise AssertionError(f"the run did not reach {own} events (+{children} in children) in 120 s")


async def trace(db: Path) -> tuple[str | None, list[object]]:
    store = SQLiteStore(db)
    try:
        runs = await store.list_runs()
        if not runs:
            return None, []
        return runs[0].id, [e.event for e in await store.events(runs[0].id)]
    finally:
        await store.aclose()


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tmp_path: Path, pages: str) -> None:
    rng = random.Random(20261123)
    db = tmp_path / "store.db"
    kills = 0
    with FakeProvider(responder, latency_s=0.05) as fake:
        task = write_task(tmp_path, fake, pages)
        final = None
        for attempt in range(12):
            run_id, events = anyio.run(trace, db)
            args = ["resume", run_id] if run_id else ["run", str(task)]
            proc = cli(*args, "--store", str(db), "--json", cwd=tmp_path)
            # kill once the trace has grown by a random number of events (some land between
            # one turn's results, some between a turn and its first result)
            if attempt < 5 and wait_for_events(db, proc, own=len(events) + rng.randint(3, 40)):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
            proc.communicate(timeout=120)
            final = proc.returncode
            break
        assert fake.errors == []  # no history was ever malformed after a crash
    assert kills >= 3
    assert final == 0
    run_id, events = anyio.run(trace, db)
    turns = [e for e in events if isinstance(e, AssistantMessage)]
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert [t.step for t in turns] == list(range(1, len(turns) + 1))  # no step requested twice
    call_ids = [c.id for t in turns for c in t.turn.tool_calls]
    assert len(call_ids) == len(set(call_ids))
    assert sorted(r.call_id for r in results) == sorted(call_ids)  # each answered exactly once
    assert len(finished) == 1 and finished[0].answer == f"sum={3 * PAGES * (PAGES + 1) // 2}"


@pytest.mark.slow
def test_sigkilled_heavy_run_resumes_to_the_end(tmp_path: Path, pages: str) -> None:
    db = tmp_path / "store.db"
    with FakeProvider(responder, latency_s=0.05) as fake:
        task = write_task(tmp_path, fake, pages, "heavy: {trajectories: 3, aggregate: vote}\n")
        proc = cli("run", str(task), "--store", str(db), "--json", cwd=tmp_path)
        # kill mid-trajectories: the children have written some of their turns and results
        assert wait_for_events(db, proc, own=1, children=3 * 12), "the heavy run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        async def parent() -> str:
            store = SQLiteStore(db)
            try:
                return (await store.list_runs())[0].id
            finally:
                await store.aclose()

        run_id = anyio.run(parent)
        proc = cli("resume", run_id, "--store", str(db), "--json", cwd=tmp_path)
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    assert f'"answer": "sum={3 * PAGES * (PAGES + 1) // 2}"' in out

    async def children() -> list[str]:
        store = SQLiteStore(db)
        try:
            return [r.status for r in await store.list_runs(parent_id=run_id)]
        finally:
            await store.aclose()

    assert anyio.run(children) == ["finished"] * 3


def test_resume_of_a_run_another_process_is_driving_is_refused(tmp_path: Path, pages: str) -> None:
    """Two drivers of one run would both ask for the next step: the second is turned away
    (exit 2, one line naming the holder), writes nothing, and the first finishes normally."""
    db = tmp_path / "store.db"
    refused = threading.Event()  # the first run waits at its fourth page until the second driver was turned away

    def held(req: FakeRequest) -> Turn:
        if req.tools and sum(m["role"] == "tool" for m in req.messages) == 4:
            refused.wait(timeout=300)
        return responder(req)

    with FakeProvider(held, latency_s=0.05) as fake:
        first = cli("run", str(write_task(tmp_path, fake, pages)), "--store", str(db), "--json", cwd=tmp_path)
        assert wait_for_events(db, first, own=6), "the first run ended before the test could race it"
        run_id, events = anyio.run(trace, db)
        assert run_id is not None
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        second = subprocess.run(
            [sys.executable, "-m", "agentkit", "resume", run_id, "--store", str(db)],
            cwd=tmp_path,
            env=env,
            text=True,
            capture_output=True,
            timeout=60,
        )
        refused.set()
        first.communicate(timeout=300)
    assert second.returncode == 2, second.stderr[-2000:]
    assert f"run {run_id} is being driven by process {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0
    _, events = anyio.run(trace, db)
    turns = [e for e in events if isinstance(e, AssistantMessage)]
    assert [t.step for t in turns] == list(range(1, len(turns) + 1))
    assert not any(getattr(e, "reason", None) == "resumed" for e in events)  # the refused resume wrote nothing
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert len(finished) == 1 and finished[0].answer == f"sum={3 * PAGES * (PAGES + 1) // 2}"


def test_ctrl_c_marks_the_run_interrupted_and_says_how_to_resume(tmp_path: Path, pages: str) -> None:
    db = tmp_path / "store.db"
    with FakeProvider(responder, latency_s=0.05) as fake:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentkit", "run", str(write_task(tmp_path, fake, pages)), "--store", str(db)],
            cwd=tmp_path,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert wait_for_events(db, proc, own=8), "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "agentkit resume" in err
    run_id, _events = anyio.run(trace, db)
    assert run_id and f"agentkit resume {run_id}" in err

    async def status() -> str:
        store = SQLiteStore(db)
        try:
            return (await store.get_run(run_id)).status
        finally:
            await store.aclose()

    assert anyio.run(status) == "interrupted"
