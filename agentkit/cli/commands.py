"""The ``agentkit`` command: run, resume, runs, show (typer + rich).

Module level imports only typer, rich's console and the standard library: what a command
needs (the store, the task loader, the agent, the model client) is imported inside it, so
``agentkit --help`` does not load them, and ``runs`` and ``show`` never load the model client
(tests/cli/test_startup.py checks; tools/bench/startup.py measures).
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from agentkit.cli import _demo_command as _cli_demo
from agentkit.cli import _eval as _cli_eval
from agentkit.cli import _index as _cli_index
from agentkit.cli import _mcp as _cli_mcp
from agentkit.cli import _replay as _cli_replay
from agentkit.cli import _view as _cli_view
from agentkit.cli._common import (
    DEBUG_ENV,
    DEMO_LABEL,
    DEMO_OUT,
    EXIT_INTERRUPTED,
    EXIT_RUN,
    BadStore,
    JsonOpt,
    StoreOpt,
    Terminated,
    debug_traceback,
    fail_input,
    first_leaf,
    out,
    read_store,
    run_async,
    say,
    shown_location,
    sigterm_cancels,
    store_flag,
)
from agentkit.cli._help import HelpCommand, HelpGroup
from agentkit.cli._live_view import err
from agentkit.cli._outcome import report_result, run_error, stopped_from_outside

if TYPE_CHECKING:
    from agentkit.cli._live_view import LiveView
    from agentkit.run._runs import RunResult
    from agentkit.store import RunInfo, Store
    from agentkit.task import Task

app = typer.Typer(
    cls=HelpGroup,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Autonomous research agents for thinking models.",
)


async def _drive(
    task: Task, store: Store, run_id: str, workdir: Path, view: LiveView, resume: bool, fork: Fork | None = None
) -> RunResult:
    import anyio

    import agentkit.ensembles.heavy  # noqa: F401  (heavy mode and delegation register with the Agent)
    from agentkit.run._from_task import agent_from_task
    from agentkit.store import StoreError
    from agentkit.store._location import make_work_root

    agent = agent_from_task(task, store=store, workdir=workdir, on_event=view)
    try:
        try:
            await store.open()  # a foreign, damaged or read-only store stops here, before anything runs
        except StoreError as exc:
            raise BadStore(exc) from exc
        await anyio.to_thread.run_sync(make_work_root, workdir)
        with anyio.CancelScope() as scope, sigterm_cancels(scope):  # SIGTERM stops the run as Ctrl-C does
            if fork is not None:
                agent.instructions = fork.instructions or agent.instructions
                result = await agent.fork(fork.parent, fork.at_step, fork_id=run_id)
            else:
                result = await (
                    agent.resume(run_id)
                    if resume
                    else agent.run(task.task, run_id=run_id, images=task.images, videos=task.videos)
                )
        if scope.cancelled_caught:
            raise Terminated(run_id)
        if result.report is not None:
            from agentkit.report import load_report, save_report

            report = await load_report(store, run_id)
            if report is not None:
                out_dir = Path(task.output.dir) if task.output.dir else workdir / run_id
                try:
                    view.files = save_report(report, out_dir, formats=(task.output.format,))
                except OSError as exc:
                    say(
                        f"agentkit: cannot write the report to {out_dir}: {exc.strerror or exc}; it is in the "
                        f"store: agentkit report {run_id} -o FILE"
                    )
        return result
    finally:
        with anyio.CancelScope(shield=True):
            await agent.aclose()
            await store.aclose()


@dataclass
class Fork:
    """What ``agentkit fork`` asks: a new run sharing ``at_step`` steps of ``parent``."""

    parent: str
    at_step: int
    instructions: str | None = None


def _execute(
    task: Task, store_opt: str | None, run_id: str, as_json: bool, resume: bool, fork: Fork | None = None
) -> NoReturn:
    from agentkit.store._location import open_store, resolve_store_location, work_root

    location = resolve_store_location(store_opt)
    try:
        store = open_store(location)
    except ValueError as exc:
        fail_input(f"cannot open the store at {shown_location(location)}: {exc}")
    view = _view_of(task, run_id)
    try:
        with view:
            result = run_async(lambda: _drive(task, store, run_id, work_root(location), view, resume, fork))
    except KeyboardInterrupt:
        stopped_from_outside(run_id, location, store_opt, as_json, "interrupted (Ctrl-C)", EXIT_INTERRUPTED)
    except Exception as raised:
        run_error(first_leaf(raised), run_id, location, store_opt, as_json)
    report_result(result, as_json, view.files)


def _view_of(task: Task, run_id: str) -> LiveView:
    """The live view, its header filled from the task before the run's first event."""
    from agentkit.cli._live_view import LiveView
    from agentkit.llm.client import shown_url
    from agentkit.llm.profiles import get_profile

    spec = task.model
    url = spec.base_url or get_profile(spec.provider).base_url
    return LiveView(
        task.limits.max_steps,
        task.context_window,
        run_id=run_id,
        task=task.task,
        model=spec.resolved_name,
        provider=spec.provider,
        endpoint=shown_url(str(url)) if url else "",
    )


