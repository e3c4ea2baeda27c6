"""Tool effects (a revised plan, a note, a sub-agent's cost, a Python cell, a figure) are typed
trace events committed just before their call's result, and the fold applies them by type.
Traces stored before keep folding the same; a crash between the effects and the result
neither loses nor doubles them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from agentkit import Agent
from agentkit.llm.types import AssistantTurn, ToolCall, Usage
from agentkit.store import SQLiteStore
from agentkit.store.events import (
    AssistantMessage,
    CellExecuted,
    FigureProduced,
    NoteAdded,
    PlanUpdated,
    RunInfo,
    RunStarted,
    StatusChanged,
    ToolResultEvent,
    TraceEvent,
    UsageCharged,
)
from agentkit.store.fold import RunState, load_state
from agentkit.testing import FakeRequest, ScriptedModel, Turn, call

pytestmark = pytest.mark.anyio

SUB_QUESTION = "sub-question: how many moons has Mars?"


def respond(req: FakeRequest) -> Turn:
    """Lead: plan; revise it, note a finding and delegate in one turn; two lookups; answer.
    The sub-agent plans and answers."""
    if req.messages[1]["content"].startswith(SUB_QUESTION):
        return Turn(content="1. Recall.") if not req.tools else Turn(content="Mars has 2 moons.")
    if not req.tools:
        return Turn(content="1. Look it up.\n2. Answer.")
    turns = sum(1 for m in req.messages if m["role"] == "assistant" and m.get("tool_calls"))
    if turns == 0:
        return Turn(
            reasoning="revise, note, delegate",
            tool_calls=[
                call("update_plan", plan="1. Ask a sub-agent.\n2. Answer.", reason="a sub-agent can do it"),
                call("note", text="Phobos and Deimos [S1]"),
                call("delegate", question=SUB_QUESTION),
            ],
        )
    if turns < 3:
        return Turn(reasoning=f"lookup {turns}", tool_calls=[call("note", text=f"lookup {turns}")])
    return Turn(content="Mars has two moons.")


def make_agent(store: SQLiteStore) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(respond)
    # keep_tool_results=1 prunes by count, so the view pins the plan and notes of the fold.
    return Agent(llm=model, tools=[], store=store, delegate=True, keep_tool_results=1), model


def lead_requests(model: ScriptedModel) -> list[bytes]:
    """The lead's execution requests, as the bytes sent."""
    return [
        orjson.dumps(r.messages)
        for r in model.requests
        if r.tools and not str(r.messages[1]["content"]).startswith(SUB_QUESTION)
    ]


async def trace(store: SQLiteStore, run_id: str) -> list[TraceEvent]:
    return [s.event for s in await store.events(run_id)]


async def test_effects_are_trace_events_just_before_their_result(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "t.db") as store:
        agent, _ = make_agent(store)
        result = await agent.run("How many moons has Mars?")
        assert result.status == "finished"
        events = await trace(store, result.run_id)
        child = next(r for r in await store.list_runs(parent_id=result.run_id))
        results = [(i, e) for i, e in enumerate(events) if isinstance(e, ToolResultEvent)]
        assert len(results) == 5
        for i, res in results:
            assert res.effects is not None and res.effects >= 1
            effects = events[i - res.effects : i]
            assert all(getattr(e, "call_id", None) == res.call_id for e in effects), (res, effects)
            assert not {"plan", "note", "usage", "cost_usd"} & set(res.meta)
            if res.name == "update_plan":
                [plan] = effects
                assert isinstance(plan, PlanUpdated) and plan.reason == "update"
                assert plan.plan == "1. Ask a sub-agent.\n2. Answer." and plan.explanation == "a sub-agent can do it"
            elif res.name == "delegate":
                [usage] = effects
                assert isinstance(usage, UsageCharged) and usage.phase == "delegate"
                assert usage.child_run == child.id == res.meta["child_run"]
                assert usage.cost_usd == child.cost_usd > 0 and usage.usage == child.usage
            else:
                assert [type(e) for e in effects] == [NoteAdded]
        state = await load_state(store, result.run_id)
        assert state.plan == "1. Ask a sub-agent.\n2. Answer."
        assert state.notes == ["Phobos and Deimos [S1]", "lookup 1", "lookup 2"]
        assert state.cost_usd == pytest.approx(result.cost_usd)
        assert result.usage.calls == 7  # the lead's plan and 4 turns, the sub-agent's plan and answer
        own = sum(e.turn.cost_usd for e in events if isinstance(e, AssistantMessage | PlanUpdated) and e.turn)
        assert state.cost_usd == pytest.approx(own + child.cost_usd)  # the sub-agent charged once


