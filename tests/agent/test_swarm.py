"""The swarm: the delegate tool starts many sub-agents (child runs) from one turn, within a
fan-out cap, a concurrency limit, a depth limit and the run's cost budget; a killed swarm
resumes without running a finished sub-agent twice."""

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

from agentkit import Agent, RetryPolicy, tool
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store import (
    AssistantMessage,
    PlanUpdated,
    RunFinished,
    RunStarted,
    SQLiteStore,
    StatusChanged,
    ToolResultEvent,
)
from agentkit.store.base import Store
from agentkit.store.events import RunInfo, Source, UsageCharged
from agentkit.testing import FakeProvider, FakeRequest, ScriptedModel, Turn, call
from agentkit.tools.base import ToolContext, ToolOutput

pytestmark = pytest.mark.anyio


@tool
async def cite(n: int, ctx: ToolContext) -> ToolOutput:
    """Read part n of the atlas."""
    source = Source(id=f"sp{n}", url=f"https://atlas.example/part/{n}", title=f"Atlas, part {n}")
    await ctx.store.add_source(ctx.run_id, source)
    return ToolOutput(text=f"part {n}: {n * n}", sources=[source.id])


def fake_llm(fake: FakeProvider) -> OpenAICompatibleModel:
    retry = RetryPolicy(initial_backoff=0.001, max_attempts=2)
    # The cost limits below are sized for K2 Thinking's prices (about a fifth of K3's).
    return OpenAICompatibleModel("kimi-k2-thinking", "moonshot", base_url=fake.base_url, api_key="k", retry=retry)


def task_of(req: FakeRequest) -> str:
    return str(req.messages[1]["content"])


def tool_texts(req: FakeRequest) -> list[str]:
    return [str(m["content"]) for m in req.messages if m["role"] == "tool"]


async def results_of(store: Store, run_id: str) -> list[ToolResultEvent]:
    return [e.event for e in await store.events(run_id) if isinstance(e.event, ToolResultEvent)]


def parts(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"question": f"Part {k}: read part {k} of the atlas.", "tools": ["cite"], **extra} for k in range(n)]


def part_worker(req: FakeRequest) -> Turn | None:
    """A sub-agent's turns for 'Part k': read it, then answer citing it."""
    m = re.match(r"Part (\d+):", task_of(req))
    if m is None:
        return None
    k = int(m.group(1))
    if not tool_texts(req):
        return Turn(tool_calls=[call("cite", n=k)])
    return Turn(content=f"part {k} = {k * k} [sp{k}]")


async def test_a_swarm_of_100_sub_agents_from_one_turn() -> None:
    def respond(req: FakeRequest) -> Turn:
        worker = part_worker(req)
        if worker is not None:
            return worker
        done = tool_texts(req)
        if not done:
            return Turn(tool_calls=[call("delegate", subtasks=parts(100))])
        return Turn(content=f"All read. {done[0].count(' = ')} parts [sp7]")

    with FakeProvider(respond, latency_s=0.2) as fake:
        async with Agent(llm=fake_llm(fake), tools=[cite], plan=False, delegate=True) as agent:
            result = await agent.run("Read the whole atlas.", run_id="lead")
        peak = fake.max_in_flight
    store = agent.store
    assert result.status == "finished" and result.answer == "All read. 100 parts [sp7]"
    children = await store.list_runs(parent_id="lead", limit=1000)
    assert len(children) == 100 and all(c.status == "finished" for c in children)
    (delegated,) = await results_of(store, "lead")
    assert {c.id for c in children} == {f"lead.{delegated.call_id.replace(':', '-')}.{k}" for k in range(100)}
    assert all(f"part {k} = {k * k} [sp{k}]" in delegated.text for k in range(100))
    assert peak == 16  # the default concurrency: 16 sub-agents at once, never more
    # their sources are the lead's to cite, and their costs are the lead's
    assert {s.id for s in await store.list_sources("lead")} == {f"sp{k}" for k in range(100)}
    assert sorted(delegated.sources) == sorted(f"sp{k}" for k in range(100))
    own = [e.event.turn for e in await store.events("lead") if isinstance(e.event, AssistantMessage)]
    assert result.usage.calls == 2 + 200
    assert result.cost_usd == pytest.approx(sum(t.cost_usd for t in own) + sum(c.cost_usd for c in children))
    assert min(c.cost_usd for c in children) > 0


