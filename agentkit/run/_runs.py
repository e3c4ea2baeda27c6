"""A run's record in the store, and how a run ends: one way for the loop and heavy mode.

Every event goes to the store as the store keeps it (text made valid Unicode) and into the
run's fold, so memory and trace never differ; a run ends with one ``RunFinished`` event and
its row brought in step with the fold. :class:`RunResult` is what a run returns.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
from pydantic import BaseModel, Field

from agentkit.store import clean_model
from agentkit.store.base import Store, StoreError
from agentkit.store.events import ErrorEvent, RunFinished, RunStatus, StatusChanged, StoredEvent, TraceEvent
from agentkit.store.fold import RunState, load_state
from agentkit.store.status import ShownRun
from agentkit.telemetry import run_observers
from agentkit.vocabulary import AssistantTurn, Usage


class RunResult(BaseModel):
    """The outcome of a run."""

    run_id: str
    status: RunStatus
    answer: str
    stop_reason: str | None = None
    error: str | None = None
    steps: int = 0
    tool_calls: int = 0
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    plan: str | None = None
    context_tokens: int = 0
    """Prompt tokens of the last request (what the context held at the end)."""
    context_window: int = 0
    report: str | None = None
    """The research report (markdown) when a report was written."""
    output: Any = None
    """With an output type (``Agent(output_type=...)``): the validated final answer, an instance
    of that type; with an output schema: the answer's parsed JSON. ``None`` without one, or when
    the run ended without a valid answer (see :mod:`agentkit.run._output`)."""


def stored_result(shown: ShownRun) -> RunResult:
    """The result of a run that already ended, as a reader sees it (:func:`shown_run`: status
    and counters from its trace where its row lags, its tool calls counted)."""
    info = shown.info
    return RunResult(
        run_id=info.id,
        status=info.status,
        answer=info.answer or "",
        stop_reason=info.stop_reason,
        error=info.stop_reason if info.status == "failed" else None,
        steps=info.steps,
        tool_calls=shown.tool_calls,
        usage=info.usage,
        cost_usd=info.cost_usd,
        output=shown.output,
    )


MAX_UNFINISHED_REPLIES = 3
CUT_OFF = "cut off by max_tokens"
EMPTY = "empty"
ASK_AGAIN_PROMPTS = {
    CUT_OFF: (
        "Your last reply was cut off by the output limit before it ended. Continue the task: call a tool "
        "if you need one, or give your complete final answer again, more concisely."
    ),
    EMPTY: "Your last reply was empty. Continue the task: call a tool, or give your final answer.",
}


def unfinished_reply(turn: AssistantTurn) -> str | None:
    """Why a turn without tool calls is not a final answer (``None``: it is one)."""
    if turn.finish_reason == "length":
        return CUT_OFF
    if not turn.content.strip():
        return EMPTY
    return None


class RunBook:
    """Keeps one run's trace, fold and row in step."""

    def __init__(self, store: Store, state: RunState) -> None:
        self.store, self.state = store, state

    @property
    def run_id(self) -> str:
        return self.state.run_id

    async def commit(self, event: TraceEvent) -> None:
        event = clean_model(event)  # what the store keeps (lone surrogates replaced), so the view can encode it
        seq = await self.store.append(self.run_id, event)
        self.state.apply(event, seq)
        await self._observed([event], [seq])

    async def start(self, event: TraceEvent) -> None:
        """Commit a new run's first event; if the store refuses it, settle the run (its row
        exists: it must not stay ``running``) and raise."""
        try:
            await self.commit(event)
        except Exception as exc:
            with anyio.CancelScope(shield=True):
                await self.settle(exc)
            raise

    async def commit_many(self, events: Sequence[TraceEvent]) -> None:
        """Several events in one append (one transaction where the store has them)."""
        kept = [clean_model(e) for e in events]
        seqs = await self.store.append_many(self.run_id, kept)
        for event, seq in zip(kept, seqs, strict=True):
            self.state.apply(event, seq)
        await self._observed(kept, seqs)

    async def _observed(self, events: Sequence[TraceEvent], seqs: Sequence[int]) -> None:
        """Tell the run observers (OpenTelemetry traces, when on: agentkit.telemetry) what was committed."""
        observers = run_observers()
        if observers:
            stored = [
                StoredEvent.model_construct(run_id=self.run_id, seq=q, event=e)
                for e, q in zip(events, seqs, strict=True)
            ]
            for observer in observers:
                await observer(self.store, self.state, stored)

    async def sync_row(self, **fields: Any) -> None:
        """The run row from the fold (``fields`` add to it or override it, e.g. heavy totals)."""
        s = self.state
        row: dict[str, Any] = {"steps": s.step, "usage": s.usage, "cost_usd": s.cost_usd, **fields}
        await self.store.update_run(self.run_id, **row)

    async def finish(
        self, status: RunStatus, answer: str, stop_reason: str | None = None, *, output: Any = None, **row: Any
    ) -> None:
        await self.commit(RunFinished(status=status, answer=answer, stop_reason=stop_reason, output=output))
        await self.sync_row(status=status, answer=answer, stop_reason=stop_reason, **row)

    async def fail(self, kind: str, message: str, **row: Any) -> None:
        await self.commit(ErrorEvent(kind=kind, message=message, step=self.state.step))
        await self.finish("failed", self.best_answer(), stop_reason=message, **row)

    async def settle(self, exc: BaseException) -> None:
        """End the run after ``exc`` stopped its driving early, by the rule of :func:`ending`,
        as far as the store still takes writes: its event and its row; the row alone when the
        store refuses events but takes row updates (a refused first event as a refused later
        one); nothing when it takes neither (the run then shows as its last committed event and
        its free lease say: ``interrupted``). A run whose end is committed keeps it."""
        fin = self.state.finished
        if fin is not None:
            with contextlib.suppress(Exception):
                await self.sync_row(status=fin.status, answer=fin.answer, stop_reason=fin.stop_reason)
            return
        status, reason = ending(exc)
        with contextlib.suppress(Exception):
            if status == "failed":
                await self.fail(type(exc).__name__, reason)
            else:
                await self.interrupt(reason)
            return
        with contextlib.suppress(Exception):
            await self.sync_row(status=status, stop_reason=reason)

    async def interrupt(self, reason: str) -> None:
        await self.commit(StatusChanged(status="interrupted", reason=reason))
        await self.sync_row(status="interrupted", stop_reason=reason)

    async def resumed(self) -> None:
        await self.commit(StatusChanged(status="running", reason="resumed"))
        await self.store.update_run(self.run_id, status="running", stop_reason=None)

    def best_answer(self) -> str:
        for record in reversed(self.state.records):
            if record.event.turn.content.strip():
                return record.event.turn.content
        return ""

    def result(self, window: int) -> RunResult:
        s = self.state
        fin = s.finished
        status: RunStatus = fin.status if fin else "interrupted"
        return RunResult(
            run_id=self.run_id,
            status=status,
            answer=fin.answer if fin else self.best_answer(),
            stop_reason=fin.stop_reason if fin else None,
            error=s.errors[-1].message if s.errors and status == "failed" else None,
            steps=s.step,
            tool_calls=s.tool_calls,
            usage=s.usage,
            cost_usd=s.cost_usd,
            plan=s.plan,
            context_tokens=s.records[-1].event.turn.usage.prompt_tokens if s.records else 0,
            context_window=window,
            output=fin.output if fin else None,
        )


