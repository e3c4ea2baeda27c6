"""A resumed run continues its trace: same trace id, a new ``invoke_agent`` span linked to the
one before, and no span made twice for events exported before."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

from agentkit import Agent, tool
from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.store.events import AssistantMessage, RunInfo, RunStarted, StatusChanged, ToolResultEvent
from agentkit.store.memory import MemoryStore
from agentkit.telemetry._ids import span_id_of, trace_id_of
from agentkit.telemetry._spans import DIED
from agentkit.testing import FakeProvider, FakeRequest, ScriptedModel, Turn, call
from tests.telemetry.conftest import Spans

pytestmark = pytest.mark.anyio


def respond(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Look it up.")
    if not any(m["role"] == "tool" for m in req.messages):
        return Turn(reasoning="look it up", tool_calls=[call("lookup", term="x")])
    return Turn(content="x is 42")


async def test_an_interrupted_run_resumed_continues_its_trace_without_repeating_spans(spans: Spans) -> None:
    store = MemoryStore()
    tool_started = anyio.Event()

    @tool
    async def lookup(term: str) -> str:
        """Look a term up (the first time: never returns, the run is interrupted meanwhile)."""
        tool_started.set()
        await anyio.sleep_forever()
        return term

    @tool(name="lookup")
    async def quick_lookup(term: str) -> str:
        """Look a term up."""
        return f"{term} is 42"

    with FakeProvider(respond) as fake:
        agent = Agent(provider="custom", base_url=fake.base_url, tools=[lookup], store=store)
        async with agent, anyio.create_task_group() as tg:
            tg.start_soon(agent.run, "What is x?")
            await tool_started.wait()  # the turn with the call is committed: interrupt now
            tg.cancel_scope.cancel()
        (info,) = await store.list_runs()
        assert info.status == "interrupted"
        before = {s.context.span_id: s.name for s in spans.all}
        assert sorted(before.values()) == ["chat kimi-k3"] * 2 + ["invoke_agent agentkit"]

        async with Agent(provider="custom", base_url=fake.base_url, tools=[quick_lookup], store=store) as agent:
            result = await agent.resume(info.id)
    assert result.status == "finished" and result.answer == "x is 42"

    events = await store.events(info.id)
    resumed_at = next(e.seq for e in events if isinstance(e.event, StatusChanged) and e.event.status == "running")
    assert {s.context.trace_id for s in spans.all} == {trace_id_of(info.id)}
    assert not [i for i, n in Counter(s.context.span_id for s in spans.all).items() if n > 1]  # nothing twice
    first, second = sorted(spans.named("invoke_agent"), key=lambda s: s.start_time or 0)
    assert first.context.span_id == span_id_of(info.id, 1)
    assert second.context.span_id == span_id_of(info.id, resumed_at)
    assert (first.attributes or {})["agentkit.run.status"] == "interrupted"
    assert (second.attributes or {})["agentkit.run.resumed"] is True
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    # the resumed process made only the spans of what it committed: the tool call it ran
    # again and the last model call, under its own agent span
    after = [s for s in spans.all if s.context.span_id not in before]
    assert sorted(s.name for s in after) == ["chat kimi-k3", "execute_tool lookup", "invoke_agent agentkit"]
    assert all(s.parent and s.parent.span_id == second.context.span_id for s in after if s is not second)


async def test_a_run_whose_process_died_gets_that_stretch_closed_by_the_resume(spans: Spans) -> None:
    """A crash leaves a session with no end event (nothing exported its span): the resuming
    process exports it, ending at the session's last event, then continues in a new one."""
    store = MemoryStore()
    calls = [
        ToolCall(id="lookup:0", name="lookup", arguments='{"term": "a"}', parsed={"term": "a"}),
        ToolCall(id="lookup:1", name="lookup", arguments='{"term": "b"}', parsed={"term": "b"}),
    ]
    await store.create_run(RunInfo(id="r1", task="q"))
    await store.append("r1", RunStarted(task="q", config={"provider": "custom", "model": "m"}))
    await store.append("r1", AssistantMessage(step=1, turn=AssistantTurn(reasoning="two", tool_calls=calls)))
    last = ToolResultEvent(step=1, call_id="lookup:0", name="lookup", text="a is 42")
    await store.append("r1", last)

    @tool
    async def lookup(term: str) -> str:
        """Look a term up."""
        return f"{term} is 42"

    agent = Agent(llm=ScriptedModel([Turn(content="a and b are 42")]), tools=[lookup], plan=False, store=store)
    result = await agent.resume("r1")
    assert result.status == "finished"

    dead, resumed = sorted(spans.named("invoke_agent"), key=lambda s: s.start_time or 0)
    assert dead.context.span_id == span_id_of("r1", 1) and dead.end_time == int(last.ts * 1e9)
    assert (dead.attributes or {})["agentkit.run.stop_reason"] == DIED
    assert [link.context.span_id for link in resumed.links] == [dead.context.span_id]
    assert {s.context.trace_id for s in spans.all} == {trace_id_of("r1")}
    # the turn and result committed by the dead process are its spans to make, not ours
    assert sorted(s.name for s in spans.all) == [
        "chat m",
        "execute_tool lookup",
        "invoke_agent agentkit",
        "invoke_agent agentkit",
    ]
    (tool_span,) = spans.named("execute_tool")
    assert (tool_span.attributes or {})["gen_ai.tool.call.id"] == "lookup:1"
