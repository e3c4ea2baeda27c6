"""``agentkit fork``: a new run sharing a run's first steps by reference, going on live with new
settings; it asks the model only from the next step, resumes after SIGKILL like any run, and is
listed and shown with its lineage."""

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
from typer.testing import CliRunner

from agentkit import Agent, tool
from agentkit.cli import app
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.replays import replay_async
from agentkit.run._fork import ForkError
from agentkit.store import MemoryStore, SQLiteStore
from agentkit.store.events import AssistantMessage, RunFinished, ToolResultEvent
from agentkit.store.fold import load_state
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

runner = CliRunner()
PAGES = 6


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: 42"


def looker(req: FakeRequest) -> Turn:
    done = [m for m in req.messages if m["role"] == "tool"]
    if len(done) < 3:
        return Turn(reasoning=f"step {len(done) + 1}", tool_calls=[call("lookup", term=f"t{len(done)}")])
    return Turn(content=f"answer by {req.body['model']}")


@pytest.mark.anyio
async def test_a_fork_shares_the_steps_by_reference_and_asks_the_model_only_after_them() -> None:
    store = MemoryStore()
    asked: list[tuple[str, int]] = []

    def respond(req: FakeRequest) -> Turn:
        asked.append((str(req.body["model"]), sum(1 for m in req.messages if m["role"] == "tool")))
        return looker(req)

    with FakeProvider(respond) as fake:
        llm = OpenAICompatibleModel("kimi-k2-thinking", "moonshot", base_url=fake.base_url, api_key="k")
        async with Agent(llm=llm, tools=[lookup], store=store, plan=False) as agent:
            parent = await agent.run("Look three terms up.")
            parent_log = await store.events(parent.run_id)
            asked.clear()
            fork = await agent.fork(parent.run_id, 2, model="kimi-k3", instructions="Be brief.")
            with pytest.raises(ForkError, match=r"--at 4 is out of range: run \w+ has 4 steps"):
                await agent.fork(parent.run_id, 4)
            with pytest.raises(ForkError, match="no run 'nope'"):
                await agent.fork("nope", 1)
        assert fake.errors == []
    assert parent.status == "finished" and parent.answer == "answer by kimi-k2-thinking"
    assert fork.status == "finished" and fork.answer == "answer by kimi-k3" and fork.steps == 4
    assert asked == [("kimi-k3", 2), ("kimi-k3", 3)]  # the model was asked from step 3 on only
    row = await store.get_run(fork.run_id)
    assert (row.forked_from, row.fork_step) == (parent.run_id, 2)
    own = [e.event for e in await store.events(fork.run_id)]
    assert [e.step for e in own if isinstance(e, AssistantMessage)] == [3, 4]  # not copied
    assert len(await store.events(parent.run_id)) == len(parent_log)  # the parent is untouched
    state = await load_state(store, fork.run_id)
    assert state.step == 4 and "Be brief." in state.config["system_prompt"]
    assert state.config["model"] == "kimi-k3"
    # the fork replays like any run: its own steps, from the shared ones
    report = await replay_async(fork.run_id, store=store)
    assert report.identical and report.steps == 2, report.summary()


def responder(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Read every page.\n2. Add the values.")
    values = [int(v) for m in req.messages if m["role"] == "tool" for v in re.findall(r"value=(\d+)", m["content"])]
    if len(values) < PAGES:
        base = req.body["messages"][1]["content"].split()[-1]
        return Turn(reasoning=f"page {len(values) + 1}", tool_calls=[call("fetch", url=f"{base}/p{len(values) + 1}")])
    return Turn(content=f"sum={sum(values)} by {req.body['model']}")


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit", *args], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE
    )


async def _fork_events(db: Path) -> int:
    async with SQLiteStore(db) as store:
        forks = [r for r in await store.list_runs() if r.forked_from]
        return len(await store.events(forks[0].id)) if forks else 0


