"""The agent's state as a fold over its trace events (never pickled, always re-derivable).

What a tool call changed besides its result (a revised plan, a note, a sub-agent's cost, a
figure, a Python cell) arrives as typed effect events just before the call's result and takes
effect with it (see :data:`agentkit.store.events.ToolEffect`); the fold applies them by type,
never by tool name. Results stored before effects were events of their own carry them in
``meta``: :func:`_legacy_effects` reads those, so old runs resume as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from agentkit.store.base import RunNotFound, Store
from agentkit.store.events import (
    AssistantMessage,
    BudgetDecision,
    CellExecuted,
    ErrorEvent,
    FigureProduced,
    NoteAdded,
    PlanUpdated,
    RunFinished,
    RunStarted,
    StatusChanged,
    StoredEvent,
    ToolEffect,
    ToolResultEvent,
    TraceEvent,
    UsageCharged,
    UserMessage,
)
from agentkit.vocabulary import ImageRef, ToolCall, Usage, VideoRef

PLAN_TOOL = "update_plan"
NOTE_TOOL = "note"
_EFFECT_TYPES = (PlanUpdated, NoteAdded, UsageCharged, FigureProduced, CellExecuted)


@dataclass
class TurnRecord:
    """An assistant turn with the results of its tool calls and the notices after it."""

    event: AssistantMessage
    results: dict[str, ToolResultEvent] = field(default_factory=dict)
    notices: list[UserMessage] = field(default_factory=list)
    effects: dict[str, list[ToolEffect]] = field(default_factory=dict)
    """The effects committed with each result, by call id."""

    @property
    def pending(self) -> list[ToolCall]:
        return [c for c in self.event.turn.tool_calls if c.id not in self.results]


@dataclass
class RunState:
    run_id: str
    task: str = ""
    images: list[ImageRef] = field(default_factory=list)
    """Images given with the task."""
    videos: list[VideoRef] = field(default_factory=list)
    """Videos given with the task."""
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
    figures: list[FigureProduced] = field(default_factory=list)
    cells: list[CellExecuted] = field(default_factory=list)
    """Python cells run in the run's kernel, in order (what a new kernel replays)."""
    last_seq: int = 0
    sent_messages: list[str] = field(default_factory=list)
    """The message digests of the latest turn's request, rebuilt from the turns' ``sent``
    records (each lists only what changed since the one before)."""
    sent_schemas: list[dict[str, Any]] | None = None
    """The tool schemas the latest turn's request recorded."""
    _uncommitted: dict[str, list[ToolEffect]] = field(default_factory=dict, repr=False)
    """Effects waiting for their call's result, by call id."""
    _notice_kinds: set[str] = field(default_factory=set, repr=False)
    """The kinds of every notice so far (what :meth:`notice_given` asks, each step)."""

    @property
    def step(self) -> int:
        """Model turns taken in the execution phase."""
        return len(self.records)

    @property
    def elapsed_s(self) -> float:
        """Active run time recorded so far (wall time between resumes is not counted)."""
        return self.records[-1].event.elapsed_s if self.records else 0.0

    def notice_given(self, kind: str) -> bool:
        """Whether a notice of ``kind`` was given in this run (kept as notices are folded:
        scanning every turn's notices each step grew with the run)."""
        return kind in self._notice_kinds

    @property
    def pending_calls(self) -> list[ToolCall]:
        return self.records[-1].pending if self.records else []

    @property
    def last_notice(self) -> UserMessage | None:
        if self.records:
            return self.records[-1].notices[-1] if self.records[-1].notices else None
        return self.head_notices[-1] if self.head_notices else None

    @property
    def replay_cells(self) -> list[str]:
        """The code of the cells that succeeded since the kernel last restarted, in order."""
        code: list[str] = []
        for cell in self.cells:
            if cell.restarted:
                code.clear()
            elif cell.ok:
                code.append(cell.code)
        return code

    def apply(self, event: TraceEvent, seq: int = 0) -> None:
        self.last_seq = max(self.last_seq, seq)
        if isinstance(event, _EFFECT_TYPES):
            if event.call_id is None:
                self._apply_effect(event)
            else:  # takes effect with its call's result
                self._uncommitted.setdefault(event.call_id, []).append(event)
        elif isinstance(event, RunStarted):
            self.task, self.config, self.images = event.task, event.config, list(event.images)
            self.videos = list(event.videos)
        elif isinstance(event, AssistantMessage):
            self.records.append(TurnRecord(event))
            if event.sent is not None:
                self.sent_messages = self.sent_messages[: event.sent.kept] + event.sent.digests
                if event.sent.schemas is not None:
                    self.sent_schemas = event.sent.schemas
            self.tool_calls += len(event.turn.tool_calls)
            self._account(event.turn.usage, event.turn.cost_usd)
        elif isinstance(event, ToolResultEvent):
            self._apply_result(event)
        elif isinstance(event, UserMessage):
            (self.records[-1].notices if self.records else self.head_notices).append(event)
            self._notice_kinds.add(event.kind)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, ErrorEvent):
            self.errors.append(event)
        elif isinstance(event, BudgetDecision):
            self.budget.append(event)
            if isinstance(event.detail.get("usage"), dict):  # the summary call of a prune
                self._account(Usage.model_validate(event.detail["usage"]), float(event.detail.get("cost_usd", 0.0)))
        elif isinstance(event, StatusChanged) and event.status == "running":
            self.finished = None
            # Resumed: effects whose result never came belong to an attempt that died; the
            # resumed run runs those calls again.
            self._uncommitted.clear()

    def _apply_result(self, event: ToolResultEvent) -> None:
        effects = self._uncommitted.pop(event.call_id, [])
        for record in reversed(self.records):
            if any(c.id == event.call_id for c in record.event.turn.tool_calls):
                if event.call_id in record.results:
                    return  # a duplicate commit (crash between commit and ack): first one wins
                record.results[event.call_id] = event
                break
        else:
            return
        if event.effects is None:
            effects = _legacy_effects(record, event)
        record.effects[event.call_id] = effects
        for effect in effects:
            self._apply_effect(effect)

    def _apply_effect(self, event: ToolEffect) -> None:
        if isinstance(event, PlanUpdated):
            self.plan = event.plan
            if event.reason == "initial":
                self.plan_event = event
            if event.turn is not None:
                self._account(event.turn.usage, event.turn.cost_usd)
        elif isinstance(event, NoteAdded):
            self.notes.append(event.text)
        elif isinstance(event, UsageCharged):
            self._account(event.usage, event.cost_usd)
        elif isinstance(event, FigureProduced):
            self.figures.append(event)
        else:
            self.cells.append(event)

    def _account(self, usage: Usage, cost: float) -> None:
        self.usage = self.usage + usage
        self.cost_usd += cost


