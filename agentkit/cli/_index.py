"""``agentkit index FOLDER``: index a folder for the offline search backend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentkit.cli._common import fail_input, out
from agentkit.cli._help import HelpCommand
from agentkit.cli._live_view import err


def register(app: typer.Typer) -> None:
    @app.command(cls=HelpCommand)
    def index(
        folder: Annotated[Path, typer.Argument(help="A folder of .md, .txt, .html and .pdf documents.")],
        output: Annotated[
            Path | None, typer.Option("-o", "--output", help="Index file (default: FOLDER/.agentkit/index.sqlite).")
        ] = None,
    ) -> None:
        """Index a folder for the offline search backend (search: {backend: local, index: FOLDER})."""
        from agentkit.tools._index import build_index

        if not folder.is_dir():
            fail_input(f"{folder}: not a folder")
        target = output or folder / ".agentkit" / "index.sqlite"
        stats = build_index(folder, target)
        out.print(
            f"indexed {folder} -> {target}: {stats.added} added, {stats.updated} updated, "
            f"{stats.removed} removed, {stats.unchanged} unchanged; {stats.documents} documents, "
            f"{stats.chunks} chunks in {stats.seconds:.1f} s",
            highlight=False,
        )
        for path, reason in stats.failed:
            err.print(f"[yellow]skipped[/] {path}: {reason}", highlight=False)
