"""Live events: what a caller or the CLI sees while a run goes on (``Agent(on_event=...)``).

They are for display and vanish with the process; the durable record of a run is its trace
of *trace events* (:mod:`agentkit.store.events`) in the store.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel

from agentkit.llm.types import StreamDelta, ToolCall, Usage


class _AgentEvent(BaseModel):
    run_id: str


class RunBegan(_AgentEvent):
    kind: Literal["run_began"] = "run_began"
    task: str
    resumed: bool = False
    max_steps: int


class TurnStarted(_AgentEvent):
    kind: Literal["turn_started"] = "turn_started"
    step: int
    max_steps: int
    phase: Literal["plan", "execute", "final", "summary"] = "execute"
    context_tokens: int = 0
    window: int = 0


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
    | ReasoningDelta
    | ContentDelta
    | StreamRestarted
    | ToolCallStarted
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


__all__ = [
    "AgentEvent",
    "ContentDelta",
    "EventHandler",
    "Notice",
    "ReasoningDelta",
    "RunBegan",
    "RunEnded",
    "StreamRestarted",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnStarted",
    "UsageReported",
    "delta_event",
    "dispatch",
]
