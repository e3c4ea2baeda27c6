"""``agentkit view``: a run's trace as one self-contained, offline HTML page.

:func:`gather` reads a run (and its child runs) from a store into a typed :class:`RunView`;
:func:`render_page` turns that into the page: the steps with their reasoning, tool calls and
results (collapsed, filterable), the plan's revisions, context and cost charts (static SVG,
drawn at generation time), heavy trajectories and sub-agents side by side with the
aggregation, the report's claims linked to the steps that found their sources, and a fork's
lineage. :func:`gather_side_by_side` and :func:`render_side_by_side` make the page of a fork
beside the run it was forked from.
"""

from agentkit.view.gather import NotAFork, gather, gather_side_by_side
from agentkit.view.model import RunView, SideBySide
from agentkit.view.page import render_page, render_side_by_side

__all__ = ["NotAFork", "RunView", "SideBySide", "gather", "gather_side_by_side", "render_page", "render_side_by_side"]
