"""Resume from a trace built event by event: what the loop does with a half-answered turn."""

from __future__ import annotations

import pytest

from agentkit import Agent, tool
from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.store.events import AssistantMessage, RunInfo, RunStarted, ToolResultEvent
from agentkit.store.memory import MemoryStore
from agentkit.testing import FakeRequest, ScriptedModel, Turn

pytestmark = pytest.mark.anyio


async def test_resume_runs_the_unanswered_call_once_before_the_next_request() -> None:
    """A crash between the two results of one turn: resume runs the missing call exactly once,
    does not run the answered one again, and only then asks the model for the next step."""
    ran: list[str] = []

    @tool
    async def lookup(term: str) -> str:
        """Look a term up."""
        ran.append(term)
        return f"{term} is 42"

    store = MemoryStore()
    calls = [
        ToolCall(id="lookup:0", name="lookup", arguments='{"term": "a"}', parsed={"term": "a"}),
        ToolCall(id="lookup:1", name="lookup", arguments='{"term": "b"}', parsed={"term": "b"}),
    ]
    await store.create_run(RunInfo(id="r1", task="q"))
    await store.append("r1", RunStarted(task="q"))
    await store.append("r1", AssistantMessage(step=1, turn=AssistantTurn(reasoning="two lookups", tool_calls=calls)))
    await store.append("r1", ToolResultEvent(step=1, call_id="lookup:0", name="lookup", text="a is 42"))

    seen_at_request: list[list[str]] = []

    def respond(req: FakeRequest) -> Turn:
        seen_at_request.append(list(ran))
        tool_messages = [m for m in req.messages if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tool_messages] == ["lookup:0", "lookup:1"]
        return Turn(content="a and b are 42")

    agent = Agent(llm=ScriptedModel(respond), tools=[lookup], plan=False, store=store)
    result = await agent.resume("r1")
    assert result.status == "finished" and result.answer == "a and b are 42"
    assert ran == ["b"]  # the missing call ran once; the answered one was not repeated
    assert seen_at_request == [["b"]]  # and it ran before the model was asked again
    results = [e.event for e in await store.events("r1") if isinstance(e.event, ToolResultEvent)]
    assert sorted(r.call_id for r in results) == ["lookup:0", "lookup:1"]


async def _crashed_after(events: list[object], task: str = "q") -> tuple[MemoryStore, str]:
    store = MemoryStore()
    await store.create_run(RunInfo(id="dead", task=task, config={}))
    for event in events:
        await store.append("dead", event)  # type: ignore[arg-type]
    return store, "dead"


async def test_an_answer_committed_before_the_crash_is_not_asked_for_again() -> None:
    from agentkit.store.events import UserMessage

    store, run_id = await _crashed_after(
        [RunStarted(task="q"), AssistantMessage(step=1, turn=AssistantTurn(content="42"))]
    )
    model = ScriptedModel([])  # any request would exhaust it
    result = await Agent(llm=model, store=store, tools=[], plan=False).resume(run_id)
    assert (result.status, result.answer, len(model.requests)) == ("finished", "42", 0)

    final = UserMessage(text="answer now", kind="final_request", reason="max_steps=1")
    call = ToolCall(id="c1", name="lookup", arguments="{}", parsed={})
    store, run_id = await _crashed_after(
        [
            RunStarted(task="q"),
            AssistantMessage(step=1, turn=AssistantTurn(tool_calls=[call])),
            ToolResultEvent(step=1, call_id="c1", name="lookup", text="x", effects=0),
            final,
            AssistantMessage(step=2, turn=AssistantTurn(content="best so far")),
        ]
    )
    result = await Agent(llm=ScriptedModel([]), store=store, tools=[], plan=False).resume(run_id)
    assert (result.status, result.answer, result.stop_reason) == ("stopped", "best so far", "max_steps=1")


async def test_a_run_killed_before_its_first_event_resumes_from_its_row() -> None:
    store, run_id = await _crashed_after([], task="What is six times seven?")
    model = ScriptedModel([Turn(content="42")])
    result = await Agent(llm=model, store=store, tools=[], plan=False).resume(run_id)
    assert (result.status, result.answer) == ("finished", "42")
    assert "six times seven" in str(model.requests[0].messages)
