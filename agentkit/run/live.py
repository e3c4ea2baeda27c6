"""Live events: what a caller or the CLI sees while a run goes on (``Agent(on_event=...)``).

They are for display and vanish with the process; the durable record of a run is its trace
of *trace events* (:mod:`agentkit.store.events`) in the store.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from pydantic import BaseModel

from agentkit.llm.errors import RetryNotice, seconds
from agentkit.llm.types import Model, StreamDelta, ToolCall, Usage


class _AgentEvent(BaseModel):
    run_id: str


class RunBegan(_AgentEvent):
    kind: Literal["run_began"] = "run_began"
    task: str
    resumed: bool = False
    max_steps: int
    model: str = ""
    provider: str = ""
    endpoint: str = ""
    """The model's base URL, without credentials."""


class TurnStarted(_AgentEvent):
    kind: Literal["turn_started"] = "turn_started"
    step: int
    max_steps: int
    phase: Literal["plan", "execute", "final", "summary"] = "execute"
    context_tokens: int = 0
    window: int = 0


class PlanMade(_AgentEvent):
    """The run has a plan (``revised``: the model changed it with ``update_plan``)."""

    kind: Literal["plan"] = "plan"
    plan: str
    revised: bool = False


class ModelRetrying(_AgentEvent):
    """A model call failed and the client retries it in ``delay_s`` seconds (``attempt`` of
    ``retries`` allowed): ``reason`` is short, e.g. ``429 rate limited``."""

    kind: Literal["model_retry"] = "model_retry"
    attempt: int
    retries: int
    delay_s: float
    reason: str

    def describe(self) -> str:
        return f"retry {self.attempt}/{self.retries} in {seconds(self.delay_s)} s: {self.reason}"


class ReasoningDelta(_AgentEvent):
    kind: Literal["reasoning_delta"] = "reasoning_delta"
    text: str


class ContentDelta(_AgentEvent):
    kind: Literal["content_delta"] = "content_delta"
    text: str


class StreamRestarted(_AgentEvent):
    """The model's stream broke mid-turn and the call is being retried: discard the
    reasoning and content deltas received since the last ``turn_started``."""

    kind: Literal["stream_restarted"] = "stream_restarted"
    attempt: int


class ToolCallStarted(_AgentEvent):
    kind: Literal["tool_call"] = "tool_call"
    step: int
    call: ToolCall


class ToolProgress(_AgentEvent):
    """A running tool call reports how far it is (an MCP server's progress notification):
    ``progress`` of ``total`` when the total is known, and the tool's ``message``."""

    kind: Literal["tool_progress"] = "tool_progress"
    step: int
    call_id: str
    name: str
    progress: float
    total: float | None = None
    message: str | None = None

    def describe(self) -> str:
        shown = f"{self.progress:g}/{self.total:g}" if self.total else f"{self.progress:g}"
        if self.total:
            shown += f" ({min(self.progress / self.total, 1.0):.0%})"
        return f"{shown} {self.message}" if self.message else shown


class ToolCallFinished(_AgentEvent):
    kind: Literal["tool_result"] = "tool_result"
    step: int
    call_id: str
    name: str
    preview: str
    is_error: bool
    duration_s: float


class UsageReported(_AgentEvent):
    kind: Literal["usage"] = "usage"
    turn: Usage
    total: Usage
    cost_usd: float
    context_tokens: int = 0
    window: int = 0


class Notice(_AgentEvent):
    kind: Literal["notice"] = "notice"
    level: Literal["info", "warning", "error"] = "info"
    message: str


class RunEnded(_AgentEvent):
    kind: Literal["run_ended"] = "run_ended"
    status: str
    answer: str
    stop_reason: str | None = None


AgentEvent = (
    RunBegan
    | TurnStarted
    | PlanMade
    | ModelRetrying
    | ReasoningDelta
    | ContentDelta
    | StreamRestarted
    | ToolCallStarted
    | ToolProgress
    | ToolCallFinished
    | UsageReported
    | Notice
    | RunEnded
)
EventHandler = Callable[[AgentEvent], Awaitable[None] | None]


async def dispatch(handler: EventHandler, event: AgentEvent) -> None:
    """Call a subscriber; a broken display must not kill a two-hour run, so errors are logged."""
    try:
        result = handler(event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logging.getLogger("agentkit").exception("on_event handler failed on %s", event.kind)


def delta_event(run_id: str, delta: StreamDelta) -> AgentEvent | None:
    """The live event for a streamed fragment (``None``: nothing to show)."""
    if delta.kind == "reasoning":
        return ReasoningDelta(run_id=run_id, text=delta.text)
    if delta.kind == "content":
        return ContentDelta(run_id=run_id, text=delta.text)
    if delta.kind == "restart":
        return StreamRestarted(run_id=run_id, attempt=delta.attempt)
    return None


def run_began(
    run_id: str, task: str, plan: str | None, llm: Model, *, resumed: bool, max_steps: int
) -> list[AgentEvent]:
    """A run's first live events: what it runs and where, then its plan when it has one (a resumed run)."""
    began: list[AgentEvent] = [
        RunBegan(
            run_id=run_id,
            task=task,
            resumed=resumed,
            max_steps=max_steps,
            model=llm.model_name,
            provider=llm.profile.name,
            endpoint=getattr(llm, "endpoint", ""),
        )
    ]
    if plan:
        began.append(PlanMade(run_id=run_id, plan=plan, revised=resumed))
    return began


def plan_events(run_id: str, events: Sequence[object]) -> list[PlanMade]:
    """The live events for the plans among committed trace events (a tool's revision)."""
    from agentkit.store.events import PlanUpdated  # here: importing agentkit must not load the store

    return [
        PlanMade(run_id=run_id, plan=e.plan, revised=e.reason == "update") for e in events if isinstance(e, PlanUpdated)
    ]


def retry_event(run_id: str, notice: RetryNotice) -> ModelRetrying:
    """The live event for a retry the model client reports (:func:`agentkit.llm.errors.observing_retries`)."""
    return ModelRetrying(
        run_id=run_id, attempt=notice.attempt, retries=notice.retries, delay_s=notice.delay_s, reason=notice.reason
    )


__all__ = [
    "AgentEvent",
    "ContentDelta",
    "EventHandler",
    "ModelRetrying",
    "Notice",
    "PlanMade",
    "ReasoningDelta",
    "RunBegan",
    "RunEnded",
    "StreamRestarted",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolProgress",
    "TurnStarted",
    "UsageReported",
    "delta_event",
    "dispatch",
    "plan_events",
    "retry_event",
    "run_began",
]
