"""``agentkit replay``: stored traces of real runs (the strict fake provider on loopback, real
tools) re-driven offline with today's code. Identical when nothing changed; the right step,
and what differs, when the test changes the context policy or the tools."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from agentkit import Agent, RetryPolicy, replay, tool
from agentkit.cli import app
from agentkit.cli._demo import run_demo
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.replays import ReplayError, replay_async
from agentkit.store import MemoryStore, SQLiteStore
from agentkit.store.events import AssistantMessage, RunInfo
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.tools import builtin_tools

runner = CliRunner()
MCP_SERVER = Path(__file__).resolve().parents[1] / "mcp" / "tools_server.py"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo run (agentkit demo: search, fetch, python, pruning), stored in SQLite."""
    work = tmp_path_factory.mktemp("demo")

    async def go() -> str:
        async with SQLiteStore(work / "s.db") as store:
            outcome = await run_demo(work / "out", store, work / "runs")
            assert outcome.result.status == "finished" and outcome.pruned >= 1
            return outcome.result.run_id

    return work / "s.db", anyio.run(go)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_demo_run_replays_identically_and_the_store_is_not_written(demo_store: tuple[Path, str]) -> None:
    path, run_id = demo_store
    before = digest(path)
    report = replay(run_id, store=path)
    assert report.identical and report.divergence is None, report.summary()
    assert report.steps == report.recorded_steps == 6 and report.unrecorded == 0
    assert report.summary() == "replayed 6 steps identically"
    result = runner.invoke(app, ["replay", run_id[:8], "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert f"run {run_id}: replayed 6 steps identically" in result.output
    assert digest(path) == before  # nothing was written to the replayed store


def test_until_stops_after_that_step_and_json_says_so(demo_store: tuple[Path, str]) -> None:
    path, run_id = demo_store
    result = runner.invoke(app, ["replay", run_id, "--until", "2", "--store", str(path), "--json"])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.output)
    assert data["identical"] and data["steps"] == 2 and data["until"] == 2 and data["divergence"] is None


def test_bad_input_is_one_line_and_exit_2(demo_store: tuple[Path, str], tmp_path: Path) -> None:
    path, run_id = demo_store
    unknown = runner.invoke(app, ["replay", "nosuchrun", "--store", str(path)])
    assert unknown.exit_code == 2 and "no run 'nosuchrun'" in unknown.output
    assert "Traceback" not in unknown.output and len(unknown.output.strip().splitlines()) == 1
    out_of_range = runner.invoke(app, ["replay", run_id, "--until", "7", "--store", str(path)])
    assert out_of_range.exit_code == 2 and "--until 7 is out of range: run" in out_of_range.output
    zero = runner.invoke(app, ["replay", run_id, "--until", "0", "--store", str(path)])
    assert zero.exit_code == 2

    async def running() -> None:
        store = MemoryStore()
        await store.create_run(RunInfo(id="busy", task="t"))
        with pytest.raises(ReplayError, match="run busy is running"):
            await replay_async("busy", store=store)

    anyio.run(running)


def demo_agent(keep: int) -> Agent:
    """The demo's configuration, with ``keep_tool_results=keep``: a changed context policy."""
    llm = OpenAICompatibleModel(provider="moonshot", base_url="http://127.0.0.1:9", api_key="never-sent")
    return Agent(
        llm=llm,
        tools=builtin_tools({}),
        context_window=32_768,
        max_tokens=4096,
        keep_tool_results=keep,
        max_steps=20,
    )


def test_a_changed_context_policy_diverges_at_the_first_step_it_changes(demo_store: tuple[Path, str]) -> None:
    path, run_id = demo_store
    assert replay(run_id, store=path, agent=demo_agent(2)).identical  # the demo's own policy
    report = replay(run_id, store=path, agent=demo_agent(1))
    assert report.divergence is not None, report.summary()
    # keep 1 hides the first tool result one step sooner than keep 2 did: step 3's request
    assert report.divergence.step == 3 and report.steps == 2
    assert "first difference at message 6" in report.divergence.what
    assert "hidden" in report.divergence.what and "chars recorded" in report.divergence.what
    assert report.summary().startswith("diverges at step 3: messages:")


def test_a_changed_tool_set_is_named(demo_store: tuple[Path, str]) -> None:
    path, run_id = demo_store

    @tool
    async def extra(term: str) -> str:
        """A tool the run did not have."""
        return term

    agent = demo_agent(2)
    agent.tools.add(extra)
    report = replay(run_id, store=path, agent=agent)
    assert report.divergence is not None and report.divergence.step == 1
    assert "tools: now also extra" in report.divergence.what


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: see the atlas"


def atlas_responder(req: FakeRequest) -> Turn:
    if req.messages[0]["content"].startswith("You combine"):
        return Turn(content="Paris, all agreed.")
    if not req.tools:
        return Turn(content="1. Look it up.\n2. Answer.")
    done = [m for m in req.messages if m["role"] == "tool"]
    if not done:
        return Turn(reasoning="look it up", tool_calls=[call("lookup", term="capital of France")])
    return Turn(content="The answer is Paris.")


def fake_llm(fake: FakeProvider) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(
        provider="moonshot", base_url=fake.base_url, api_key="k", retry=RetryPolicy(initial_backoff=0.001)
    )


@pytest.mark.anyio
async def test_a_heavy_run_replays_each_trajectory(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    with FakeProvider(atlas_responder) as fake:
        async with Agent(llm=fake_llm(fake), tools=[lookup], heavy=3, aggregate="vote", store=store) as agent:
            result = await agent.run("What is the capital of France?")
    assert result.status == "finished"
    report = await replay_async(result.run_id, store=store)
    assert report.identical, report.summary()
    assert len(report.children) == 3 and all(c.steps == 2 for c in report.children)
    assert report.summary() == "replayed 6 steps identically (3 child runs included)"
    assert "the aggregation is not" in report.notes[0]
    await store.aclose()


@tool
async def cite(n: int) -> str:
    """Read part n of the atlas."""
    return f"part {n}: {n * n}"


@pytest.mark.anyio
async def test_a_swarm_run_replays_the_lead_and_its_sub_agents(tmp_path: Path) -> None:
    def respond(req: FakeRequest) -> Turn:
        task = str(req.messages[1]["content"])
        texts = [m for m in req.messages if m["role"] == "tool"]
        if task.startswith("Part "):
            k = int(task.split()[1].rstrip(":"))
            return Turn(tool_calls=[call("cite", n=k)]) if not texts else Turn(content=f"part {k} = {k * k}")
        if not texts:
            subtasks = [{"question": f"Part {k}: read part {k}.", "tools": ["cite"]} for k in range(4)]
            return Turn(reasoning="split it", tool_calls=[call("delegate", subtasks=subtasks)])
        return Turn(content="The parts are 0, 1, 4, 9.")

    store = SQLiteStore(tmp_path / "s.db")
    with FakeProvider(respond) as fake:
        async with Agent(llm=fake_llm(fake), tools=[cite], plan=False, delegate=True, store=store) as agent:
            result = await agent.run("Read the four parts of the atlas.")
    assert result.status == "finished", result.error
    report = await replay_async(result.run_id, store=store)
    assert report.identical, report.summary()
    assert report.steps == 2 and len(report.children) == 4
    assert all(c.identical and c.steps == 2 for c in report.children)
    await store.aclose()


@pytest.mark.anyio
async def test_a_run_with_mcp_tools_replays_without_starting_its_servers(tmp_path: Path) -> None:
    server = tmp_path / "tools_server.py"
    shutil.copy(MCP_SERVER, server)

    def respond(req: FakeRequest) -> Turn:
        done = [m for m in req.messages if m["role"] == "tool"]
        if not done:
            return Turn(reasoning="ask the server", tool_calls=[call("loc__lookup", term="alpha")])
        return Turn(content=f"found: {done[0]['content'][:40]}")

    store = SQLiteStore(tmp_path / "s.db")
    spec = {"name": "loc", "command": sys.executable, "args": [str(server)]}
    with FakeProvider(respond) as fake:
        async with Agent(llm=fake_llm(fake), tools=[], plan=False, store=store, mcp=[spec]) as agent:
            result = await agent.run("Look alpha up.")
    assert result.status == "finished", result.error
    server.unlink()  # the server is gone: a replay that started it would fail
    report = await replay_async(result.run_id, store=store)
    assert report.identical, report.summary()
    assert report.steps == 2
    await store.aclose()


@pytest.mark.anyio
async def test_a_trace_stored_before_requests_were_kept_is_re_driven_and_says_so() -> None:
    store = MemoryStore()
    with FakeProvider(atlas_responder) as fake:
        async with Agent(llm=fake_llm(fake), tools=[lookup], store=store) as agent:
            result = await agent.run("What is the capital of France?")
    old = MemoryStore()  # the same trace as an older agentkit stored it: no `sent` on its turns
    await old.create_run(await store.get_run(result.run_id))
    events = [e.event for e in await store.events(result.run_id)]
    await old.append_many(
        result.run_id, [e.model_copy(update={"sent": None}) if isinstance(e, AssistantMessage) else e for e in events]
    )
    report = await replay_async(result.run_id, store=old)
    assert report.identical and report.steps == 0 and report.unrecorded == 2
    assert "keep no record of their request" in report.notes[0]
