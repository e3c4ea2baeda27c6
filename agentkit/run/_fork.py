"""A fork: a new run whose first steps are another run's, read from that run's trace by
reference (``forked_from`` and ``fork_step`` on the new run's row; the fold reads them,
:func:`agentkit.store.fold.run_events`), going on with new settings from the next step."""

from __future__ import annotations

from agentkit.store.base import RunNotFound, Store
from agentkit.store.events import RunInfo
from agentkit.store.fold import RunState, run_events, steps_of


class ForkError(ValueError):
    """The run cannot be forked there (unknown, still running, a step out of range)."""


async def fork_point(store: Store, run_id: str, at_step: int) -> tuple[RunInfo, RunState]:
    """The run to fork (``run_id`` may be a unique prefix) and its state, checked: it exists,
    it is not running, it is a run of turns (not a heavy run's parent) and it has more than
    ``at_step`` steps (a fork asks the model for step ``at_step + 1``)."""
    try:
        parent = await store.find_run(run_id)
    except RunNotFound:
        raise ForkError(f"no run {run_id!r} in the store") from None
    if parent.status == "running":
        raise ForkError(f"run {parent.id} is running: fork it once it has stopped")
    if int(parent.config.get("heavy", 1) or 1) > 1:
        raise ForkError(f"run {parent.id} is a heavy run: fork one of its trajectories (agentkit runs lists them)")
    events = await run_events(store, parent.id)
    steps = steps_of(events)
    if not 0 <= at_step < steps:
        last = f"0 to {steps - 1}" if steps else "none: it took no step"
        raise ForkError(f"--at {at_step} is out of range: run {parent.id} has {steps} steps (fork points: {last})")
    state = RunState(run_id=parent.id)
    for stored in events:
        state.apply(stored.event, stored.seq)
    return parent, state
