"""Every reader shows a run the same way, from the truth (the lease and the fold of its trace,
agentkit.store.status): ``agentkit runs``, ``show``, ``resume``'s summary and the MCP server's
``run_status`` agree on a run whose driver was SIGKILLed mid-run (``interrupted``, with the
steps, tokens, cost and tool calls its trace holds, not the row's stale zeros), on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from typer.testing import CliRunner

from agentkit import Agent, tool
from agentkit.cli import app
from agentkit.store import RunInfo, SQLiteStore, open_store
from agentkit.store.events import AssistantMessage
from agentkit.store.fold import RunState, load_state
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.vocabulary import Usage

runner = CliRunner()
PAGES = 16
KILL_AFTER_TURNS = 3


def responder(req: FakeRequest) -> Turn:
    """Read the pages one by one (one fetch per turn), then answer with the sum."""
    if not req.tools:
        return Turn(content="1. Read every page.\n2. Add the values.")
    values = [int(v) for m in req.messages if m["role"] == "tool" for v in re.findall(r"value=(\d+)", m["content"])]
    if len(values) < PAGES:
        base = req.body["messages"][1]["content"].split()[-1]
        return Turn(reasoning=f"page {len(values) + 1}", tool_calls=[call("fetch", url=f"{base}/p{len(values) + 1}")])
    return Turn(content=f"sum={sum(values)}")


def config_file(tmp_path: Path, fake: FakeProvider) -> Path:
    """The server's run configuration: the fake model (priced, so cost is counted), fetch."""
    path = tmp_path / "agent.yaml"
    path.write_text(
        f"model: {{provider: custom, base_url: '{fake.base_url}', prices: {{input: 1.0, output: 4.0}}}}\n"
        "tools: [fetch]\nfetch: {allow_private_hosts: true}\noutput: {report: false}\n"
        "context: {keep_tool_results: 500}\n"  # the scripted model adds up every result
    )
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("postgres_url"))


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


def mcp_server(location: str, *extra: str, pid_file: Path | None = None) -> StdioServerParameters:
    """``agentkit mcp`` over stdio; with ``pid_file``, started through ``sh -c 'echo $$; exec'``
    so that the file names the server's own process (to SIGKILL it)."""
    args = ["-m", "agentkit", "mcp", "--store", location, *extra]
    if pid_file is None:
        return StdioServerParameters(command=sys.executable, args=args, env=env())
    script = 'echo $$ > "$0"; exec "$@"'
    return StdioServerParameters(command="sh", args=["-c", script, str(pid_file), sys.executable, *args], env=env())


async def only_run(location: str) -> RunInfo | None:
    try:
        async with open_store(location, readonly=True) as store:
            runs = await store.list_runs()
    except Exception:  # not created yet by the server
        return None
    return runs[0] if runs else None


async def turns_of(location: str, run_id: str) -> int:
    async with open_store(location, readonly=True) as store:
        return sum(isinstance(e.event, AssistantMessage) for e in await store.events(run_id))


async def kill_mid_research(location: str, config: Path, pid_file: Path, question: str) -> str:
    """Start a research run through ``agentkit mcp`` and SIGKILL the server once the run's
    trace holds ``KILL_AFTER_TURNS`` model turns (waiting on the trace, not the clock)."""
    params = mcp_server(location, "--config", str(config), pid_file=pid_file)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: session.call_tool("research", {"question": question}))
            deadline = time.monotonic() + 120
            run_id = ""
            while not run_id or await turns_of(location, run_id) < KILL_AFTER_TURNS:
                assert time.monotonic() < deadline, "the research run did not reach its turns in 120 s"
                await anyio.sleep(0.02)
                run = await only_run(location)
                run_id = run.id if run is not None else ""
            os.kill(int(await anyio.Path(pid_file).read_text()), signal.SIGKILL)
            tg.cancel_scope.cancel()
    async with open_store(location, readonly=True) as store:
        while await store.is_leased(run_id):  # the kernel (or PostgreSQL) frees it as the process dies
            assert time.monotonic() < deadline, "the killed server's lease was not released"
            await anyio.sleep(0.02)
    return run_id