def wait_for_fork_events(db: Path, proc: subprocess.Popen[str], count: int) -> None:
    """Until the fork's own trace holds ``count`` events (an event in the store, not a guess of the clock)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the fork ended before it was killed"
        try:
            if anyio.run(_fork_events, db) >= count:
                return
        except Exception:  # the other process is writing its first rows
            pass
        time.sleep(0.02)
    raise AssertionError(f"the fork did not reach {count} events in 120 s")


def test_the_cli_forks_shows_lineage_and_a_killed_fork_resumes(tmp_path: Path, pages: str) -> None:
    db = tmp_path / "s.db"
    with FakeProvider(responder, latency_s=0.05) as fake:
        task = tmp_path / "task.yaml"
        task.write_text(
            f"task: 'Add the values on the pages at {pages}'\n"
            f"model: {{provider: custom, base_url: '{fake.base_url}', name: model-a}}\n"
            "tools: [fetch]\nfetch: {allow_private_hosts: true}\noutput: {report: false}\n"
        )
        first = cli("run", str(task), "--store", str(db), "--json", cwd=tmp_path)
        out, _ = first.communicate(timeout=120)
        parent = json.loads(out)
        assert first.returncode == 0 and parent["answer"] == "sum=63 by model-a"
        bad = runner.invoke(app, ["fork", parent["run_id"], "--at", "9", "--store", str(db)])
        assert bad.exit_code == 2 and "--at 9 is out of range" in bad.output and "Traceback" not in bad.output
        unknown = runner.invoke(app, ["fork", "nosuch", "--at", "1", "--store", str(db)])
        assert unknown.exit_code == 2 and "nosuch" in unknown.output
        requests_before = len(fake.requests)
        proc = cli(
            "fork", parent["run_id"], "--at", "2", "--model", "model-b", "--store", str(db), "--json", cwd=tmp_path
        )
        wait_for_fork_events(db, proc, 3)  # its start, step 3's turn and result: then SIGKILL
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        async def fork_row() -> str:
            async with SQLiteStore(db) as store:
                return next(r.id for r in await store.list_runs() if r.forked_from)

        fork_id = anyio.run(fork_row)
        again = cli("resume", fork_id, "--store", str(db), "--json", cwd=tmp_path)
        out, _ = again.communicate(timeout=120)
        assert again.returncode == 0, out
        assert json.loads(out)["answer"] == "sum=63 by model-b"
        assert fake.errors == []
        fork_requests = fake.requests[requests_before:]
    # the fork asked the model only from step 3: no planning call, nothing before page 3
    assert fork_requests and all(r.tools for r in fork_requests)
    assert all(sum(1 for m in r.messages if m["role"] == "tool") >= 2 for r in fork_requests)

    async def trace() -> list[object]:
        async with SQLiteStore(db) as store:
            return [e.event for e in await store.events(fork_id)]

    events = anyio.run(trace)
    steps = [e.step for e in events if isinstance(e, AssistantMessage)]
    assert steps == list(range(3, PAGES + 2))  # its own steps only, each once
    results = [e.call_id for e in events if isinstance(e, ToolResultEvent)]
    assert len(results) == len(set(results)) and sum(isinstance(e, RunFinished) for e in events) >= 1
    listed = runner.invoke(app, ["runs", "--store", str(db)])
    assert "fork of" in listed.output and "lineage" in listed.output
    rows = {r["id"]: r for r in json.loads(runner.invoke(app, ["runs", "--store", str(db), "--json"]).output)}
    assert (rows[fork_id]["forked_from"], rows[fork_id]["fork_step"]) == (parent["run_id"], 2)
    shown = runner.invoke(app, ["show", fork_id, "--store", str(db)])
    assert f"forked from {parent['run_id']} at step 2" in shown.output
    as_json = json.loads(runner.invoke(app, ["show", fork_id, "--store", str(db), "--json"]).output)
    assert as_json["forked_from"] == parent["run_id"] and as_json["fork_step"] == 2
