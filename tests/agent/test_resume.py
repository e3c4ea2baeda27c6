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