async def test_fan_out_cap_per_turn_and_children_per_run_are_clear_tool_errors() -> None:
    def respond(req: FakeRequest) -> Turn:
        worker = part_worker(req)
        if worker is not None:
            return worker
        turns = sum(1 for m in req.messages if m["role"] == "assistant")
        if turns == 0:  # two calls of 3 in one turn, under a cap of 5: the second is refused
            return Turn(tool_calls=[call("delegate", subtasks=parts(3)), call("delegate", subtasks=parts(3))])
        if turns == 1:
            return Turn(tool_calls=[call("delegate", subtasks=parts(3))])  # 6 of 7 in all
        if turns == 2:
            return Turn(tool_calls=[call("delegate", subtasks=parts(2))])  # would be 8 of 7
        return Turn(content="done")

    settings = {"swarm": {"max_per_turn": 5, "max_children": 7}}
    agent = Agent(llm=ScriptedModel(respond), tools=[cite], plan=False, delegate=True, settings=settings)
    result = await agent.run("Read the atlas.", run_id="lead")
    assert result.status == "finished"
    first, second, third, fourth = sorted(await results_of(agent.store, "lead"), key=lambda r: (r.step, r.call_id))
    assert not first.is_error and "3 sub-agents: 3 finished" in first.text
    assert second.is_error and "at most 5 may start in one turn (swarm.max_per_turn)" in second.text
    assert "this turn asks for 6 sub-agents" in second.text and "Nothing was started" in second.text
    assert not third.is_error
    assert fourth.is_error and "may start 7 in all (swarm.max_children)" in fourth.text
    assert len(await agent.store.list_runs(parent_id="lead")) == 6


async def test_sub_agents_nest_to_the_depth_limit_and_no_deeper() -> None:
    seen: dict[str, list[list[str]]] = {}

    def respond(req: FakeRequest) -> Turn:
        task = task_of(req)
        role = task.split(":")[0]
        seen.setdefault(role, []).append(req.tool_names)
        done = tool_texts(req)
        if role == "LEAF":
            return Turn(content="leaf fact")
        if role == "MID":
            if "delegate" not in req.tool_names:
                return Turn(content="mid alone")
            if not done:  # asks for a delegating grandchild: refused at max_depth=2
                return Turn(tool_calls=[call("delegate", question="LEAF: find it", tools=["cite", "delegate"])])
            if len(done) == 1:
                return Turn(tool_calls=[call("delegate", question="LEAF: find it")])
            return Turn(content="mid: " + done[-1].splitlines()[1])
        if not done:
            return Turn(tool_calls=[call("delegate", question="MID: research it")])
        return Turn(content="lead: " + done[0].splitlines()[1])

    agent = Agent(llm=ScriptedModel(respond), tools=[cite], plan=False, delegate=True)
    result = await agent.run("LEAD: the question", run_id="lead")
    assert result.answer == "lead: mid: leaf fact"
    (mid,) = await agent.store.list_runs(parent_id="lead")
    (leaf,) = await agent.store.list_runs(parent_id=mid.id)
    assert await agent.store.list_runs(parent_id=leaf.id) == []
    refused = (await results_of(agent.store, mid.id))[0]
    assert refused.is_error and "'delegate' is not available to it" in refused.text
    assert "at depth 2, the deepest allowed (swarm.max_depth=2)" in refused.text
    assert all("delegate" in names for names in seen["MID"])
    assert all("delegate" not in names and "cite" in names for names in seen["LEAF"])

    # max_depth=1: only the lead delegates; its sub-agent is not offered the tool
    seen.clear()
    one = Agent(
        llm=ScriptedModel(respond), tools=[cite], plan=False, delegate=True, settings={"swarm": {"max_depth": 1}}
    )
    result = await one.run("LEAD: the question", run_id="lead")
    assert all("delegate" not in names for names in seen["MID"])
    assert result.answer == "lead: mid alone"


