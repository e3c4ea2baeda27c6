"""``agentkit replay``: re-drive a stored run with today's code, offline, and say where it differs.

The run's first events (its start; for a fork, the steps it shares too) are copied into a
scratch store in memory; today's loop then resumes it there, its model answering from the trace
(:mod:`agentkit.replays._script`) and its tools too (:mod:`agentkit.replays._tools`). Each turn
today's code commits carries the record of the request it would have sent; the scratch store
compares it with the one the run recorded at that step (:mod:`agentkit.replays._compare`). The
first difference, or a model call the trace does not have where today's code makes it, or an
end where the trace goes on, is the divergence. Nothing is written to the replayed store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentkit.replays._agent import agent_of, model_of
from agentkit.replays._compare import SentHistory, differences
from agentkit.replays._script import Divergence, Recording, ReplayDone, TraceModel
from agentkit.replays._tools import RecordedTools
from agentkit.run.agent import Agent
from agentkit.store.base import RunNotFound, Store
from agentkit.store.events import AssistantMessage, RunInfo, RunStarted, SentRequest, StoredEvent, TraceEvent
from agentkit.store.fold import RunState, run_events
from agentkit.store.memory import MemoryStore


class ReplayError(ValueError):
    """The run cannot be replayed (unknown, still running, a step out of range)."""


@dataclass
class ReplayReport:
    """What a replay found for one run (and its child runs: trajectories, sub-agents)."""

    run_id: str
    steps: int = 0
    """Steps whose request today's code would send identically."""
    recorded_steps: int = 0
    unrecorded: int = 0
    """Steps re-driven whose trace keeps no request to compare (stored before it was kept)."""
    divergence: Divergence | None = None
    until: int | None = None
    notes: list[str] = field(default_factory=list)
    children: list[ReplayReport] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.divergence is None and all(c.identical for c in self.children)

    @property
    def first_divergence(self) -> ReplayReport | None:
        if self.divergence is not None:
            return self
        return next((d for c in self.children if (d := c.first_divergence) is not None), None)

    def summary(self) -> str:
        found = self.first_divergence
        if found is not None and found.divergence is not None:
            where = "" if found is self else f" (run {found.run_id})"
            return f"diverges at step {found.divergence.step}{where}: {found.divergence.what}"
        total = self.steps + sum(c.total_steps() for c in self.children)
        line = f"replayed {total} steps identically"
        if self.children:
            line += f" ({len(self.children)} child run{'s' if len(self.children) > 1 else ''} included)"
        return line

    def total_steps(self) -> int:
        return self.steps + sum(c.total_steps() for c in self.children)

    def as_data(self) -> dict[str, Any]:
        d = self.divergence
        return {
            "run_id": self.run_id,
            "identical": self.identical,
            "summary": self.summary(),
            "steps": self.steps,
            "recorded_steps": self.recorded_steps,
            "unrecorded_steps": self.unrecorded,
            "until": self.until,
            "divergence": None if d is None else {"step": d.step, "what": d.what},
            "notes": self.notes,
            "children": [c.as_data() for c in self.children],
        }


async def replay_run(
    store: Store, run_id: str, *, agent: Agent | None = None, until: int | None = None, children: bool = True
) -> ReplayReport:
    """Replay ``run_id`` (an id or a unique prefix) of ``store``; see the module docstring.
    ``agent`` re-drives the run with its configuration instead of the stored one (a changed
    context policy, say); ``until`` stops after that step."""
    try:
        row = await store.find_run(run_id)
    except RunNotFound:
        raise ReplayError(f"no run {run_id!r} in the store") from None
    if row.status == "running":
        raise ReplayError(f"run {row.id} is running: replay it once it has stopped (or resume it first)")
    events = await run_events(store, row.id)
    steps = sum(1 for e in events if isinstance(e.event, AssistantMessage))
    if until is not None and not 1 <= until <= max(steps, 1):
        raise ReplayError(f"--until {until} is out of range: run {row.id} has {steps} steps")
    return await _replay(store, row, events, agent=agent, until=until, children=children)


async def _replay(
    store: Store,
    row: RunInfo,
    events: list[StoredEvent],
    *,
    agent: Agent | None,
    until: int | None,
    children: bool,
) -> ReplayReport:
    report = ReplayReport(run_id=row.id, until=until)
    heavy = int(row.config.get("heavy", 1) or 1) > 1
    if heavy:
        report.notes.append(f"heavy mode: its {row.config['heavy']} trajectories are replayed; the aggregation is not")
    elif any(isinstance(e.event, AssistantMessage) for e in events) or not children:
        await _replay_one(row, events, report, agent=agent, until=until)
    if children and until is None:
        for child in sorted(await store.list_runs(parent_id=row.id, limit=100_000), key=lambda r: r.created_at):
            if child.status == "running":
                report.notes.append(f"child run {child.id} is running: not replayed")
                continue
            report.children.append(
                await _replay(store, child, await run_events(store, child.id), agent=None, until=None, children=True)
            )
    return report


