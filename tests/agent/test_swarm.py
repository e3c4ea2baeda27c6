"""The swarm: the delegate tool starts many sub-agents (child runs) from one turn, within a
fan-out cap, a concurrency limit, a depth limit and the run's cost budget; a killed swarm
resumes without running a finished sub-agent twice."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agentkit import Agent, RetryPolicy, tool
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store import AssistantMessage, ToolResultEvent
from agentkit.store.base import Store
from agentkit.store.events import Source, UsageCharged
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
    return OpenAICompatibleModel(provider="moonshot", base_url=fake.base_url, api_key="k", retry=retry)


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
