"""Tools: the ``@tool`` machinery and the built-ins (web_search, fetch, python, recall)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentkit.task.sections import ToolSettings
from agentkit.tools.base import (
    Attachment,
    FunctionTool,
    Tool,
    ToolContext,
    ToolOutput,
    ToolRegistry,
    ToolResult,
    tool,
)

BUILTIN_TOOLS = ("web_search", "fetch", "python")


def builtin_tools(
    settings: ToolSettings | Mapping[str, Any] | None = None, names: Sequence[str] | None = None
) -> list[Tool]:
    """The built-in tools configured from a task's sections (``search``, ``fetch``, ``sandbox``),
    each validated with its one definition in :mod:`agentkit.task.sections` (a bad value raises).

    ``names`` picks and orders them (default: web_search, fetch, python; ``recall`` too, by
    name: :func:`~agentkit.task.sections.default_tools` says when a run gets it unasked). Names
    the loop provides itself (``note``, ``delegate``) are skipped here.
    """
    typed = ToolSettings.of(settings).validated()
    chosen = list(names) if names is not None else list(BUILTIN_TOOLS)
    tools: list[Tool] = []
    for name in chosen:
        if name == "web_search":
            from agentkit.tools.web_search import WebSearchTool

            tools.append(WebSearchTool.from_settings(typed.search))
        elif name == "fetch":
            from agentkit.tools.fetch import FetchCache, FetchTool

            fetch = typed.fetch
            tools.append(FetchTool(allow_private_hosts=fetch.allow_private_hosts, cache=FetchCache.shared()))
        elif name == "recall":
            from agentkit.tools.recall import RecallTool

            tools.append(RecallTool())
        elif name == "python":
            from agentkit.tools.python import PythonTool

            sandbox = typed.sandbox
            tools.append(
                PythonTool(
                    network=sandbox.network,
                    memory_mb=sandbox.memory_mb,
                    timeout_s=sandbox.timeout_s,
                    isolation=sandbox.isolation,
                )
            )
    return tools


__all__ = [
    "BUILTIN_TOOLS",
    "Attachment",
    "FunctionTool",
    "Tool",
    "ToolContext",
    "ToolOutput",
    "ToolRegistry",
    "ToolResult",
    "builtin_tools",
    "tool",
]