async def test_a_bad_swarm_section_fails_when_the_agent_is_built() -> None:
    with pytest.raises(ValueError, match=r"swarm\.concurrency"):
        Agent(llm=ScriptedModel([]), plan=False, delegate=True, settings={"swarm": {"concurrency": 0}})


async def test_subtask_tools_are_checked_against_the_parents() -> None:
    def respond(req: FakeRequest) -> Turn:
        if not tool_texts(req):
            return Turn(tool_calls=[call("delegate", subtasks=[{"question": "Part 1: x", "tools": ["browse"]}])])
        return Turn(content="done")

    agent = Agent(llm=ScriptedModel(respond), tools=[cite], plan=False, delegate=True)
    await agent.run("q", run_id="lead")
    (refused,) = await results_of(agent.store, "lead")
    assert refused.is_error and "subtask 1: unknown tool 'browse' (yours: cite, delegate)" in refused.text
    assert await agent.store.list_runs(parent_id="lead") == []


async def test_costs_aggregate_into_the_budget_and_the_cost_limit_stops_the_swarm() -> None:
    def respond(req: FakeRequest) -> Turn:
        worker = part_worker(req)
        if worker is not None:
            return worker
        if not tool_texts(req):
            return Turn(tool_calls=[call("delegate", subtasks=parts(20))])
        return Turn(content="done")

    limit = 0.008  # the lead's first turn costs ~$0.0013, each sub-agent ~$0.0004
    with FakeProvider(respond) as fake:
        llm = fake_llm(fake)
        settings = {"swarm": {"concurrency": 1}}
        async with Agent(
            llm=llm, tools=[cite], plan=False, delegate=True, max_cost_usd=limit, settings=settings
        ) as agent:
            result = await agent.run("Read the atlas.", run_id="lead")
    store = agent.store
    children = await store.list_runs(parent_id="lead", limit=100)
    (delegated,) = await results_of(store, "lead")
    assert 5 < len(children) < 20  # the budget ran out part-way through the swarm
    assert delegated.text.count("not started: the run's cost limit (max_cost_usd=0.008) is spent") == 20 - len(children)
    assert result.status == "stopped" and "max_cost_usd" in (result.stop_reason or "")
    own = [e.event.turn for e in await store.events("lead") if isinstance(e.event, AssistantMessage)]
    charged = [e.event for e in await store.events("lead") if isinstance(e.event, UsageCharged)]
    assert sorted(c.child_run or "" for c in charged) == sorted(c.id for c in children)
    spent = sum(t.cost_usd for t in own) + sum(c.cost_usd for c in children)
    assert result.cost_usd == pytest.approx(spent) and spent <= limit


async def test_a_sub_agent_keeps_within_its_cost_share() -> None:
    def respond(req: FakeRequest) -> Turn:
        worker = part_worker(req)
        if worker is not None:
            return worker
        if not tool_texts(req):
            shares = [*parts(1, max_cost_usd=0.0005), *parts(2)[1:]]
            return Turn(tool_calls=[call("delegate", subtasks=shares)])
        return Turn(content="done")

    with FakeProvider(respond) as fake:
        async with Agent(llm=fake_llm(fake), tools=[cite], plan=False, delegate=True) as agent:
            await agent.run("Read the atlas.", run_id="lead")
    poor, rich = sorted(await agent.store.list_runs(parent_id="lead"), key=lambda r: r.id)
    assert poor.status == "stopped" and "max_cost_usd" in (poor.stop_reason or "") and poor.cost_usd <= 0.0005
    assert rich.status == "finished" and rich.answer == "part 1 = 1 [sp1]"


