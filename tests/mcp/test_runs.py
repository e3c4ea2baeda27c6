"""Runs against the fake provider (real HTTP on loopback) that use MCP servers' tools: a stdio
server and a streamable-HTTP one, one crashing mid-run, and a CLI run killed with SIGKILL
and resumed with its servers started again."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp_helpers import TOOLS_SERVER, start_http_server, stdio_spec

from agentkit import Agent
from agentkit.store import SQLiteStore
from agentkit.store.events import RunFinished, RunStarted, ToolResultEvent
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

SECRET = "mcp-test-secret-6f1c"


def tool_results(req: FakeRequest) -> list[str]:
    return [str(m["content"]) for m in req.messages if m["role"] == "tool"]


def pids(texts: list[str]) -> list[int]:
    return [int(p) for t in texts for p in re.findall(r"process (\d+)", t)]


@pytest.mark.anyio
async def test_a_run_uses_stdio_and_http_servers_and_survives_a_crash(tmp_path: Path, http_url: str) -> None:
    flag = tmp_path / "crash-next-lookup"
    seen_tools: list[list[str]] = []

    def responder(req: FakeRequest) -> Turn:
        seen_tools.append(req.tool_names)
        done = tool_results(req)
        if len(done) == 0:
            return Turn(tool_calls=[call("loc__lookup", term="alpha"), call("web__lookup", term="beta")])
        if len(done) == 2:
            flag.write_text("crash")  # the stdio server dies during the next lookup
            return Turn(reasoning="one more", tool_calls=[call("loc__lookup", term="gamma")])
        if len(done) == 3:
            return Turn(reasoning="the server crashed; again", tool_calls=[call("loc__lookup", term="delta")])
        return Turn(content="alpha 5, beta 4, delta 5")

    servers = [
        stdio_spec("loc", env={"CRASH_FLAG": str(flag), "API_TOKEN": {"from_env": "MCP_TEST_SECRET"}}),
        {"name": "web", "url": http_url, "headers": {"Authorization": {"from_env": "MCP_TEST_SECRET"}}},
    ]
    os.environ["MCP_TEST_SECRET"] = SECRET
    try:
        with FakeProvider(responder) as fake:
            store = SQLiteStore(tmp_path / "store.db")
            async with Agent(
                provider="custom", base_url=fake.base_url, tools=[], plan=False, store=store, mcp=servers
            ) as agent:
                result = await agent.run("Look up alpha, beta and the rest.")
            assert fake.errors == []
    finally:
        del os.environ["MCP_TEST_SECRET"]
    assert result.status == "finished", result.error
    assert result.answer == "alpha 5, beta 4, delta 5"
    assert {"loc__lookup", "loc__pid", "web__lookup"} <= set(seen_tools[0])  # listed before the first model call
    events = [e.event for e in await store.events(result.run_id)]
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    outcomes = [(r.name, r.is_error) for r in results]
    assert sorted(outcomes[:2]) == [("loc__lookup", False), ("web__lookup", False)]  # one turn, run concurrently
    assert outcomes[2:] == [("loc__lookup", True), ("loc__lookup", False)]
    crashed, after = results[2], results[3]
    assert "MCP server 'loc' failed" in crashed.text and "crashing on purpose" in crashed.text
    first_pid = pids([r.text for r in results if r.name == "loc__lookup"])[0]
    assert pids([after.text]) != [first_pid]  # a new process answered
    assert all(r.meta.get("mcp_server") for r in results)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.config["mcp"][1]["headers"] == {"Authorization": {"from_env": "MCP_TEST_SECRET"}}
    dump = json.dumps([e.model_dump(mode="json") for e in events]) + json.dumps(
        (await store.get_run(result.run_id)).config
    )
    assert SECRET not in dump  # names of variables only
    await store.aclose()


def agentkit_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def _results(db: Path) -> tuple[str | None, list[ToolResultEvent], bool]:
    store = SQLiteStore(db)
    try:
        runs = await store.list_runs()
        if not runs:
            return None, [], False
        events = [e.event for e in await store.events(runs[0].id)]
        finished = any(isinstance(e, RunFinished) for e in events)
        return runs[0].id, [e for e in events if isinstance(e, ToolResultEvent)], finished
    finally:
        await store.aclose()


def wait_for_results(db: Path, proc: subprocess.Popen[str], n: int) -> None:
    """Until the store holds ``n`` tool results (an event, not a clock)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if db.exists():
            try:
                _, results, _ = anyio.run(_results, db)
            except Exception:  # the other process is creating the store
                results = []
            if len(results) >= n:
                return
        time.sleep(0.02)
    raise AssertionError(f"no {n} tool results in 120 s")


STEPS = 8


def pid_responder(req: FakeRequest) -> Turn:
    done = tool_results(req)
    if len(done) < STEPS:
        name = "loc__lookup" if len(done) % 2 == 0 else "web__lookup"
        return Turn(reasoning=f"step {len(done)}", tool_calls=[call(name, term=f"t{len(done)}")])
    return Turn(content="pids " + " ".join(str(p) for p in pids(done)))


def test_a_sigkilled_cli_run_resumes_with_its_servers_started_again(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    web, url = start_http_server(tmp_path)
    try:
        with FakeProvider(pid_responder, latency_s=0.15) as fake:
            task = tmp_path / "task.yaml"
            task.write_text(
                "task: 'Look things up'\n"
                f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
                "tools: []\noutput: {report: false}\n"
                "mcp:\n"
                f"  - {{name: loc, command: {json.dumps(sys.executable)}, args: [{json.dumps(TOOLS_SERVER)}]}}\n"
                f"  - {{name: web, url: '{url}'}}\n"
            )
            first = agentkit_cli("run", str(task), "--store", str(db), "--json", cwd=tmp_path)
            wait_for_results(db, first, 3)
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=60)
            run_id, before, finished = anyio.run(_results, db)
            assert run_id is not None and not finished
            resumed = agentkit_cli("resume", run_id, "--store", str(db), "--json", cwd=tmp_path)
            out, err = resumed.communicate(timeout=180)
            assert fake.errors == []
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert resumed.returncode == 0, err[-2000:]
    assert json.loads(out)["status"] == "finished" and "Traceback" not in err
    _, results, finished = anyio.run(_results, db)
    assert finished and len(results) == STEPS and not any(r.is_error for r in results)
    local = [pids([r.text])[0] for r in results if r.name == "loc__lookup"]
    earlier = [r for r in before if r.name == "loc__lookup"]
    old = set(pids([r.text for r in earlier]))
    assert old and local[len(earlier) :] and set(local[len(earlier) :]).isdisjoint(old)  # started again


@pytest.mark.anyio
async def test_heavy_trajectories_each_start_their_own_servers() -> None:
    def responder(req: FakeRequest) -> Turn:
        if not tool_results(req):
            return Turn(tool_calls=[call("loc__lookup", term="abc")])
        return Turn(content="abc means 3 " + " ".join(str(p) for p in pids(tool_results(req))))

    with FakeProvider(responder) as fake:
        async with Agent(
            provider="custom",
            base_url=fake.base_url,
            tools=[],
            plan=False,
            heavy=3,
            aggregate="vote",
            mcp=[stdio_spec()],
        ) as agent:
            result = await agent.run("q")
            children = await agent.store.list_runs(parent_id=result.run_id)
    assert result.status == "finished" and result.answer.startswith("abc means 3")
    assert [c.status for c in children] == ["finished"] * 3, [c.stop_reason for c in children]
    assert len({c.answer for c in children}) == 3  # three trajectories, three server processes
