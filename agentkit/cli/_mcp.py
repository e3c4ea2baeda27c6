"""``agentkit mcp``: serve agentkit's research runs to MCP clients over stdio."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer


def register(app: typer.Typer) -> None:
    @app.command("mcp")
    def mcp_command(
        store: Annotated[
            str | None,
            typer.Option("--store", help="Trace store (default: $AGENTKIT_STORE or .agentkit/agentkit.db)"),
        ] = None,
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                help="A task file (YAML) for the model, tools and limits of each run; its task: is not needed. "
                "Default: agentkit's defaults (moonshot, kimi-k3).",
            ),
        ] = None,
    ) -> None:
        """Serve research(question), resume(run_id), run_status(run_id) and report(run_id) as an
        MCP server over stdio (for Claude Desktop, IDEs and other agents)."""
        import anyio

        try:
            from agentkit.cli._mcp_server import ResearchServer, build_server
        except ImportError:
            _fail("agentkit mcp needs the mcp package: pip install 'agentkit[mcp]'")
        from agentkit.task import TaskFileError

        try:
            research = ResearchServer(store, config)
        except (TaskFileError, ValueError) as exc:
            _fail(str(exc))
        try:
            anyio.run(build_server(research).run_stdio_async)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)  # stdout belongs to the MCP protocol
    raise typer.Exit(2)