@app.command(cls=HelpCommand)
def run(
    task_file: Annotated[Path, typer.Argument(help="The task file (YAML).")],
    store: StoreOpt = None,
    heavy: Annotated[int | None, typer.Option("--heavy", help="Run N trajectories and aggregate.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Override limits.max_steps.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Override output.dir.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a task file.

    No API key yet? tasks/offline.yaml runs on agentkit's offline model (scripted, no network),
    started first in another terminal with:

    python -m agentkit.testing --responder agentkit.testing.offline:researcher --port 8765
    """
    from agentkit.task import TaskFileError, load_task

    overrides: dict[str, object] = {}
    if max_steps is not None:
        overrides["limits.max_steps"] = max_steps
    if heavy is not None:
        overrides["heavy.trajectories"] = heavy
    if out_dir is not None:
        overrides["output.dir"] = str(out_dir)
    try:
        task = load_task(task_file, stores=[store, None])  # never from a work dir of --store (or any marked one)
        if overrides:
            task = task.with_overrides(overrides, source=f"{task_file} (command line)")
    except TaskFileError as exc:
        fail_input(str(exc))
    _execute(task, store, uuid.uuid4().hex[:12], as_json, resume=False)


@app.command(cls=HelpCommand)
def resume(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the report (a task's output.dir; a demo run: agentkit-demo)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Resume a run that was interrupted or crashed (or write the report a finished run still owes)."""
    from agentkit.cli._runs import report_pending
    from agentkit.run._from_task import task_of_run
    from agentkit.run._runs import stored_result
    from agentkit.store.status import ShownRun, shown_run
    from agentkit.task import TaskFileError

    async def find(s: Store) -> tuple[ShownRun, Task | None, bool]:
        """The run, its task (``None``: nothing left to do, or a demo run) and whether it is a
        demo run to continue (its trace, or its report, is unfinished)."""
        from agentkit.report import load_report

        shown = await shown_run(s, await s.find_run(run_id))
        info = shown.info
        ended = info.status in ("finished", "stopped", "failed")
        has_report = await load_report(s, info.id) is not None
        if info.label == DEMO_LABEL:
            return shown, None, not (ended and has_report)
        try:
            return shown, await task_of_run(s, info.id), False
        except ValueError:
            if ended and not report_pending(info, has_report):
                return shown, None, False  # nothing left to do: no task file needed to say so
            raise

    try:
        shown, task, demo_run = read_store(store, find)
        info = shown.info
        if task is not None:
            task.check_api_key(source=f"run {info.id}")
            if out_dir is not None:
                task = task.with_overrides({"output.dir": str(out_dir)}, source=f"run {info.id} (command line)")
    except (TaskFileError, ValueError) as exc:
        fail_input(str(exc))
    if demo_run:
        from agentkit.cli._demo_command import demo_execute

        demo_execute(out_dir or DEMO_OUT, store, info.id, resume=True, as_json=as_json)
    if task is None:
        say(f"run {info.id} already ended ({info.status}); nothing to resume")
        report_result(stored_result(shown), as_json)
    _execute(task, store, info.id, as_json, resume=True)


@app.command(cls=HelpCommand)
def fork(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix) to fork.")],
    at: Annotated[int, typer.Option("--at", help="Share the run's first STEP steps; the model is asked from STEP+1.")],
    config: Annotated[Path | None, typer.Option("--config", help="Task file of the new settings.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Another model.")] = None,
    instructions: Annotated[str | None, typer.Option("--instructions", help="New instructions.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A new run that shares a run's first STEP steps (by reference) and goes on live from there
    with new settings (the run's own task file unless --config, --model, --instructions)."""
    from agentkit.run._fork import ForkError, fork_point
    from agentkit.run._from_task import task_of_run
    from agentkit.task import TaskFileError, load_task

    async def find(s: Store) -> Task:
        parent, _ = await fork_point(s, run_id, at)
        if config is not None:
            return load_task(config, stores=[store, None])
        return await task_of_run(s, parent.id, hint="give the fork's settings with --config TASK.yaml")

    try:
        task = read_store(store, find)
        if model is not None:
            task = task.with_overrides({"model.name": model}, source="--model")
        task.check_api_key(source="the fork")
    except (TaskFileError, ForkError, ValueError) as exc:
        fail_input(str(exc))
    _execute(task, store, uuid.uuid4().hex[:12], as_json, resume=False, fork=Fork(run_id, at, instructions))


MAX_LISTED_RUNS = 1_000_000


@app.command(cls=HelpCommand)
def runs(
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="How many runs to list.")] = 50,
) -> None:
    """List runs, newest first (a run whose process died shows as interrupted)."""
    from rich.table import Table

    from agentkit.store.status import shown_status

    if not 1 <= limit <= MAX_LISTED_RUNS:  # past 64 bits, SQLite's own OverflowError: exit 1
        fail_input(f"--limit: must be between 1 and {MAX_LISTED_RUNS:,}")

    async def fetch(s: Store) -> list[RunInfo]:
        return [await shown_status(s, r) for r in await s.list_runs(limit=limit)]

    rows = read_store(store, fetch)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    forks = any(r.forked_from for r in rows)  # the lineage column only when there is lineage to show
    table = Table()
    table.add_column("run", no_wrap=True, min_width=max((len(r.id) for r in rows), default=3))  # ids whole
    for name in ("status", "steps", "cost", "started", *(("lineage",) if forks else ()), "task"):
        table.add_column(name, overflow="fold" if name == "lineage" else "ellipsis")  # a parent's id whole
    for r in rows:
        started = _dt.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
        lineage = [f"fork of {r.forked_from} at step {r.fork_step}" if r.forked_from else ""] if forks else []
        task = r.task[:60].replace("\n", " ")
        table.add_row(r.id, r.status, str(r.steps), f"${r.cost_usd:.4f}", started, *lineage, task)
    out.print(table)


@app.command(cls=HelpCommand)
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run: plan, steps, answer, usage and cost."""
    from rich.text import Text

    from agentkit.cli._runs import clipped, report_pending, shown_call
    from agentkit.context.builder import learned_window
    from agentkit.store.events import AssistantMessage, PlanUpdated, RunStarted, ToolResultEvent, UserMessage
    from agentkit.store.fold import RunState
    from agentkit.store.status import ShownRun, shown_run

    async def fetch(s: Store) -> tuple[ShownRun, list[Any], bool]:
        from agentkit.report import load_report

        shown = await shown_run(s, await s.find_run(run_id))
        pending = report_pending(shown.info, await load_report(s, shown.info.id) is not None)
        return shown, [e.event for e in await s.events(shown.info.id)], pending

    shown, events, pending = read_store(store, fetch)
    info = shown.info
    if as_json:
        data = info.model_dump(mode="json")
        data["run_id"] = info.id
        data["tool_calls"] = shown.tool_calls
        data["report_pending"] = pending
        data["output"] = shown.output  # the validated answer's JSON (a run with output.schema)
        data["events"] = [e.model_dump(mode="json") for e in events]
        out.print_json(json.dumps(data))
        return
    reason = f" ({info.stop_reason})" if info.stop_reason else ""
    out.print(Text.assemble((f"run {info.id}", "bold"), f" — {info.status}{reason}"), highlight=False)
    if info.forked_from:
        out.print(f"forked from {info.forked_from} at step {info.fork_step} (its first {info.fork_step} steps)")
    out.print(
        f"steps {info.steps}, tool calls {shown.tool_calls}, prompt tokens {info.usage.prompt_tokens:,} "
        f"({info.usage.cached_tokens:,} cached), completion {info.usage.completion_tokens:,}, "
        f"cost ${info.cost_usd:.4f}"
    )
    turns = [e for e in events if isinstance(e, AssistantMessage)]
    window = int(info.config.get("context_window") or 0)
    state = RunState(run_id=info.id)
    for event in events:
        state.apply(event)
    window = learned_window(state, window) if window else 0  # a window the run learned from its server
    if turns and window:
        last = turns[-1].turn.usage.prompt_tokens
        peak = max(t.turn.usage.prompt_tokens for t in turns)
        prunes = sum(1 for e in events if getattr(e, "action", "") == "prune")
        out.print(
            f"context: last request {last:,} of {window:,} tokens ({last / window:.0%}), largest {peak:,}, "
            f"{prunes} prune(s)"
        )
    # Model and tool text is data: it goes in as plain Text, never parsed as markup.
    for e in events:
        if isinstance(e, RunStarted):
            out.print(Text.assemble("\n", ("task", "bold"), "\n", e.task), highlight=False)
        elif isinstance(e, PlanUpdated):
            label = "plan" if e.reason == "initial" else "revised plan"
            out.print(Text.assemble("\n", (label, "bold"), "\n", e.plan, "\n"), highlight=False)
        elif isinstance(e, AssistantMessage):
            calls = ", ".join(shown_call(c.name, c.arguments) for c in e.turn.tool_calls) or "answer"
            out.print(Text.assemble((f"step {e.step}", "cyan"), " ", calls), highlight=False)
        elif isinstance(e, ToolResultEvent) and e.is_error:
            error = clipped(" ".join(e.text.split()), 100)
            out.print(Text.assemble("   ", (f"{e.name} error:", "red"), " ", error), highlight=False)
        elif isinstance(e, UserMessage):
            out.print(Text.assemble("   ", (e.kind, "yellow")), highlight=False)
    if info.answer:
        out.print(Text.assemble("\n", ("answer", "bold"), "\n", info.answer), highlight=False)
    if pending:
        out.print(
            f"\n[yellow]report pending:[/] the run stopped while writing it; write it with: "
            f"agentkit resume {info.id}{store_flag(store)}",
            highlight=False,
        )
    elif info.status == "interrupted":
        out.print(f"\nresume it with: agentkit resume {info.id}{store_flag(store)}", highlight=False)


_cli_demo.register(app)  # here, so `agentkit --help` lists it among the run commands


@app.command(cls=HelpCommand)
def report(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    fmt: Annotated[str, typer.Option("--format", help="md or html.")] = "md",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file (default: stdout).")] = None,
    store: StoreOpt = None,
) -> None:
    """Print or save a run's report, from the store (no network)."""
    from agentkit.cli._runs import report_pending
    from agentkit.report import load_report, render_html, render_markdown
    from agentkit.store.status import shown_status

    if fmt not in ("md", "html"):
        fail_input(f"--format: unknown report format {fmt!r}; valid formats: md, html")

    async def fetch(s: Store) -> Any:
        info = await shown_status(s, await s.find_run(run_id))
        return info, await load_report(s, info.id)

    info, rep = read_store(store, fetch)
    if rep is None and report_pending(info, False):
        fail_input(
            f"the report of run {info.id} is pending: the run stopped while writing it; "
            f"write it with: agentkit resume {info.id}{store_flag(store)}"
        )
    if rep is None:
        fail_input(
            f"run {info.id} has no report (it was run with output.report: false, or it did not finish); "
            "the store keeps its trace: agentkit show " + info.id
        )
    text = render_html(rep) if fmt == "html" else render_markdown(rep)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail_input(f"-o {output}: cannot write the report: {exc.strerror or exc}")
        err.print(f"wrote {output}")


# Commands that live in their own modules: each module imports only typer at load time (its
# heavy parts inside the command, so `agentkit --help` stays fast) and adds itself to `app`.
# One line per module below.
_cli_view.register(app)
_cli_eval.register(app)
_cli_mcp.register(app)
_cli_replay.register(app)
_cli_index.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # the last resort: a bug prints one line, not a traceback
        say(f"agentkit: internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 to see where)")
        debug_traceback(exc)
        sys.exit(EXIT_RUN)


if __name__ == "__main__":
    main()