async def test_a_child_killed_before_its_first_event_is_started_on_resume() -> None:
    """A kill between creating a child's row and writing its first event leaves a run with no
    task: the replayed call must start it on its subtask, not drive an empty run."""

    def respond(req: FakeRequest) -> Turn:
        worker = part_worker(req)
        if worker is not None:
            return worker
        if not tool_texts(req):
            return Turn(tool_calls=[call("delegate", subtasks=parts(2))])
        return Turn(content="done")

    agent = Agent(llm=ScriptedModel(respond), tools=[cite], plan=False, delegate=True)
    await agent.store.create_run(RunInfo(id="lead.delegate-0.1", task="", parent_id="lead", label="delegate"))
    await agent.run("Read the atlas.", run_id="lead")
    (delegated,) = await results_of(agent.store, "lead")
    assert "part 0 = 0 [sp0]" in delegated.text and "part 1 = 1 [sp1]" in delegated.text
    events = [e.event for e in await agent.store.events("lead.delegate-0.1")]
    assert isinstance(events[0], RunStarted) and events[0].task.startswith("Part 1:")


async def test_heavy_trajectories_delegate_to_swarms_of_their_own() -> None:
    def respond(req: FakeRequest) -> Turn:
        worker = part_worker(req)
        if worker is not None:
            return worker
        done = tool_texts(req)
        if not done:
            return Turn(tool_calls=[call("delegate", subtasks=parts(3))])
        squares = re.findall(r"part \d+ = (\d+) ", done[0])
        return Turn(content=f"sum={sum(int(v) for v in squares)}")

    agent = Agent(llm=ScriptedModel(respond), tools=[cite], plan=False, delegate=True, heavy=2, aggregate="vote")
    result = await agent.run("Add the squares of parts 0-2.", run_id="heavy")
    assert result.status == "finished" and result.answer == "sum=5"
    store = agent.store
    trajectories = sorted(await store.list_runs(parent_id="heavy"), key=lambda r: r.id)
    assert [t.id for t in trajectories] == ["heavy.0", "heavy.1"]
    for t in trajectories:
        children = await store.list_runs(parent_id=t.id)
        assert sorted(c.id for c in children) == [f"{t.id}.delegate-0.{k}" for k in range(3)]
        assert t.cost_usd == pytest.approx(
            sum(e.event.turn.cost_usd for e in await store.events(t.id) if isinstance(e.event, AssistantMessage))
            + sum(c.cost_usd for c in children)
        )
    assert result.cost_usd == pytest.approx(sum(t.cost_usd for t in trajectories))


async def test_the_schema_the_model_reads_is_plain_and_bad_arguments_say_where() -> None:
    def respond(req: FakeRequest) -> Turn:
        if not tool_texts(req):
            return Turn(tool_calls=[call("delegate", subtasks=[{"question": "Part 1: x", "max_steps": 0}])])
        return Turn(content="done")

    agent = Agent(llm=ScriptedModel(respond), tools=[cite], plan=False, delegate=True)
    schema = agent.tools.get("delegate").schema  # type: ignore[union-attr]
    text = json.dumps(schema)
    assert "$ref" not in text and "null" not in text and "anyOf" not in text  # not every provider reads them
    subtask = schema["function"]["parameters"]["properties"]["subtasks"]["items"]
    assert subtask["required"] == ["question"] and set(subtask["properties"]) == {
        "question",
        "context",
        "tools",
        "max_steps",
        "max_cost_usd",
    }
    await agent.run("q", run_id="lead")
    (refused,) = await results_of(agent.store, "lead")
    assert refused.is_error and "- subtasks.0.max_steps: Input should be greater than or equal to 1" in refused.text


# -- kill -9 mid-swarm, then resume: no sub-agent runs twice ---------------------------------

SWARM = 12


