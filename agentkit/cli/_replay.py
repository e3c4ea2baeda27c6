"""``agentkit replay RUN_ID``: re-drive a stored run offline with today's code (read-only)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from agentkit.cli._common import EXIT_OK, EXIT_RUN, JsonOpt, StoreOpt, fail_input, out, read_store
from agentkit.cli._help import HelpCommand


def register(app: typer.Typer) -> None:
    @app.command(cls=HelpCommand)
    def replay(
        run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
        until: Annotated[int | None, typer.Option("--until", help="Stop after this step.")] = None,
        store: StoreOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Re-drive a stored run with no network and no model (turns and tool results from its
        trace, everything else today's code) and report the first step where today's code would
        send a different request, or that every step replays identically. Writes nothing."""
        from agentkit.replays import ReplayError, ReplayReport
        from agentkit.replays._replay import replay_run
        from agentkit.store import Store

        async def go(s: Store) -> ReplayReport | str:
            try:
                return await replay_run(s, run_id, until=until)
            except ReplayError as exc:
                return str(exc)

        found = read_store(store, go)
        if isinstance(found, str):
            fail_input(found)
        if as_json:
            out.print_json(json.dumps(found.as_data()))
        else:
            out.print(f"run {found.run_id}: {found.summary()}", highlight=False)
            for line in _notes(found):
                out.print(f"  note: {line}", highlight=False)
        raise typer.Exit(EXIT_OK if found.identical else EXIT_RUN)


def _notes(report: object) -> list[str]:
    from agentkit.replays import ReplayReport

    assert isinstance(report, ReplayReport)
    lines = list(report.notes)
    for child in report.children:
        lines += [f"{child.run_id}: {n}" for n in _notes(child)]
    return lines
