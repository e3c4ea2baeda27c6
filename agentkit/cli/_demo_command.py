"""``agentkit demo``: the scripted offline demo, and ``agentkit resume`` of a demo run.

Only typer loads with the module (``agentkit --help`` stays fast); the demo's parts (the fake
provider, the agent, the store) load when it runs.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from agentkit.cli._common import (
    DEMO_OUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN,
    BadStore,
    StoreOpt,
    Terminated,
    fail_input,
    first_leaf,
    out,
    run_async,
    shown_location,
    sigterm_cancels,
    store_flag,
)
from agentkit.cli._help import HelpCommand
from agentkit.cli._live_view import err
from agentkit.cli._outcome import report_result, run_error, stopped_from_outside

if TYPE_CHECKING:
    from agentkit.store import Store


def register(app: typer.Typer) -> None:
    app.command(cls=HelpCommand)(demo)


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write report.md and report.html.")] = DEMO_OUT,
    store: StoreOpt = None,
) -> None:
    """A complete research run offline, no key: the model is SCRIPTED, everything else is real."""
    err.print(
        "[bold magenta]SCRIPTED DEMO[/] — the model is agentkit's fake provider replaying a fixed "
        "trajectory on 127.0.0.1; search, fetch, the Python sandbox, the store, context pruning and "
        "citation checks are the real thing.\n"
    )
    demo_execute(out_dir, store, uuid.uuid4().hex[:12], resume=False, as_json=False)


def demo_execute(out_dir: Path, store_opt: str | None, run_id: str, *, resume: bool, as_json: bool) -> NoReturn:
    """Run (or resume) the demo run ``run_id``: stopped by Ctrl-C or SIGTERM it is saved and the
    message says how to resume it, as for any run."""
    from agentkit.store._location import open_store, resolve_store_location

    location = resolve_store_location(store_opt)
    try:
        store = open_store(location)
    except ValueError as exc:
        fail_input(f"cannot open the store at {shown_location(location)}: {exc}")
    more = "" if out_dir == DEMO_OUT else f" --out {out_dir}"
    try:  # the demo's parts load in here: a Ctrl-C while they do is an interruption too
        outcome = _outcome(out_dir, store, location, run_id, resume)
    except KeyboardInterrupt:
        stopped_from_outside(run_id, location, store_opt, as_json, "interrupted (Ctrl-C)", EXIT_INTERRUPTED, more)
    except Exception as raised:
        run_error(first_leaf(raised), run_id, location, store_opt, as_json, more)
    r = outcome.result
    if as_json:
        report_result(r, as_json, outcome.files)
    out.print(
        f"\n[bold]Answer[/] ({r.status}, {r.steps} steps, {r.tool_calls} tool calls, "
        f"{outcome.pruned} context prune(s))\n{r.answer}\n",
        highlight=False,
    )
    out.print(f"[bold]Report[/] {outcome.report_summary}", highlight=False)
    for path in outcome.files:
        out.print(f"  {path}", highlight=False)
    out.print(f"\nInspect the run: agentkit show {r.run_id}" + store_flag(store_opt))
    raise typer.Exit(EXIT_OK if r.status == "finished" else EXIT_RUN)


def _outcome(out_dir: Path, store: Store, location: str | Path, run_id: str, resume: bool) -> Any:
    """The demo's :class:`~agentkit.cli._demo.DemoOutcome` (typed ``Any`` here: runtime modules
    may not name the demo's types, even for the type checker; tests/test_layering.py)."""
    import anyio

    from agentkit.cli._demo import run_demo
    from agentkit.cli._live_view import LiveView
    from agentkit.store import StoreError
    from agentkit.store._location import ensure_work_root

    view = LiveView(20, 32_768, run_id=run_id, model="scripted demo", provider="fake")

    async def go() -> Any:
        try:
            try:
                await store.open()
            except StoreError as exc:
                raise BadStore(exc) from exc
            with view, anyio.CancelScope() as scope, sigterm_cancels(scope):
                outcome = await run_demo(
                    out_dir, store, ensure_work_root(location), on_event=view, run_id=run_id, resume=resume
                )
            if scope.cancelled_caught:
                raise Terminated(run_id)
            return outcome
        finally:
            with anyio.CancelScope(shield=True):
                await store.aclose()

    return run_async(go)