def ending(exc: BaseException) -> tuple[RunStatus, str]:
    """How a run whose driving ``exc`` ended early is settled, wherever it struck (its first
    event, the loop, the report phase, heavy mode's aggregation): ``interrupted`` when nothing
    the run did is lost and it can resume (a cancellation, Ctrl-C, a write the store refused:
    a full disk, a lost connection), ``failed`` for an error (a bug, an encoding)."""
    if isinstance(exc, StoreError):
        return "interrupted", f"the store refused a write: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "interrupted by the user"
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "interrupted", "cancelled"
    return "failed", f"{type(exc).__name__}: {exc}"


@contextlib.asynccontextmanager
async def never_left_running(store: Store, run_id: str) -> AsyncIterator[None]:
    """Whatever ends the block early, a run whose row still says ``running`` is settled before
    the exception goes on, wherever it struck (in the loop, while the run's row and first event
    were written, its state read, heavy mode set up), by one rule (:func:`ending`):
    ``interrupted`` for a cancellation, Ctrl-C or a refused write (a full disk, whether it
    refused the run's first event or a later one: what was committed stays, and the run can
    resume), ``failed`` for an error (a bug, an encoding). A store that refuses events but
    takes row updates gets the row alone (:meth:`RunBook.settle`)."""
    try:
        yield
    except BaseException as exc:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            if (await store.get_run(run_id)).status == "running":
                await RunBook(store, await load_state(store, run_id)).settle(exc)
        raise
