"""The agent's state as a fold over its trace events (never pickled, always re-derivable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentkit.store.base import Store
from agentkit.store.events import (
    AssistantMessage,
    BudgetDecision,
    ErrorEvent,
    NoteAdded,
    PlanUpdated,
    RunFinished,
    RunStarted,
    StatusChanged,
    ToolResultEvent,
    TraceEvent,
    UsageCharged,
    UserMessage,
)
from agentkit.vocabulary import ToolCall, Usage

PLAN_TOOL = "update_plan"
NOTE_TOOL = "note"


@dataclass
class TurnRecord:
    """An assistant turn with the results of its tool calls and the notices after it."""

    event: AssistantMessage
    results: dict[str, ToolResultEvent] = field(default_factory=dict)
    notices: list[UserMessage] = field(default_factory=list)

    @property
    def pending(self) -> list[ToolCall]:
        return [c for c in self.event.turn.tool_calls if c.id not in self.results]


@dataclass
class RunState:
    run_id: str
    task: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    plan: str | None = None
    plan_event: PlanUpdated | None = None
    notes: list[str] = field(default_factory=list)
    head_notices: list[UserMessage] = field(default_factory=list)
    records: list[TurnRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    tool_calls: int = 0
    finished: RunFinished | None = None
    errors: list[ErrorEvent] = field(default_factory=list)
    budget: list[BudgetDecision] = field(default_factory=list)
    last_seq: int = 0

    @property
    def step(self) -> int:
        """Model turns taken in the execution phase."""
        return len(self.records)

    @property
    def elapsed_s(self) -> float:
        """Active run time recorded so far (wall time between resumes is not counted)."""
        return self.records[-1].event.elapsed_s if self.records else 0.0

    def notice_given(self, kind: str) -> bool:
        return any(n.kind == kind for n in self.head_notices) or any(
            n.kind == kind for r in self.records for n in r.notices
        )

    @property
    def pending_calls(self) -> list[ToolCall]:
        return self.records[-1].pending if self.records else []

    @property
    def last_notice(self) -> UserMessage | None:
        if self.records:
            return self.records[-1].notices[-1] if self.records[-1].notices else None
        return self.head_notices[-1] if self.head_notices else None

    def apply(self, event: TraceEvent, seq: int = 0) -> None:
        self.last_seq = max(self.last_seq, seq)
        if isinstance(event, RunStarted):
            self.task, self.config = event.task, event.config
        elif isinstance(event, PlanUpdated):
            self.plan = event.plan
            if event.reason == "initial":
                self.plan_event = event
            if event.turn is not None:
                self._account(event.turn.usage, event.turn.cost_usd)
        elif isinstance(event, AssistantMessage):
            self.records.append(TurnRecord(event))
            self.tool_calls += len(event.turn.tool_calls)
            self._account(event.turn.usage, event.turn.cost_usd)
        elif isinstance(event, ToolResultEvent):
            self._apply_result(event)
        elif isinstance(event, UserMessage):
            (self.records[-1].notices if self.records else self.head_notices).append(event)
        elif isinstance(event, NoteAdded):
            self.notes.append(event.text)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, ErrorEvent):
            self.errors.append(event)
        elif isinstance(event, BudgetDecision):
            self.budget.append(event)
            if isinstance(event.detail.get("usage"), dict):  # the summary call of a prune
                self._account(Usage.model_validate(event.detail["usage"]), float(event.detail.get("cost_usd", 0.0)))
        elif isinstance(event, UsageCharged):
            self._account(event.usage, event.cost_usd)
        elif isinstance(event, StatusChanged) and event.status == "running":
            self.finished = None

    def _apply_result(self, event: ToolResultEvent) -> None:
        for record in reversed(self.records):
            if any(c.id == event.call_id for c in record.event.turn.tool_calls):
                if event.call_id in record.results:
                    return  # a duplicate commit (crash between commit and ack): first one wins
                record.results[event.call_id] = event
                break
        else:
            return
        if isinstance(event.meta.get("usage"), dict):  # a delegated sub-agent's spending
            self._account(Usage.model_validate(event.meta["usage"]), float(event.meta.get("cost_usd", 0.0)))
        if event.is_error:
            return
        if event.name == PLAN_TOOL and isinstance(event.meta.get("plan"), str):
            self.plan = event.meta["plan"]
        elif event.name == NOTE_TOOL and isinstance(event.meta.get("note"), str):
            self.notes.append(event.meta["note"])

    def _account(self, usage: Usage, cost: float) -> None:
        self.usage = self.usage + usage
        self.cost_usd += cost


async def load_state(store: Store, run_id: str) -> RunState:
    """Fold a run's stored events into its state."""
    state = RunState(run_id=run_id)
    for stored in await store.events(run_id):
        state.apply(stored.event, stored.seq)
    return state
