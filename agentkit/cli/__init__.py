"""The ``agentkit`` command: its subcommands (``commands``, ``_eval``, ``_mcp``, ``_runs``, ``_view``),
the live panel, the demo and ``agentkit mcp``'s server. Imports: anything of agentkit (the top layer).
"""

from agentkit.cli.commands import app, main

__all__ = ["app", "main"]