def swarm_responder(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Split the work.\n2. Answer.")  # every run's plan
    m = re.match(r"Part (\d+):", task_of(req))
    if m is not None:
        k = int(m.group(1))
        return Turn(content=f"part {k} = {k * k}")
    done = tool_texts(req)
    if not done:
        subtasks = [{"question": f"Part {k}: square {k}."} for k in range(SWARM)]
        return Turn(tool_calls=[call("delegate", subtasks=subtasks)])
    squares = re.findall(r"part \d+ = (\d+)", done[0])
    return Turn(content=f"total={sum(int(v) for v in squares)}")


async def _swarm_state(db: Path) -> tuple[str | None, set[str], set[str], set[str]]:
    """The lead run, its children that finished, those part-way (planned, not finished) and
    those started and not finished."""
    store = SQLiteStore(db)
    try:
        leads = await store.list_runs()
        if not leads:
            return None, set(), set(), set()
        finished, midway, started = set(), set(), set()
        for child in await store.list_runs(parent_id=leads[0].id):
            events = [e.event for e in await store.events(child.id)]
            if any(isinstance(e, RunFinished) for e in events):
                finished.add(child.id)
                continue
            if any(isinstance(e, RunStarted) for e in events):
                started.add(child.id)
            if any(isinstance(e, PlanUpdated) for e in events):
                midway.add(child.id)
        return leads[0].id, finished, midway, started
    finally:
        await store.aclose()


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    command = [sys.executable, "-m", "agentkit", *args]
    return subprocess.Popen(command, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_mid_swarm_then_resume_runs_no_sub_agent_twice(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with FakeProvider(swarm_responder, latency_s=0.3) as fake:
        task = tmp_path / "task.yaml"
        task.write_text(
            "task: 'Square the numbers 0 to 11 and add them up.'\n"
            f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
            "tools: [delegate]\nswarm: {concurrency: 3}\noutput: {report: false}\n"
        )
        proc = cli("run", str(task), "--store", str(db), "--json", cwd=tmp_path)
        # SIGKILL once 4 sub-agents have finished and another is part-way (an event in the store)
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the swarm did not get part-way in 120 s"
            try:
                lead, finished, midway, _ = anyio.run(_swarm_state, db)
            except Exception:  # the other process is creating the store
                lead, finished, midway = None, set(), set()
            if len(finished) >= 4 and midway:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # what the dead process left (a child seen part-way may have finished before the kill
        # landed, but its place was taken by the next one: some child is always cut off)
        lead, finished, midway, interrupted = anyio.run(_swarm_state, db)
        assert lead is not None and 4 <= len(finished) < SWARM and interrupted
        seen = len(fake.requests)
        proc = cli("resume", lead, "--store", str(db), "--json", cwd=tmp_path)
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-3000:]
        assert f'"answer": "total={sum(k * k for k in range(SWARM))}"' in out
        assert fake.errors == []
        after = fake.requests[seen:]
        requests = fake.requests

    async def children() -> dict[str, list[object]]:
        store = SQLiteStore(db)
        try:
            runs = await store.list_runs(parent_id=lead)
            assert len(await store.list_runs()) == 1  # one lead, no second top-level run
            return {r.id: [e.event for e in await store.events(r.id)] for r in [*runs, await store.get_run(lead)]}
        finally:
            await store.aclose()

    traces = anyio.run(children)
    charged = {e.child_run: e.usage.calls for e in traces.pop(lead) if isinstance(e, UsageCharged)}
    assert len(traces) == SWARM  # one child run per subtask, none started twice
    calls = {
        c: sum(e.turn.usage.calls for e in t if isinstance(e, AssistantMessage | PlanUpdated))
        for c, t in traces.items()
    }
    assert charged == calls  # each child's calls charged to the lead once, the reused ones too
    for child_id, events in traces.items():
        assert sum(isinstance(e, RunStarted) for e in events) == 1, child_id
        assert sum(isinstance(e, RunFinished) for e in events) == 1, child_id
        assert sum(isinstance(e, PlanUpdated) for e in events) == 1, child_id  # resumed, not started over
    index = {c.rsplit(".", 1)[1]: c for c in traces}

    def asked_by(req: FakeRequest) -> str | None:
        m = re.match(r"Part (\d+):", task_of(req))
        return index[str(m.group(1))] if m else None

    for child_id in finished:  # finished before the kill: read back, never asked again
        assert not [r for r in after if asked_by(r) == child_id], child_id
    for child_id in interrupted:  # cut off: resumed, not started again
        events = traces[child_id]
        assert any(isinstance(e, StatusChanged) and e.reason == "resumed" for e in events), child_id
    for child_id in midway:  # its plan was kept: not planned again
        assert sum(1 for r in requests if asked_by(r) == child_id and not r.tools) == 1, child_id