def crash_points(events: list[TraceEvent]) -> list[int]:
    """Every prefix length that ends inside the tool phase of the first turn with tools: after
    any effect or result of its calls, before the next model turn."""
    first = next(i for i, e in enumerate(events) if isinstance(e, AssistantMessage))
    end = next(i for i, e in enumerate(events) if i > first and not isinstance(e, (ToolResultEvent, *EFFECTS)))
    return list(range(first + 2, end + 1))


EFFECTS = (PlanUpdated, NoteAdded, UsageCharged, CellExecuted, FigureProduced)


async def test_a_crash_anywhere_between_effects_and_results_resumes_to_the_same_run(tmp_path: Path) -> None:
    """The reference run, then its trace cut after each event of the effects-and-results
    phase and resumed: the sub-agent's cost, the plan and the notes count once, and every
    request after the crash is byte-identical to the reference's."""
    async with SQLiteStore(tmp_path / "ref.db") as store:
        agent, model = make_agent(store)
        ref = await agent.run("How many moons has Mars?")
        ref_events = await trace(store, ref.run_id)
        ref_state = await load_state(store, ref.run_id)
        ref_requests = lead_requests(model)
        info = await store.get_run(ref.run_id)
    notes = orjson.dumps("Your notes so far:\n- Phobos and Deimos [S1]\n- lookup 1")[1:-1]
    plan = orjson.dumps("Plan:\n1. Ask a sub-agent.")[1:-1]
    assert any(notes in r and plan in r for r in ref_requests)  # the prune pinned the fold's plan and notes
    points = crash_points(ref_events)
    assert len(points) >= 6  # 3 effects and 3 results
    for cut in points:
        async with SQLiteStore(tmp_path / f"cut{cut}.db") as store:
            await store.create_run(RunInfo(id=ref.run_id, task=info.task, config=info.config))
            await store.append_many(ref.run_id, ref_events[:cut])
            agent, model = make_agent(store)
            resumed = await agent.resume(ref.run_id)
            state = await load_state(store, ref.run_id)
            events = await trace(store, ref.run_id)
        assert resumed.answer == ref.answer, cut
        assert (state.plan, state.notes, state.usage, state.step, state.tool_calls) == (
            ref_state.plan,
            ref_state.notes,
            ref_state.usage,
            ref_state.step,
            ref_state.tool_calls,
        ), cut
        assert state.cost_usd == pytest.approx(ref_state.cost_usd), cut
        assert resumed.cost_usd == pytest.approx(ref.cost_usd), cut
        lead = lead_requests(model)
        assert lead and lead == ref_requests[-len(lead) :], cut
        results = [e for e in events if isinstance(e, ToolResultEvent)]
        assert len(results) == len({(r.step, r.call_id) for r in results}) == 5, cut


def legacy_and_typed_traces() -> tuple[list[TraceEvent], list[TraceEvent]]:
    """One turn calling update_plan, note, delegate and python twice, as stored before tool
    effects were events (effects in meta, found by tool name) and as stored now."""
    calls = [
        ToolCall(id="p", name="update_plan", arguments='{"plan": "2. revised", "reason": "r"}'),
        ToolCall(id="n", name="note", arguments='{"text": "n1"}'),
        ToolCall(id="d", name="delegate", arguments='{"question": "q"}'),
        ToolCall(id="x", name="python", arguments='{"code": "x = 1"}'),
        ToolCall(id="f", name="python", arguments="{}", parsed={"code": "plot()"}),
        ToolCall(id="k", name="python", arguments='{"code": "crash()"}'),
        ToolCall(id="y", name="python", arguments='{"code": "y = 2"}'),
    ]
    turn = AssistantTurn(tool_calls=calls, usage=Usage(prompt_tokens=100, completion_tokens=10, calls=1), cost_usd=0.25)
    spent = Usage(prompt_tokens=40, completion_tokens=4, calls=2)
    figure = "/w/r/figures/figure-001.png"
    head: list[TraceEvent] = [
        RunStarted(task="t"),
        PlanUpdated(plan="1. initial", reason="initial", turn=AssistantTurn(content="1. initial", cost_usd=0.01)),
        AssistantMessage(step=1, turn=turn),
    ]

    def result(cid: str, name: str, text: str, **kw: object) -> ToolResultEvent:
        return ToolResultEvent(step=1, call_id=cid, name=name, text=text, **kw)  # type: ignore[arg-type]

    attachment = [{"path": figure, "mime_type": "image/png", "description": "figure figures/figure-001.png"}]
    legacy = [
        *head,
        result("p", "update_plan", "Plan updated:\n2. revised", meta={"plan": "2. revised", "reason": "r"}),
        result("n", "note", "Noted: n1", meta={"note": "n1"}),
        result(
            "d", "delegate", "Sub-agent answer", meta={"child_run": "r.d", "usage": spent.model_dump(), "cost_usd": 0.5}
        ),
        result("x", "python", "", meta={"ok": True, "state_lost": False}),
        result("f", "python", "[figure]", meta={"ok": True}, attachments=attachment),
        result("k", "python", "restarted", is_error=True, meta={"ok": False, "state_lost": True}),
        result("y", "python", "", meta={"ok": True, "state_lost": False}),
    ]
    typed = [
        *head,
        PlanUpdated(plan="2. revised", reason="update", explanation="r", call_id="p"),
        result("p", "update_plan", "Plan updated:\n2. revised", effects=1),
        NoteAdded(text="n1", call_id="n"),
        result("n", "note", "Noted: n1", effects=1),
        UsageCharged(phase="delegate", usage=spent, cost_usd=0.5, child_run="r.d", call_id="d"),
        result("d", "delegate", "Sub-agent answer", meta={"child_run": "r.d"}, effects=1),
        CellExecuted(code="x = 1", ok=True, call_id="x"),
        result("x", "python", "", meta={"ok": True, "state_lost": False}, effects=1),
        CellExecuted(code="plot()", ok=True, call_id="f"),
        FigureProduced(path="figures/figure-001.png", workdir="/w/r", call_id="f"),
        result("f", "python", "[figure]", meta={"ok": True}, attachments=attachment, effects=2),
        CellExecuted(code="crash()", ok=False, restarted=True, call_id="k"),
        result("k", "python", "restarted", is_error=True, meta={"ok": False, "state_lost": True}, effects=1),
        CellExecuted(code="y = 2", ok=True, call_id="y"),
        result("y", "python", "", meta={"ok": True, "state_lost": False}, effects=1),
    ]
    return legacy, typed