async def run_status(location: str, run_id: str) -> dict[str, Any]:
    async with stdio_client(mcp_server(location)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("run_status", {"run_id": run_id})
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)  # type: ignore[union-attr,no-any-return]


async def truth(location: str, run_id: str) -> tuple[RunInfo, RunState]:
    async with open_store(location, readonly=True) as store:
        return await store.get_run(run_id), await load_state(store, run_id)


def cli_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])  # (stderr may hold a page server's note of a killed client)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_readers_agree_on_a_run_whose_mcp_server_was_killed(tmp_path: Path, pages: str, location: str) -> None:
    with FakeProvider(responder, latency_s=0.05) as fake:
        question = f"Add the values on the pages at {pages}"
        run_id = anyio.run(kill_mid_research, location, config_file(tmp_path, fake), tmp_path / "pid", question)
        row, state = anyio.run(truth, location, run_id)
        # what the killed driver left: a `running` row that never saw its steps
        assert row.status == "running" and row.steps == 0 and row.cost_usd == 0
        assert state.step >= KILL_AFTER_TURNS and state.tool_calls >= KILL_AFTER_TURNS - 1 and state.cost_usd > 0
        expected = {"status": "interrupted", "steps": state.step, "cost_usd": pytest.approx(state.cost_usd)}

        status = anyio.run(run_status, location, run_id)
        assert status | expected == status and status["tool_calls"] == state.tool_calls

        listed = cli_json("runs", "--store", location)
        assert [r["id"] for r in listed] == [run_id]
        assert listed[0] | expected == listed[0] and listed[0]["usage"] == state.usage.model_dump()

        shown = cli_json("show", run_id, "--store", location)
        assert shown | expected == shown and shown["usage"] == state.usage.model_dump()
        assert shown["tool_calls"] == state.tool_calls
        text = runner.invoke(app, ["show", run_id, "--store", location]).output
        assert f"steps {state.step}, tool calls {state.tool_calls}, prompt tokens {state.usage.prompt_tokens:,}" in text

        resumed = cli_json("resume", run_id, "--store", location)
        assert resumed["status"] == "finished", resumed
        assert resumed["answer"] == f"sum={3 * PAGES * (PAGES + 1) // 2}"
        assert (resumed["steps"], resumed["tool_calls"]) == (PAGES + 1, PAGES)
        assert fake.errors == []
    listed = cli_json("runs", "--store", location)
    assert (listed[0]["status"], listed[0]["steps"]) == ("finished", PAGES + 1)


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: a fact"


def test_the_summary_of_an_ended_run_counts_its_tool_calls(tmp_path: Path) -> None:
    """A run made through the Python API has no task file to resume with: ``agentkit resume``
    says it ended and prints its summary, counted from its trace (tool calls included)."""
    db = tmp_path / "store.db"
    two = [call("lookup", term="a"), call("lookup", term="b")]
    script = [Turn(tool_calls=two), Turn(tool_calls=[call("lookup", term="c"), *two]), Turn(content="done")]

    async def made() -> str:
        with FakeProvider(script) as fake:
            async with Agent(
                provider="custom", base_url=fake.base_url, tools=[lookup], plan=False, store=SQLiteStore(db)
            ) as agent:
                return (await agent.run("look things up")).run_id

    run_id = anyio.run(made)
    result = runner.invoke(app, ["resume", run_id, "--store", str(db)])
    assert result.exit_code == 0, result.output
    assert f"run {run_id} already ended (finished); nothing to resume" in result.stderr
    assert f"finished run {run_id}: 3 steps, 5 tool calls" in " ".join(result.stdout.split())
    summary = cli_json("resume", run_id, "--store", str(db))
    assert (summary["steps"], summary["tool_calls"], summary["answer"]) == (3, 5, "done")


