"""The seam between the loop and the ensembles above it.

An :class:`~agentkit.run.agent.Agent` takes ``heavy=``, ``aggregate=``, ``early_stop=`` and
``delegate=`` as configuration, but heavy mode and delegation live a layer above it
(:mod:`agentkit.ensembles.heavy`): they drive Agents. They register themselves here when they are
imported (``agentkit/__init__.py`` imports them), so the Agent can hand a heavy run over, or
add the delegate tool, without importing the layer above it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agentkit.run._runs import RunResult
    from agentkit.run.agent import Agent
    from agentkit.run.live import EventHandler
    from agentkit.tools.base import Tool
    from agentkit.vocabulary import ImageRef, VideoRef


class Ensembles(Protocol):
    """What the layer above the loop offers the Agent."""

    async def run_heavy(
        self,
        agent: Agent,
        task: str,
        *,
        run_id: str,
        on_event: EventHandler | None,
        resumed: bool,
        images: Sequence[ImageRef] = (),
        videos: Sequence[VideoRef] = (),
    ) -> RunResult:
        """Run (or resume) ``agent.heavy`` trajectories of ``task`` as child runs and aggregate them."""

    def delegate_tool(self, agent: Agent) -> Tool:
        """The ``delegate`` tool: subtasks handed to sub-agents, each a child run
        (:mod:`agentkit.ensembles._swarm`); checks the agent's ``swarm`` settings."""


_registered: list[Ensembles] = []


def register(ensembles: Ensembles) -> None:
    """Called once by :mod:`agentkit.ensembles.heavy` when it is imported."""
    _registered[:] = [ensembles]


def ensembles() -> Ensembles:
    if not _registered:
        raise RuntimeError("heavy mode and delegation need agentkit.ensembles.heavy, which `import agentkit` loads")
    return _registered[0]
