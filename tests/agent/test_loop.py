"""The planner-executor loop with a scripted model (in process)."""

from __future__ import annotations

import pytest

from agentkit import Agent, AgentEvent, tool
from agentkit.store.events import AssistantMessage, PlanUpdated, ToolResultEvent, UserMessage
from agentkit.testing import FakeToolCall, HttpError, ScriptedModel, Turn, call

pytestmark = pytest.mark.anyio


@tool
async def lookup(term: str) -> str:
    """Look up a term."""
    return f"{term} is 42"


def agent(script: list[object], **kw: object) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(script)  # type: ignore[arg-type]
    kw.setdefault("tools", [lookup])
    return Agent(llm=model, **kw), model  # type: ignore[arg-type]


async def test_plan_execute_answer_with_events() -> None:
    events: list[AgentEvent] = []
    a, model = agent(
        [
            Turn(content="1. Look up x.\n2. Answer."),
            Turn(reasoning="need x", tool_calls=[call("lookup", term="x"), call("lookup", term="y")]),
            Turn(content="x is 42 [S1]."),
        ],
        on_event=events.append,
    )
    result = await a.run("What is x?")
    assert result.status == "finished" and result.answer == "x is 42 [S1]."
    assert result.steps == 2 and result.tool_calls == 2 and result.plan.startswith("1. Look up x")
    planning, first, second = model.requests
    assert planning.tools == [] and "numbered plan" in planning.messages[-1]["content"]
    assert [m["role"] for m in first.messages] == ["system", "user", "assistant", "user"]
    assert "Plan:\n1. Look up x." in first.messages[2]["content"]
    assert {t["function"]["name"] for t in first.tools} == {"lookup", "update_plan", "note"}
    tool_msgs = [m for m in second.messages if m["role"] == "tool"]
    assert [m["content"] for m in tool_msgs] == ["x is 42", "y is 42"]
    assistant = next(m for m in second.messages if m.get("tool_calls"))
    assert assistant["reasoning_content"] == "need x"  # reasoning goes back on tool-call turns
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_began" and kinds[-1] == "run_ended"
    for k in ("turn_started", "reasoning_delta", "tool_call", "tool_result", "usage"):
        assert k in kinds
    stored = [e.event for e in await a.store.events(result.run_id)]
    assert isinstance(stored[1], PlanUpdated)
    assert sum(isinstance(e, ToolResultEvent) for e in stored) == 2


async def test_update_plan_keeps_the_latest_plan_visible() -> None:
    a, model = agent(
        [
            Turn(content="1. a"),
            Turn(tool_calls=[call("update_plan", plan="1. b\n2. c", reason="found b")]),
            Turn(content="done"),
        ]
    )
    result = await a.run("task")
    assert result.plan == "1. b\n2. c"
    assert "Plan updated:\n1. b\n2. c" in "\n".join(str(m.get("content")) for m in model.requests[-1].messages)


async def test_max_steps_asks_once_for_a_final_answer_and_stops() -> None:
    looping = [Turn(tool_calls=[call("lookup", term=str(i))]) for i in range(3)]
    a, model = agent([*looping, Turn(content="best guess: 42")], max_steps=3, plan=False)
    result = await a.run("task")
    assert result.status == "stopped" and result.stop_reason == "max_steps=3"
    assert result.answer == "best guess: 42"
    final = model.requests[-1]
    assert final.tool_choice == "none" and "step limit" in final.messages[-1]["content"]
    events = [e.event for e in await a.store.events(result.run_id)]
    assert any(isinstance(e, UserMessage) and e.kind == "final_request" for e in events)


async def test_final_turn_with_tool_calls_leaves_none_unanswered() -> None:
    a, _ = agent(
        [Turn(tool_calls=[call("lookup", term="a")]), Turn(content="partial", tool_calls=[call("lookup", term="b")])],
        max_steps=1,
        plan=False,
    )
    result = await a.run("task")
    assert result.status == "stopped" and result.answer == "partial"
    events = [e.event for e in await a.store.events(result.run_id)]
    calls = [c.id for e in events if isinstance(e, AssistantMessage) for c in e.turn.tool_calls]
    answered = [e.call_id for e in events if isinstance(e, ToolResultEvent)]
    assert sorted(calls) == sorted(answered)


async def test_malformed_arguments_go_back_to_the_model() -> None:
    a, model = agent(
        [
            Turn(tool_calls=[FakeToolCall("lookup", '{"term": "x')]),
            Turn(tool_calls=[call("lookup", term="x")]),
            Turn(content="ok"),
        ],
        plan=False,
    )
    result = await a.run("task")
    assert result.answer == "ok"
    first_result = next(m for m in model.requests[1].messages if m["role"] == "tool")
    assert "Could not parse the arguments of lookup" in first_result["content"]


async def test_model_error_fails_the_run_clearly() -> None:
    a, _ = agent([Turn(tool_calls=[call("lookup", term="x")]), HttpError(404, "model not found")], plan=False)
    result = await a.run("task")
    assert result.status == "failed"
    assert "404" in (result.error or "") and "model not found" in (result.error or "")
    row = await a.store.get_run(result.run_id)
    assert row.status == "failed" and row.steps == 1


async def test_broken_event_handler_does_not_kill_the_run() -> None:
    def bad(_: AgentEvent) -> None:
        raise RuntimeError("display crashed")

    a, _ = agent([Turn(content="fine")], plan=False, on_event=bad)
    assert (await a.run("task")).answer == "fine"
