"""The ``agentkit`` command: its subcommands (``app``, ``_eval``, ``_mcp``, ``_runs``, ``_view``),
the live panel, the demo and ``agentkit mcp``'s server. Imports: anything of agentkit (the top layer).
"""

from agentkit.cli.app import app, main

__all__ = ["app", "main"]
