"""Trace events: a run is an append-only log of these. The agent's state is a fold over it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agentkit.vocabulary import AssistantTurn, ImageRef, ToolCall, Usage, VideoRef

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
    images: list[ImageRef] = Field(default_factory=list)
    """Images given with the task (blobs in the store)."""
    videos: list[VideoRef] = Field(default_factory=list)
    """Videos given with the task (blobs in the store)."""


class PlanUpdated(_Event):
    """The plan: the initial one (from the planning call) or a revision (a tool effect)."""

    type: Literal["plan_updated"] = "plan_updated"
    plan: str
    reason: Literal["initial", "update"] = "initial"
    turn: AssistantTurn | None = None
    """The planning model turn (initial plan only)."""
    explanation: str = ""
    """Why the plan was revised, as the model said (``update_plan``'s ``reason``)."""
    call_id: str | None = None
    """Set when a tool call made this change: see :data:`ToolEffect`."""


class SentRequest(BaseModel):
    """What the request of a turn asked, kept small so that a replay (``agentkit replay``) can
    tell whether today's code would send the same: a digest of each message (the view is
    append-mostly, so only the messages after those the previous turn's request also began
    with are listed), the tools by name with a digest of their schemas (the schemas themselves
    when they changed), and the request's settings."""

    model_config = ConfigDict(extra="forbid")
    kept: int = 0
    """How many leading messages are those of the previous turn's request."""
    digests: list[str] = Field(default_factory=list)
    """``HASH:CHARS`` of each later message (its encoded JSON)."""
    tools: list[str] = Field(default_factory=list)
    tools_digest: str = ""
    schemas: list[dict[str, Any]] | None = None
    """The tools' schemas as sent, when they differ from the previous turn's (else ``None``)."""
    max_tokens: int | None = None
    tool_choice: str | None = None
    temperature: float | None = None
    seed: int | None = None


class AssistantMessage(_Event):
    """One model turn, committed before any of its tools run."""

    type: Literal["assistant"] = "assistant"
    step: int
    turn: AssistantTurn
    elapsed_s: float = 0.0
    """Active run time when the turn was committed (for ``limits.max_seconds``)."""
    sent: SentRequest | None = None
    """What the turn's request asked (``None`` in traces stored before it was kept)."""


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
    images: list[ImageRef] = Field(default_factory=list)
    """Images the result carries (blobs in the store), for vision models."""
    meta: dict[str, Any] = Field(default_factory=dict)
    effects: int | None = None
    """How many typed effects (:data:`ToolEffect` events with this ``call_id``) were committed
    just before this result and take effect with it. ``None`` on results stored before tool
    effects were events of their own: the fold reads their effects from ``meta`` and the tool
    name (its legacy branch)."""


class NoteAdded(_Event):
    type: Literal["note"] = "note"
    text: str
    call_id: str | None = None
    """Set when a tool call (``note``) added it: see :data:`ToolEffect`."""


class FigureProduced(_Event):
    """A tool saved a figure (the Python tool, a PNG of a matplotlib plot)."""

    type: Literal["figure"] = "figure"
    path: str
    """Relative to the run's work dir (as code in the sandbox sees it under ``/work``);
    absolute when the file was saved outside it."""
    mime_type: str = "image/png"
    workdir: str = ""
    """The run's work dir on the host when the figure was saved (absolute)."""
    description: str = ""
    call_id: str | None = None
    image: ImageRef | None = None
    """The figure checked, downscaled and kept in the store, to be shown to a vision model."""

    @property
    def location(self) -> str:
        """Where the file was saved on the host."""
        return str(Path(self.workdir) / self.path) if self.workdir else self.path


class CellExecuted(_Event):
    """The Python tool ran a cell of code in the run's kernel (successfully or not)."""

    type: Literal["cell"] = "cell"
    code: str
    ok: bool
    restarted: bool = False
    """The kernel died during the cell and was restarted: the state of every earlier cell is gone."""
    call_id: str | None = None


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
    output: Any = None
    """The validated final answer's JSON, for a run with an output type or schema (``None``:
    none, or the run ended without a valid one)."""


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
    """Model calls made for the run outside its turns (the report phase, aggregation, a
    delegated sub-agent's run), charged to its usage and cost so limits and totals hold."""

    type: Literal["usage"] = "usage"
    phase: str
    """``report``, ``aggregate``; ``delegate`` for a sub-agent's spending (a tool effect)."""
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    child_run: str | None = None
    """The child run that spent it (``delegate``)."""
    call_id: str | None = None
    """Set when a tool call spent it: see :data:`ToolEffect`."""


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
    | StatusChanged
    | FigureProduced
    | CellExecuted,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)

ToolEffect = Annotated[
    PlanUpdated | NoteAdded | UsageCharged | FigureProduced | CellExecuted,
    Field(discriminator="type"),
]
"""What a tool call changed besides its result text, as typed events (``ToolOutput.effects``).

The loop commits a call's effects, stamped with its ``call_id``, immediately BEFORE its
:class:`ToolResultEvent` (in one ``append_many``, a single transaction where the store has
them), and the fold applies them only when that result is committed: the result is the commit
record of its effects. Were the effects written but not the result (a crash between two
appends of a store without transactions), the call has no result, so a resumed run runs it
again; the orphaned effects are dropped when the run resumes and only the new attempt's count.
Were the effects written after the result instead, a crash between them would lose them for
good, since a call with a result is never run again.

Effects with no ``call_id`` (the initial plan, the report phase's usage) apply at once."""


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
    forked_from: str | None = None
    """A fork (``agentkit fork``): the run whose first ``fork_step`` steps are this run's too,
    read from that run's trace by reference (the fold), never copied."""
    fork_step: int | None = None
    tags: list[str] = Field(default_factory=list)
    """Names that group runs (``memory: {tag: NAME}`` tags a run and recalls the others so
    tagged): :meth:`~agentkit.store.base.Store.tagged_runs` finds them."""


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
    "CellExecuted",
    "ErrorEvent",
    "FigureProduced",
    "NoteAdded",
    "PlanUpdated",
    "RunFinished",
    "RunInfo",
    "RunStarted",
    "RunStatus",
    "SentRequest",
    "Source",
    "StatusChanged",
    "StoredEvent",
    "ToolCall",
    "ToolEffect",
    "ToolResultEvent",
    "TraceEvent",
    "UsageCharged",
    "UserMessage",
]