def fold(events: list[TraceEvent]) -> RunState:
    state = RunState(run_id="r")
    for seq, event in enumerate(events, 1):
        state.apply(event, seq)
    return state


def summary(state: RunState) -> dict[str, object]:
    return {
        "plan": state.plan,
        "initial": state.plan_event.plan if state.plan_event else None,
        "notes": state.notes,
        "usage": state.usage,
        "cost": round(state.cost_usd, 9),
        "replay": state.replay_cells,
        "cells": [(c.call_id, c.code, c.ok, c.restarted) for c in state.cells],
        "figures": [(f.call_id, f.location, f.mime_type) for f in state.figures],
        "results": [(c, r.text) for rec in state.records for c, r in rec.results.items()],
        "pending": state.pending_calls,
    }


def test_an_old_shaped_trace_folds_the_same_as_a_typed_one() -> None:
    legacy, typed = legacy_and_typed_traces()
    old, new = summary(fold(legacy)), summary(fold(typed))
    assert old == new
    assert new["plan"] == "2. revised" and new["initial"] == "1. initial" and new["notes"] == ["n1"]
    assert new["usage"] == Usage(prompt_tokens=140, completion_tokens=14, calls=3)
    assert new["cost"] == round(0.01 + 0.25 + 0.5, 9)
    assert new["replay"] == ["y = 2"]  # the kernel restarted in "crash()": only later cells come back
    assert new["figures"] == [("f", "/w/r/figures/figure-001.png", "image/png")]


def test_old_shaped_errors_apply_no_plan_or_note() -> None:
    """The legacy rule kept: an update_plan or note result marked as an error changed nothing."""
    legacy, _ = legacy_and_typed_traces()
    broken = [e.model_copy(update={"is_error": True}) if isinstance(e, ToolResultEvent) else e for e in legacy]
    state = fold(broken)
    assert state.plan == "1. initial" and state.notes == []
    assert state.cost_usd == pytest.approx(0.76)  # a sub-agent's spending counts even when it failed


def test_effects_count_only_with_their_result() -> None:
    _, typed = legacy_and_typed_traces()
    cut = typed.index(next(e for e in typed if isinstance(e, NoteAdded)))
    state = fold(typed[: cut + 1])  # the note's effect, not its result
    assert state.notes == [] and state.plan == "2. revised"
    assert [c.id for c in state.pending_calls] == ["n", "d", "x", "f", "k", "y"]
    # A duplicate commit of a result and its effects (a lost acknowledgement) counts once.
    state = fold([*typed, NoteAdded(text="n1", call_id="n"), typed[cut + 1]])
    assert state.notes == ["n1"]
    # A crash after the effects: the resumed run voids them and runs the call again.
    rerun: list[TraceEvent] = [
        StatusChanged(status="running", reason="resumed"),
        NoteAdded(text="n1", call_id="n"),
        typed[cut + 1],
    ]
    state = fold([*typed[: cut + 1], *rerun, *typed[cut + 2 :]])
    assert summary(state) == summary(fold(typed))


def test_effects_with_no_call_apply_at_once() -> None:
    state = fold([RunStarted(task="t"), NoteAdded(text="by hand"), UsageCharged(phase="report", cost_usd=0.5)])
    assert state.notes == ["by hand"] and state.cost_usd == 0.5
