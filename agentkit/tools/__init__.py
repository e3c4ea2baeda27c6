"""Tools: the ``@tool`` machinery and the built-ins (web_search, fetch, python)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def builtin_tools(settings: dict[str, Any] | None = None, names: Sequence[str] | None = None) -> list[Tool]:
    """The built-in tools configured from a task's sections (``search``, ``fetch``, ``sandbox``).

    ``names`` picks and orders them (default: web_search, fetch, python). Names the loop
    provides itself (``note``, ``delegate``) are skipped here.
    """
    settings = settings or {}
    chosen = list(names) if names is not None else list(BUILTIN_TOOLS)
    tools: list[Tool] = []
    for name in chosen:
        if name == "web_search":
            from agentkit.tools.web_search import WebSearchTool

            tools.append(WebSearchTool.from_settings(settings.get("search")))
        elif name == "fetch":
            from agentkit.tools.fetch import FetchCache, FetchTool

            fetch = settings.get("fetch") or {}
            tools.append(
                FetchTool(allow_private_hosts=bool(fetch.get("allow_private_hosts", False)), cache=FetchCache.shared())
            )
        elif name == "python":
            from agentkit.tools.python import PythonTool

            sandbox = settings.get("sandbox") or {}
            tools.append(
                PythonTool(
                    network=bool(sandbox.get("network", False)),
                    memory_mb=int(sandbox.get("memory_mb", 2048)),
                    timeout_s=float(sandbox.get("timeout_s", 120)),
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
