"""``agentkit view``: a run's trace as one self-contained, offline HTML page.

:func:`gather` reads a run (and its child runs) from a store into a typed :class:`RunView`;
:func:`render_page` turns that into the page: the steps with their reasoning, tool calls and
results (collapsed, filterable), the plan's revisions, context and cost charts (static SVG,
drawn at generation time), heavy trajectories and sub-agents side by side with the
aggregation, and the report's claims linked to the steps that found their sources.
"""

from agentkit.view.gather import gather
from agentkit.view.model import RunView
from agentkit.view.page import render_page

__all__ = ["RunView", "gather", "render_page"]
