"""A run as a reader should see it: the one answer every reader gives (``agentkit runs``,
``show``, ``view``, ``resume``'s summary, the MCP server's ``run_status``, eval, the Python API).

The run's row is written by its driver at a few points (its start, its end, an interruption,
a resume), so while a run is driven, and after its driver was killed, the row lags. The truth
is the trace (its fold) and the lease:

- **status**: a row that says ``running`` shows the status of the trace's ``RunFinished`` when
  there is one (the end is committed: the row is written next, or the driver died first); else
  ``running`` while someone holds the run's lease, ``interrupted`` when no one does (its driver
  was killed). Any other row status is the run's.
- **counters** (steps, usage, cost): from the fold for a row that says ``running``; from the row
  otherwise (the driver brought it in step with the fold when it ended or interrupted the run;
  a heavy run's row holds its trajectories' sums). A heavy run's counters from the fold are its
  trajectories' plus its own charges (aggregation, report).
- **tool calls**: the row has none; :func:`shown_run` counts them from the fold.

Cost: :func:`shown_status` reads nothing for a row that ended (a listing of a thousand ended
runs reads only their rows); the fold and the lease of a ``running`` row only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentkit.store.base import Store
from agentkit.store.events import Aggregated, RunInfo
from agentkit.store.fold import RunState
from agentkit.vocabulary import Usage

DRIVER_GONE = "its driver stopped without ending it (killed or crashed); resume it"


@dataclass(frozen=True)
class ShownRun:
    """A run as :func:`shown_run` shows it."""

    info: RunInfo
    """The row with the status and counters a reader should see."""
    tool_calls: int
    """Tool calls the run made (a heavy run: its trajectories')."""


async def shown_status(store: Store, run: RunInfo) -> RunInfo:
    """``run`` (a row as stored) as a reader should see it: status from the lease and the
    trace, counters from the trace when the row lags. Reads nothing more for a row that ended."""
    if run.status != "running":
        return run
    return (await shown_run(store, run)).info


async def shown_run(store: Store, run: RunInfo) -> ShownRun:
    """As :func:`shown_status`, with the run's tool calls counted (always reads its trace)."""
    state, extra_usage, extra_cost = await _fold(store, run.id)
    if _is_heavy(run):
        kids = [await shown_run(store, k) for k in await store.list_runs(parent_id=run.id, limit=100_000)]
        steps = sum(k.info.steps for k in kids)
        usage = sum((k.info.usage for k in kids), state.usage + extra_usage)
        cost = sum((k.info.cost_usd for k in kids), state.cost_usd + extra_cost)
        tool_calls = sum(k.tool_calls for k in kids)
    else:
        steps, usage, cost, tool_calls = state.step, state.usage, state.cost_usd, state.tool_calls
    if run.status != "running":
        return ShownRun(run, tool_calls)
    update: dict[str, Any] = {"steps": steps, "usage": usage, "cost_usd": cost}
    fin = state.finished
    if fin is not None:  # ended in the trace; the row is written next (or its driver died first)
        update |= {"status": fin.status, "answer": fin.answer, "stop_reason": fin.stop_reason}
    elif await store.is_leased(run.id) is False:
        update |= {"status": "interrupted", "stop_reason": run.stop_reason or DRIVER_GONE}
    return ShownRun(run.model_copy(update=update), tool_calls)


async def _fold(store: Store, run_id: str) -> tuple[RunState, Usage, float]:
    """The run's fold, and what its aggregation turns spent (a heavy run charges them to its
    row when it ends; the fold does not count them)."""
    state = RunState(run_id=run_id)
    usage, cost = Usage(), 0.0
    for stored in await store.events(run_id):
        state.apply(stored.event, stored.seq)
        if isinstance(stored.event, Aggregated) and stored.event.turn is not None:
            usage, cost = usage + stored.event.turn.usage, cost + stored.event.turn.cost_usd
    return state, usage, cost


def _is_heavy(run: RunInfo) -> bool:
    heavy = run.config.get("heavy")
    return isinstance(heavy, int) and heavy > 1