async def _replay_one(
    row: RunInfo, events: list[StoredEvent], report: ReplayReport, *, agent: Agent | None, until: int | None
) -> None:
    starts = [i for i, e in enumerate(events) if isinstance(e.event, RunStarted)]
    if not starts:
        report.notes.append("the trace has no start: nothing to replay")
        return
    seed, rest = events[: starts[-1] + 1], events[starts[-1] + 1 :]
    source = RunState(run_id=row.id)
    for stored in events:
        source.apply(stored.event, stored.seq)
    recording = Recording.of(rest)
    report.recorded_steps = recording.steps
    config = dict(source.config or row.config)
    with tempfile.TemporaryDirectory(prefix="agentkit-replay-") as work:
        real = agent.llm if agent is not None else model_of(config)
        model = TraceModel(real, recording, until=until)
        scratch = _Scratch(events, model)
        replaying = _for_replay(agent, config, scratch, model, Path(work))
        replaying.tools = RecordedTools(replaying.tools, source, events, source.sent_schemas)
        await scratch.create_run(
            row.model_copy(update={"status": "running", "forked_from": None, "fork_step": None, "config": config})
        )
        await scratch.seed(row.id, [e.event for e in seed])
        try:
            result = await replaying.resume(row.id, on_event=model.observe)
        except BaseException as exc:
            found = _finding(exc)
            if found is None:
                raise
            if isinstance(found, Divergence):
                report.divergence = found
            elif str(found):
                report.notes.append(f"stopped: {found}")
        else:
            _check_end(recording, model, result.status, report)
        finally:
            if agent is None:
                await real.aclose()
        report.steps, report.unrecorded = scratch.identical, scratch.unrecorded
        if scratch.unrecorded:
            report.notes.append(
                f"{scratch.unrecorded} step(s) keep no record of their request (stored before agentkit kept "
                "one): re-driven and checked for the order of model calls and the end, not compared"
            )


def _for_replay(agent: Agent | None, config: dict[str, Any], store: Store, model: TraceModel, work: Path) -> Agent:
    """The agent that re-drives the run: ``agent``'s configuration (or the stored one), the
    trace's model and tools, the scratch store, no report phase."""
    import copy

    if agent is None:
        replaying = agent_of(config, store, model, work)
    else:
        replaying = copy.copy(agent)
        replaying.llm, replaying.store, replaying.workdir = model, store, work
    replaying.writes_report = False
    replaying.heavy = 1
    replaying.shared_budget = None
    return replaying


def _finding(exc: BaseException) -> Divergence | ReplayDone | None:
    if isinstance(exc, Divergence | ReplayDone):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _finding(inner)
            if found is not None:
                return found
    cause = exc.__cause__ or exc.__context__
    return _finding(cause) if isinstance(cause, Divergence | ReplayDone) else None


def _check_end(recording: Recording, model: TraceModel, status: str, report: ReplayReport) -> None:
    left = [c for c in model.left if c.kind == "turn"]
    if left:
        report.divergence = Divergence(
            model.turns,
            f"today's code ends the run ({status}) after step {model.turns}; the trace goes on to step {left[-1].step}",
        )
        return
    recorded = recording.finished.status if recording.finished is not None else None
    if recorded is not None and recorded != status:
        report.divergence = Divergence(model.turns, f"the run ends {status}; the trace ends {recorded}")


class _Scratch(MemoryStore):
    """The store of a replay: in memory, comparing each turn today's code commits with the
    turn the run recorded at that step."""

    def __init__(self, events: Sequence[StoredEvent], model: TraceModel) -> None:
        super().__init__()
        self._model = model
        self._recorded: dict[int, tuple[SentRequest | None, tuple[list[str], Any]]] = {}
        history = SentHistory()
        for stored in events:
            e = stored.event
            if isinstance(e, AssistantMessage):
                full = history.add(e.sent) if e.sent is not None else (history.digests, history.schemas)
                self._recorded[e.step] = (e.sent, (list(full[0]), full[1]))
        self._today = SentHistory()
        self._comparing = False
        self.identical = 0
        self.unrecorded = 0

    async def seed(self, run_id: str, events: Sequence[TraceEvent]) -> None:
        for e in events:
            if isinstance(e, AssistantMessage) and e.sent is not None:
                self._today.add(e.sent)
        await super().append_many(run_id, events)
        self._comparing = True

    async def append_many(self, run_id: str, events: Sequence[TraceEvent]) -> list[int]:
        for e in events:
            if isinstance(e, AssistantMessage):
                self._check(e)
        return await super().append_many(run_id, events)

    def _check(self, e: AssistantMessage) -> None:
        today = e.sent
        full = self._today.add(today) if today is not None else (self._today.digests, self._today.schemas)
        recorded, recorded_full = self._recorded.get(e.step, (None, ([], None)))
        if recorded is None or today is None:
            self.unrecorded += 1
            return
        found = differences(recorded, recorded_full, today, full, self._model.last_messages)
        if found:
            raise Divergence(e.step, "; ".join(found))
        self.identical += 1
