"""Replay: re-drive a stored run offline with today's code and report the first divergence.

``agentkit.replay(run_id, store=...)`` (``await agentkit.replay_async(...)`` in async code; or
``agentkit replay RUN_ID``): the model's turns
and the tools' results come from the trace, everything else (context building, the budget, the
tools' effects, limits) is today's code; each turn's request is compared with the one the run
recorded. Nothing is written to the replayed store.
"""

from __future__ import annotations

from pathlib import Path

from agentkit.replays._replay import ReplayError, ReplayReport, replay_run
from agentkit.replays._script import Divergence
from agentkit.run.agent import Agent
from agentkit.store.base import Store


async def replay_async(
    run_id: str,
    *,
    store: Store | str | Path | None = None,
    agent: Agent | None = None,
    until: int | None = None,
    children: bool = True,
) -> ReplayReport:
    """Replay ``run_id`` (an id or a unique prefix). ``store``: a Store, or a location
    (``--store``'s rules: else ``AGENTKIT_STORE``, else ``.agentkit/agentkit.db``), opened
    read-only. ``agent``: re-drive with its configuration (tools, context policy, window...)
    instead of the run's stored one. ``until``: stop after that step. ``children``: replay
    the run's child runs too (heavy trajectories, sub-agents). Raises :class:`ReplayError`
    for a run that cannot be replayed."""
    if isinstance(store, Store):
        return await replay_run(store, run_id, agent=agent, until=until, children=children)
    from agentkit.store._location import open_store

    async with open_store(store, readonly=True) as opened:
        return await replay_run(opened, run_id, agent=agent, until=until, children=children)


def replay(
    run_id: str,
    *,
    store: Store | str | Path | None = None,
    agent: Agent | None = None,
    until: int | None = None,
    children: bool = True,
) -> ReplayReport:
    """:func:`replay_async` from synchronous code."""
    import anyio

    async def main() -> ReplayReport:
        return await replay_async(run_id, store=store, agent=agent, until=until, children=children)

    return anyio.run(main)


__all__ = ["Divergence", "ReplayError", "ReplayReport", "replay", "replay_async"]
