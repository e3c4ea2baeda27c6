"""A resumed run continues its trace: same trace id, a new ``invoke_agent`` span linked to the
one before, no span made twice for events exported before, and every span that was not
(its process died, the collector refused it) made by the process that resumes."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider

from agentkit import Agent, telemetry, tool
from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.store.events import AssistantMessage, RunInfo, RunStarted, StatusChanged, ToolResultEvent
from agentkit.store.memory import MemoryStore
from agentkit.telemetry._ids import span_id_of, trace_id_of
from agentkit.telemetry._ledger import NAMESPACE
from agentkit.telemetry._spans import DIED
from agentkit.testing import FakeProvider, FakeRequest, ScriptedModel, Turn, call
from tests.telemetry.conftest import Spans
from tests.telemetry.receiver import OtlpReceiver

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
    """A crash leaves a session with no end event, and spans its process never exported: the
    resuming process exports them (the session's span ends at its last event), then continues
    in a new session."""
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
    # what the dead process committed (a turn, a result) is exported now, under its session
    assert sorted(s.name for s in spans.all) == [
        "chat m",
        "chat m",
        "execute_tool lookup",
        "execute_tool lookup",
        "invoke_agent agentkit",
        "invoke_agent agentkit",
    ]
    assert not [i for i, n in Counter(s.context.span_id for s in spans.all).items() if n > 1]
    under = {
        (s.attributes or {})["gen_ai.tool.call.id"]: s.parent.span_id if s.parent else None
        for s in spans.named("execute_tool")
    }
    assert under == {"lookup:0": dead.context.span_id, "lookup:1": resumed.context.span_id}
    first_chat, last_chat = sorted(spans.named("chat"), key=lambda s: s.end_time or 0)
    assert first_chat.parent and first_chat.parent.span_id == dead.context.span_id
    assert last_chat.parent and last_chat.parent.span_id == resumed.context.span_id


def traced() -> TracerProvider:
    """Tracing as a new process starts it from the OTEL_* variables (agentkit's provider and
    exporter, a ledger of its own)."""
    telemetry.instrument()
    (tracer,) = telemetry.run_observers()
    provider = getattr(tracer, "provider", None)
    assert isinstance(provider, TracerProvider)
    return provider


async def interrupted(store: MemoryStore, fake: FakeProvider) -> str:
    """A run traced by one "process", interrupted while its tool runs; its id."""
    tool_started = anyio.Event()

    @tool
    async def lookup(term: str) -> str:
        """Look a term up (never returns: the run is interrupted meanwhile)."""
        tool_started.set()
        await anyio.sleep_forever()
        return term

    provider = traced()
    try:
        agent = Agent(provider="custom", base_url=fake.base_url, tools=[lookup], store=store)
        async with agent, anyio.create_task_group() as tg:
            tg.start_soon(agent.run, "What is x?")
            await tool_started.wait()
            tg.cancel_scope.cancel()
    finally:
        telemetry.uninstrument()
        provider.shutdown()
    (info,) = await store.list_runs()
    return info.id


async def resumed(store: MemoryStore, fake: FakeProvider, run_id: str) -> None:
    """The run resumed by another "process" (a fresh tracer) to its end."""

    @tool
    async def lookup(term: str) -> str:
        """Look a term up."""
        return f"{term} is 42"

    provider = traced()
    try:
        async with Agent(provider="custom", base_url=fake.base_url, tools=[lookup], store=store) as agent:
            result = await agent.resume(run_id)
    finally:
        telemetry.uninstrument()
        provider.shutdown()
    assert result.status == "finished"


ALL_SPANS = [*["chat kimi-k3"] * 3, "execute_tool lookup", *["invoke_agent agentkit"] * 2]


async def test_spans_a_collector_refused_are_exported_by_the_process_that_resumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The collector refused every span of the first session (the exporter gives a refused
    batch up): nothing was counted as exported, so the next process to drive the run exports
    them, then its own; each span once."""
    store = MemoryStore()
    with OtlpReceiver() as receiver, FakeProvider(respond) as fake:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
        receiver.refuse = True
        run_id = await interrupted(store, fake)
        assert receiver.refused and not receiver.spans()
        receiver.refuse = False
        await resumed(store, fake, run_id)
    spans = receiver.spans()
    assert sorted(s.name for s in spans) == ALL_SPANS
    assert not [i for i, n in Counter(s.span_id for s in spans).items() if n > 1]
    first, second = sorted((s for s in spans if s.name.startswith("invoke_agent")), key=lambda s: s.start_ns)
    assert first.span_id == span_id_of(run_id, 1) and first.attributes["agentkit.run.status"] == "interrupted"
    assert second.links == [first.span_id]
    plan, step1, step2 = sorted((s for s in spans if s.name.startswith("chat")), key=lambda s: s.end_ns)
    assert plan.parent_id == step1.parent_id == first.span_id and step2.parent_id == second.span_id


async def test_a_span_exported_but_not_yet_counted_is_exported_again_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process that dies between its exporter's success and writing the watermark: the next
    one exports those spans again, with the same ids, times and attributes (a backend keying
    spans by id keeps one), never zero times."""
    store = MemoryStore()
    with OtlpReceiver() as receiver, FakeProvider(respond) as fake:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
        run_id = await interrupted(store, fake)
        before = receiver.spans()
        assert sorted(s.name for s in before) == [*["chat kimi-k3"] * 2, "invoke_agent agentkit"]
        assert await store.get_cached(NAMESPACE, f"exported:{run_id}")  # counted: ...
        await store.put_cached(NAMESPACE, f"exported:{run_id}", b"0")  # ... or, had it died first, not
        await resumed(store, fake, run_id)
    spans = receiver.spans()
    assert sorted(s.name for s in spans) == sorted([*ALL_SPANS, *(s.name for s in before)])
    again = [s for s in spans[len(before) :] if s.span_id in {b.span_id for b in before}]
    assert len(again) == len(before)
    for old in before:
        (new,) = [s for s in again if s.span_id == old.span_id]
        assert (new.name, new.parent_id, new.start_ns, new.end_ns, new.attributes, new.links) == (
            old.name,
            old.parent_id,
            old.start_ns,
            old.end_ns,
            old.attributes,
            old.links,
        )
