"""A fork: a new run whose first steps are another run's, read from that run's trace by
reference (``forked_from`` and ``fork_step`` on the new run's row; the fold reads them,
:func:`agentkit.store.fold.run_events`), going on with new settings from the next step."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING

from agentkit.llm.errors import ConfigurationError
from agentkit.run._runs import RunBook, RunResult, never_left_running
from agentkit.run.live import EventHandler
from agentkit.store.base import RunNotFound, Store
from agentkit.store.events import RunInfo, RunStarted
from agentkit.store.fold import RunState, load_state, run_events, steps_of

if TYPE_CHECKING:
    from agentkit.run.agent import Agent


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


async def fork_run(
    agent: Agent,
    run_id: str,
    at_step: int,
    *,
    model: str | None = None,
    instructions: str | None = None,
    on_event: EventHandler | None = None,
    fork_id: str | None = None,
) -> RunResult:
    """:meth:`Agent.fork <agentkit.run.agent.Agent.fork>`: the new run made, its start
    committed, then driven as any run from step ``at_step + 1``."""
    if model is not None or instructions is not None:
        agent = copy.copy(agent)
        if model is not None:
            with_model = getattr(agent.llm, "with_model", None)
            if with_model is None:
                raise ConfigurationError(f"this agent's model client cannot switch to {model!r}: pass llm=")
            agent.llm = with_model(model)
        if instructions is not None:
            agent.instructions = instructions
    parent, state = await fork_point(agent.store, run_id, at_step)
    fork_id = fork_id or uuid.uuid4().hex[:12]
    on_event = on_event or agent.on_event
    async with agent.store.lease(fork_id), never_left_running(agent.store, fork_id):
        config = agent.describe()
        config["system_prompt"] = agent.system_prompt()
        info = RunInfo(id=fork_id, task=parent.task, config=config, forked_from=parent.id, fork_step=at_step)
        await agent.store.create_run(info)
        book = RunBook(agent.store, await load_state(agent.store, fork_id))
        await book.start(RunStarted(task=state.task, config=config, images=state.images, videos=state.videos))
        result = await agent._drive(fork_id, on_event, resumed=False)
        return await agent._with_report(result, on_event)
