"""The recorded model calls of a run, in order, and the model that answers from them.

A run's trace holds every model turn (``AssistantMessage``), the initial plan's turn, the
summaries the budget asked for (a ``prune`` decision with the summary call's usage) and what
the provider's overflow answers taught (``window`` decisions). :class:`TraceModel` answers
today's loop with them, in order, and never opens a connection; a call the trace does not
have where today's code makes it is a divergence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agentkit.llm.errors import ContextLengthExceeded, ModelError
from agentkit.llm.types import AssistantTurn, DeltaHandler, Model, ModelRequest
from agentkit.run.live import AgentEvent, TurnStarted
from agentkit.store.events import (
    AssistantMessage,
    BudgetDecision,
    ErrorEvent,
    PlanUpdated,
    RunFinished,
    SentRequest,
    StoredEvent,
)
from agentkit.vocabulary import Usage

CallKind = Literal["plan", "summary", "turn", "overflow"]


class Divergence(Exception):
    """Today's code does not do what the trace recorded, at ``step``."""

    def __init__(self, step: int, what: str) -> None:
        super().__init__(f"step {step}: {what}")
        self.step = step
        self.what = what


class ReplayDone(Exception):
    """The replay reached the step it was asked to stop after."""


@dataclass
class RecordedCall:
    kind: CallKind
    turn: AssistantTurn = field(default_factory=AssistantTurn)
    step: int = 0
    sent: SentRequest | None = None
    decision: BudgetDecision | None = None


@dataclass
class Recording:
    """What a run's trace says its model calls were, and how it ended."""

    calls: list[RecordedCall]
    probed_window: int | None
    finished: RunFinished | None
    error: ErrorEvent | None
    steps: int

    @classmethod
    def of(cls, events: list[StoredEvent]) -> Recording:
        calls: list[RecordedCall] = []
        probed: int | None = None
        finished: RunFinished | None = None
        error: ErrorEvent | None = None
        for stored in events:
            e = stored.event
            if isinstance(e, PlanUpdated) and e.reason == "initial" and e.turn is not None and e.call_id is None:
                calls.append(RecordedCall("plan", e.turn))
            elif isinstance(e, AssistantMessage):
                calls.append(RecordedCall("turn", e.turn, step=e.step, sent=e.sent))
            elif isinstance(e, BudgetDecision) and e.action == "prune" and isinstance(e.detail.get("usage"), dict):
                usage = Usage.model_validate(e.detail["usage"])
                text = str(e.detail.get("summary") or "")
                turn = AssistantTurn(content=text, usage=usage, cost_usd=float(e.detail.get("cost_usd", 0.0)))
                calls.append(RecordedCall("summary", turn, decision=e))
            elif isinstance(e, BudgetDecision) and e.action == "window":
                if not calls and probed is None:  # learned before any call: the server's model listing
                    probed = int(e.detail.get("window", 0)) or None
                else:  # learned from an overflow answer to the call after it
                    calls.append(RecordedCall("overflow", decision=e))
            elif isinstance(e, RunFinished):
                finished = e
            elif isinstance(e, ErrorEvent):
                error = e
        steps = sum(1 for c in calls if c.kind == "turn")
        return cls(calls, probed, finished, error, steps)


class TraceModel:
    """A :class:`~agentkit.llm.types.Model` that answers from a recording: the real model's
    profile and traits (so the view is built for it), the recorded turns as answers."""

    def __init__(self, real: Model, recording: Recording, *, until: int | None) -> None:
        self._real = real
        self._calls = list(recording.calls)
        self._recording = recording
        self._until = until
        self.phase = "execute"
        self.turns = 0
        """Recorded turns handed out."""
        self.last_messages: list[dict[str, Any]] = []
        """The messages of the latest request (to describe a difference)."""

    def __getattr__(self, name: str) -> Any:  # traits, rules, vision, prices... of the real model
        return getattr(self._real, name)

    @property
    def profile(self) -> Any:
        return self._real.profile

    @property
    def model_name(self) -> str:
        return self._real.model_name

    def observe(self, event: AgentEvent) -> None:
        """The loop's live events: which phase the next call is for."""
        if isinstance(event, TurnStarted):
            self.phase = event.phase

    @property
    def left(self) -> list[RecordedCall]:
        return self._calls

    async def probe_context_window(self) -> int | None:
        return self._recording.probed_window

    async def complete(self, request: ModelRequest, *, on_delta: DeltaHandler | None = None) -> AssistantTurn:
        self.last_messages = request.messages
        wanted: CallKind = "turn" if self.phase in ("execute", "final") else self.phase  # type: ignore[assignment]
        step = self.turns + 1
        if wanted == "turn" and self._until is not None and step > self._until:
            raise ReplayDone
        if not self._calls:
            err = self._recording.error
            if err is not None and self._recording.finished is not None and self._recording.finished.status == "failed":
                raise ModelError(err.message)  # the recorded run failed here: so does this one
            raise Divergence(step, f"today's code calls the model ({_call_name(wanted)}) after the last recorded call")
        call = self._calls[0]
        if call.kind == "overflow":
            self._calls.pop(0)
            assert call.decision is not None
            detail = call.decision.detail
            limit = int(detail["window"]) if detail.get("stated") else None
            requested = detail.get("requested")
            raise ContextLengthExceeded(
                "recorded: the provider said the context is too long",
                status=400,
                limit=limit,
                requested=int(requested) if isinstance(requested, int) else None,
            )
        if call.kind != wanted:
            raise Divergence(
                step if wanted == "turn" else self.turns,
                f"today's code makes {_call_name(wanted)} where the trace has {_call_name(call.kind)}",
            )
        self._calls.pop(0)
        if call.kind == "turn":
            self.turns += 1
        return call.turn

    async def aclose(self) -> None:
        return None


def _call_name(kind: CallKind) -> str:
    return {
        "plan": "the planning call",
        "summary": "a summary call (the budget summarised old turns)",
        "turn": "a turn",
        "overflow": "an overflow answer",
    }[kind]
