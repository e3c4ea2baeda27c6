"""Sample data the specs store: run rows, a model turn with every field set, one event of
each type. Also handy for a backend's own tests (``make_run``)."""

from __future__ import annotations

from typing import Any

from agentkit.store.events import (
    Aggregated,
    AssistantMessage,
    BudgetDecision,
    CellExecuted,
    ErrorEvent,
    FigureProduced,
    NoteAdded,
    PlanUpdated,
    RunFinished,
    RunInfo,
    RunStarted,
    StatusChanged,
    ToolResultEvent,
    TraceEvent,
    UsageCharged,
    UserMessage,
)
from agentkit.vocabulary import AssistantTurn, ToolCall, Usage


def make_run(run_id: str, *, created_at: float = 1_700_000_000.0, **fields: Any) -> RunInfo:
    fields.setdefault("task", f"task of {run_id}")
    return RunInfo(id=run_id, created_at=created_at, updated_at=created_at, **fields)


def sample_turn(n: int = 0, *, reasoning: str = "", content: str = "") -> AssistantTurn:
    return AssistantTurn(
        content=content or f"content {n}",
        reasoning=reasoning or f"reasoning {n} — ü 漢字 🙂",
        tool_calls=[
            ToolCall(
                id=f"functions.web_search:{n}",
                name="web_search",
                arguments='{"query": "q"}',
                parsed={"query": "q", "nested": {"k": [1, 2.5, None, True]}},
            ),
            ToolCall(id=f"fetch:{n}", name="fetch", arguments="{bad json", parse_error="Expecting ','", repaired=True),
        ],
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=1200 + n, completion_tokens=300, cached_tokens=1024, reasoning_tokens=250, calls=1),
        cost_usd=0.00123,
        model="kimi-k2-thinking",
        attempts=2,
    )


def every_event_type() -> list[TraceEvent]:
    """One event of each type, with every optional field set (``ts`` fixed)."""
    ts = 1_700_000_123.456789
    return [
        RunStarted(ts=ts, task="Find X", config={"model": {"name": "k2"}, "limits": {"max_steps": 300}}),
        PlanUpdated(ts=ts, plan="1. search\n2. read", reason="initial", turn=sample_turn(0)),
        AssistantMessage(ts=ts, step=1, turn=sample_turn(1)),
        PlanUpdated(ts=ts, plan="revised", reason="update", explanation="found Y", call_id="functions.web_search:1"),
        NoteAdded(ts=ts, text="a tool's note", call_id="functions.web_search:1"),
        UsageCharged(
            ts=ts,
            phase="delegate",
            usage=Usage(prompt_tokens=50, completion_tokens=5, calls=1),
            cost_usd=0.0001,
            child_run="p.functions-delegate-1",
            call_id="functions.web_search:1",
        ),
        CellExecuted(ts=ts, code="x = 1\nprint(x)", ok=True, restarted=True, call_id="functions.web_search:1"),
        FigureProduced(
            ts=ts,
            path="figures/figure-001.png",
            mime_type="image/png",
            workdir="/runs/p",
            description="figure figures/figure-001.png",
            call_id="functions.web_search:1",
        ),
        ToolResultEvent(
            ts=ts,
            step=1,
            call_id="functions.web_search:1",
            name="web_search",
            text="results…",
            is_error=False,
            duration_s=0.25,
            attachments=[{"kind": "image/png", "key": "ab" * 32}],
            sources=["S1", "S2"],
            meta={"cached": True, "n": 3, "x": 0.1},
            effects=5,
        ),
        ToolResultEvent(ts=ts, step=1, call_id="fetch:1", name="fetch", text="boom", is_error=True),
        NoteAdded(ts=ts, text="a note"),
        UserMessage(ts=ts, text="10 steps left", kind="limit_warning"),
        BudgetDecision(ts=ts, action="hide_tool_results", detail={"hidden": [3, 4], "tokens": 91_000}),
        ErrorEvent(ts=ts, kind="rate_limit", message="429", step=7),
        ErrorEvent(ts=ts, kind="other", message="no step"),
        StatusChanged(ts=ts, status="interrupted", reason="SIGINT"),
        UsageCharged(
            ts=ts, phase="report", usage=Usage(prompt_tokens=900, completion_tokens=80, calls=2), cost_usd=0.004
        ),
        Aggregated(
            ts=ts,
            method="select",
            answer="42",
            children=["p.t0", "p.t1", "p.t2"],
            failed=["p.t2"],
            chosen="p.t1",
            votes={"42": 2},
            turn=sample_turn(2),
        ),
        RunFinished(ts=ts, status="finished", answer="42", stop_reason=None),
    ]


__all__ = ["every_event_type", "make_run", "sample_turn"]
