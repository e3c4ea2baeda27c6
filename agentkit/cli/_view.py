"""``agentkit view RUN_ID``: a run's trace as one self-contained HTML page (read-only); with
``--beside-parent``, a fork beside the run it was forked from."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentkit.cli._help import HelpCommand

if TYPE_CHECKING:
    from agentkit.view import RunView


def register(app: typer.Typer) -> None:
    @app.command(cls=HelpCommand)
    def view(
        run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
        output: Annotated[
            Path | None,
            typer.Option(
                "-o",
                "--output",
                help="Write the page to this file. Default: on a terminal, a temporary file opened in the "
                "browser; otherwise the page on stdout.",
            ),
        ] = None,
        store: Annotated[
            str | None,
            typer.Option("--store", help="Trace store (default: $AGENTKIT_STORE or .agentkit/agentkit.db)"),
        ] = None,
        open_page: Annotated[bool, typer.Option("--open", help="Open the page in the browser (also with -o).")] = False,
        watch: Annotated[
            bool,
            typer.Option(
                "--watch",
                help="While the run is in progress, rewrite the page every --interval seconds (the page reloads "
                "itself) until the run ends.",
            ),
        ] = False,
        interval: Annotated[
            float, typer.Option("--interval", min=1.0, help="Seconds between rewrites with --watch.")
        ] = 5.0,
        beside_parent: Annotated[
            bool,
            typer.Option(
                "--beside-parent",
                help="RUN_ID is a fork (agentkit fork): one page with it and the run it was forked from, the "
                "settings that differ, the shared steps once, then both runs' own steps side by side.",
            ),
        ] = False,
    ) -> None:
        """Show a run's trace as an HTML page: steps, tool calls, plan, context and cost charts,
        trajectories and sub-agents, report claims, a fork's lineage. The page works offline."""
        _view(run_id, output, store, open_page=open_page, watch=watch, interval=interval, beside=beside_parent)


def _view(
    run_id: str,
    output: Path | None,
    store: str | None,
    *,
    open_page: bool,
    watch: bool,
    interval: float,
    beside: bool = False,
) -> None:
    from agentkit.cli._common import fail_input, say

    to_stdout = output is None and not open_page and not sys.stdout.isatty()
    if beside and watch:
        fail_input("--watch follows one run: view the fork alone to follow it (agentkit view FORK --watch)")
    if to_stdout and watch:
        fail_input("--watch rewrites a file: give it one with -o FILE")
    refresh = max(1, round(interval)) if watch else None
    run, page = _build_side_by_side(run_id, store) if beside else _build(run_id, store, refresh)
    if to_stdout:
        sys.stdout.write(page)
        return
    target = output if output is not None else _temp_page(run.info.id)
    _write(target, page)
    if output is None or open_page:
        import webbrowser

        if webbrowser.open(target.resolve().as_uri()):
            say(f"opened {target}")
        else:
            say(f"no browser to open it with; the page is at {target}")
    else:
        say(f"wrote {target}")
    if not watch:
        return
    if run.in_progress:
        say(f"run {run.info.id} is in progress: rewriting {target} every {interval:g} s until it ends (Ctrl-C stops)")
    while run.in_progress:
        time.sleep(interval)
        run, page = _build(run.info.id, store, refresh)
        _write(target, page)
    say(f"run {run.info.id} is {run.info.status}: {target} shows its whole trace")


def _build(run_id: str, store: str | None, refresh: int | None) -> tuple[RunView, str]:
    from agentkit.cli._common import read_store
    from agentkit.view import gather, render_page

    run = read_store(store, lambda s: gather(s, run_id))
    return run, render_page(run, refresh_s=refresh)


def _build_side_by_side(run_id: str, store: str | None) -> tuple[RunView, str]:
    """The fork and its parent's page (a run that is no fork: an input error, exit 2)."""
    from agentkit.cli._common import read_store
    from agentkit.view import gather_side_by_side, render_side_by_side

    pair = read_store(store, lambda s: gather_side_by_side(s, run_id))
    return pair.fork, render_side_by_side(pair)


def _temp_page(run_id: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f"agentkit-view-{run_id[:24]}-", suffix=".html")
    os.close(fd)
    return Path(name)


def _write(target: Path, page: str) -> None:
    """Replace the file in one step, so a browser reloading it never reads half a page."""
    from agentkit.cli._common import fail_input

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".agentkit-view-", suffix=".html", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(page)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        fail_input(f"-o {target}: cannot write the page: {exc.strerror or exc}")