# -- LEGACY: traces stored before tool effects were events of their own ---------------------
# Such results (``effects is None``) kept a revised plan, a note and a delegate's spending in
# ``meta``, and their Python cells and figures were found by the tool's name. Read only here,
# for those old results; new results never take this branch.
_LEGACY_PYTHON_TOOL = "python"


def _legacy_effects(record: TurnRecord, event: ToolResultEvent) -> list[ToolEffect]:
    """The typed effects an old-shaped result stood for, with the rules the fold had then."""
    meta, call_id = event.meta, event.call_id
    effects: list[ToolEffect] = []
    if isinstance(meta.get("usage"), dict):  # a delegated sub-agent's spending
        child = meta.get("child_run")
        effects.append(
            UsageCharged(
                ts=event.ts,
                phase=event.name,
                usage=Usage.model_validate(meta["usage"]),
                cost_usd=float(meta.get("cost_usd", 0.0)),
                child_run=child if isinstance(child, str) else None,
                call_id=call_id,
            )
        )
    if not event.is_error and event.name == PLAN_TOOL and isinstance(meta.get("plan"), str):
        reason = meta.get("reason")
        explanation = reason if isinstance(reason, str) else ""
        effects.append(
            PlanUpdated(ts=event.ts, plan=meta["plan"], reason="update", explanation=explanation, call_id=call_id)
        )
    elif not event.is_error and event.name == NOTE_TOOL and isinstance(meta.get("note"), str):
        effects.append(NoteAdded(ts=event.ts, text=meta["note"], call_id=call_id))
    if event.name == _LEGACY_PYTHON_TOOL:
        call = next(c for c in record.event.turn.tool_calls if c.id == call_id)
        code = _legacy_code(call) if call.name == _LEGACY_PYTHON_TOOL else None
        ok = meta.get("ok") is True and code is not None
        restarted = bool(meta.get("state_lost"))
        effects.append(CellExecuted(ts=event.ts, code=code or "", ok=ok, restarted=restarted, call_id=call_id))
        for a in event.attachments:
            if a.get("mime_type") == "image/png" and a.get("path"):
                effects.append(FigureProduced(ts=event.ts, path=str(a["path"]), call_id=call_id))
    return effects


def _legacy_code(call: ToolCall) -> str | None:
    parsed = call.parsed
    if parsed is None:
        try:
            parsed = orjson.loads(call.arguments)
        except orjson.JSONDecodeError:
            return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) else None


async def load_state(store: Store, run_id: str) -> RunState:
    """Fold a run's stored events into its state (a fork's: its parent's first steps, then its own)."""
    state = RunState(run_id=run_id)
    for stored in await run_events(store, run_id):
        state.apply(stored.event, stored.seq)
    return state


_LIFECYCLE = (RunFinished, StatusChanged, ErrorEvent)


async def run_events(store: Store, run_id: str) -> list[StoredEvent]:
    """A run's trace: its own events, after, for a fork, the events of the steps it shares with
    the run it was forked from (read there, by reference; forks of forks too). Inherited events
    keep their run id and seq."""
    own = await store.events(run_id)
    try:
        row = await store.get_run(run_id)
    except RunNotFound:
        return own
    if row.forked_from is None or row.fork_step is None:
        return own
    return shared_steps(await run_events(store, row.forked_from), row.fork_step) + own


def shared_steps(events: list[StoredEvent], step: int) -> list[StoredEvent]:
    """The events of a run's first ``step`` steps, as a fork at ``step`` inherits them: up to
    the last result of step ``step`` (up to the initial plan for step 0), without what only
    the parent's end was (its finish, status changes, errors); the notices and context
    decisions made after that step, for the next one, are the fork's to make."""
    end = 0
    for i, stored in enumerate(events):
        e = stored.event
        if isinstance(e, AssistantMessage | ToolResultEvent):
            if e.step > step:
                break
            end = i + 1
        elif step == 0 and isinstance(e, RunStarted | PlanUpdated):
            end = i + 1  # before the first turn: the task and the initial plan
    return [s for s in events[:end] if not isinstance(s.event, _LIFECYCLE)]


def steps_of(events: list[StoredEvent]) -> int:
    """How many turns (steps) a trace holds."""
    return sum(1 for s in events if isinstance(s.event, AssistantMessage))
