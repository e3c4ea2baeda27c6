"""Trace events: a run is an append-only log of these. The agent's state is a fold over it."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agentkit.vocabulary import AssistantTurn, ToolCall, Usage

RunStatus = Literal["running", "finished", "stopped", "failed", "interrupted"]
"""``finished``: answered; ``stopped``: hit a limit; ``failed``: an error ended it;
``interrupted``: stopped from outside (Ctrl-C, a crash noticed later) and resumable."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ts: float = Field(default_factory=time.time)


class RunStarted(_Event):
    type: Literal["run_started"] = "run_started"
    task: str
    config: dict[str, Any] = Field(default_factory=dict)
    """The run's configuration with secrets removed."""


class PlanUpdated(_Event):
    type: Literal["plan_updated"] = "plan_updated"
    plan: str
    reason: Literal["initial", "update"] = "initial"
    turn: AssistantTurn | None = None
    """The planning model turn (initial plan only)."""


class AssistantMessage(_Event):
    """One model turn, committed before any of its tools run."""

    type: Literal["assistant"] = "assistant"
    step: int
    turn: AssistantTurn
    elapsed_s: float = 0.0
    """Active run time when the turn was committed (for ``limits.max_seconds``)."""


class ToolResultEvent(_Event):
    type: Literal["tool_result"] = "tool_result"
    step: int
    call_id: str
    name: str
    text: str
    is_error: bool = False
    duration_s: float = 0.0
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class NoteAdded(_Event):
    type: Literal["note"] = "note"
    text: str


class UserMessage(_Event):
    """A message from the harness to the model (limit warnings, the final-answer request)."""

    type: Literal["user"] = "user"
    text: str
    kind: str = "notice"
    reason: str | None = None


class BudgetDecision(_Event):
    """The context builder changed the view (pruned, elided, summarised)."""

    type: Literal["budget"] = "budget"
    action: str
    detail: dict[str, Any] = Field(default_factory=dict)


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    kind: str
    message: str
    step: int | None = None


class RunFinished(_Event):
    type: Literal["run_finished"] = "run_finished"
    status: RunStatus
    answer: str = ""
    stop_reason: str | None = None


class Aggregated(_Event):
    """Heavy mode: the answers of the child trajectories combined into the parent's answer."""

    type: Literal["aggregated"] = "aggregated"
    method: str
    answer: str
    children: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    chosen: str | None = None
    votes: dict[str, int] = Field(default_factory=dict)
    turn: AssistantTurn | None = None


class UsageCharged(_Event):
    """Model calls made for the run outside its turns (the report phase, aggregation), charged
    to its usage and cost so limits and totals hold."""

    type: Literal["usage"] = "usage"
    phase: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0


class StatusChanged(_Event):
    type: Literal["status"] = "status"
    status: RunStatus
    reason: str | None = None


TraceEvent = Annotated[
    RunStarted
    | PlanUpdated
    | AssistantMessage
    | ToolResultEvent
    | NoteAdded
    | UserMessage
    | BudgetDecision
    | ErrorEvent
    | RunFinished
    | Aggregated
    | UsageCharged
    | StatusChanged,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)


class StoredEvent(BaseModel):
    """An event with its position in the run's log."""

    run_id: str
    seq: int
    event: TraceEvent


class RunInfo(BaseModel):
    """One row per run: what ``agentkit runs`` lists."""

    id: str
    task: str
    status: RunStatus = "running"
    parent_id: str | None = None
    label: str | None = None
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    answer: str | None = None
    stop_reason: str | None = None
    steps: int = 0
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    config: dict[str, Any] = Field(default_factory=dict)


class Source(BaseModel):
    """A document the agent read, citable by ``id``."""

    id: str
    url: str
    title: str = ""
    retrieved_at: float = Field(default_factory=time.time)
    content_hash: str | None = None
    """Key of the extracted text in the store's blob table."""
    kind: str = "page"
    meta: dict[str, Any] = Field(default_factory=dict)


__all__ = [
    "EVENT_ADAPTER",
    "Aggregated",
    "AssistantMessage",
    "BudgetDecision",
    "ErrorEvent",
    "NoteAdded",
    "PlanUpdated",
    "RunFinished",
    "RunInfo",
    "RunStarted",
    "RunStatus",
    "Source",
    "StatusChanged",
    "StoredEvent",
    "ToolCall",
    "ToolResultEvent",
    "TraceEvent",
    "UserMessage",
]