def test_a_run_whose_end_is_committed_but_not_its_row_shows_its_end(tmp_path: Path) -> None:
    """A driver killed between committing ``RunFinished`` and writing the row leaves the row
    as it was while the run went on (``running``, no counters; set here as it was): every
    reader shows the end the trace holds."""
    db = tmp_path / "store.db"
    script = [Turn(tool_calls=[call("lookup", term="a")]), Turn(content="done")]

    async def made() -> str:
        with FakeProvider(script) as fake:
            async with Agent(
                provider="custom", base_url=fake.base_url, tools=[lookup], plan=False, store=SQLiteStore(db)
            ) as agent:
                run_id = (await agent.run("look it up")).run_id
        async with SQLiteStore(db) as store:
            await store.update_run(run_id, status="running", answer=None, steps=0, usage=Usage(), cost_usd=0.0)
        return run_id

    run_id = anyio.run(made)
    listed = cli_json("runs", "--store", str(db))
    assert (listed[0]["status"], listed[0]["answer"], listed[0]["steps"]) == ("finished", "done", 2)
    assert listed[0]["usage"]["calls"] == 2
    shown = cli_json("show", run_id, "--store", str(db))
    assert (shown["status"], shown["steps"], shown["tool_calls"], shown["report_pending"]) == ("finished", 2, 1, False)
    status = anyio.run(run_status, str(db), run_id)
    assert (status["status"], status["answer"], status["steps"], status["tool_calls"]) == ("finished", "done", 2, 1)


def test_a_killed_heavy_run_shows_what_its_trajectories_did(tmp_path: Path, pages: str) -> None:
    """A heavy run's row sums its trajectories only when it ends: killed mid-trajectories, its
    readers count them from their traces."""
    db = tmp_path / "store.db"
    with FakeProvider(responder, latency_s=0.05) as fake:
        task = tmp_path / "task.yaml"
        task.write_text(f"task: 'Add the values on the pages at {pages}'\n" + config_file(tmp_path, fake).read_text())
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentkit", "run", str(task), "--heavy", "3", "--store", str(db), "--json"],
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while anyio.run(child_turns, str(db)) < 3 * KILL_AFTER_TURNS:
                assert proc.poll() is None, "the heavy run ended before it could be killed"
                assert time.monotonic() < deadline, "the trajectories did not reach their turns in 120 s"
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    async def children() -> tuple[str, list[RunState]]:
        async with SQLiteStore(db, readonly=True) as store:
            parent = (await store.list_runs())[0].id
            return parent, [await load_state(store, f"{parent}.{i}") for i in range(3)]

    parent, kids = anyio.run(children)
    assert len(kids) == 3 and sum(k.step for k in kids) >= 3 * KILL_AFTER_TURNS
    listed = cli_json("runs", "--store", str(db))
    assert (listed[0]["status"], listed[0]["steps"]) == ("interrupted", sum(k.step for k in kids))
    assert listed[0]["cost_usd"] == pytest.approx(sum(k.cost_usd for k in kids)) and listed[0]["cost_usd"] > 0
    shown = cli_json("show", parent, "--store", str(db))
    assert (shown["steps"], shown["tool_calls"]) == (sum(k.step for k in kids), sum(k.tool_calls for k in kids))
    child = cli_json("show", f"{parent}.1", "--store", str(db))
    assert (child["status"], child["steps"], child["tool_calls"]) == ("interrupted", kids[1].step, kids[1].tool_calls)


async def child_turns(db: str) -> int:
    """Model turns in the child runs of the first run (0 while the store is being created)."""
    try:
        async with SQLiteStore(db, readonly=True) as store:
            runs = await store.list_runs()
            kids = await store.list_runs(parent_id=runs[0].id) if runs else []
            return sum([await turns_of(db, k.id) for k in kids])
    except Exception:  # the other process is creating the store
        return 0
