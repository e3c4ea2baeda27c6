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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from agentkit._text import clean_text
from agentkit.cli import _eval as _cli_eval
from agentkit.cli import _mcp as _cli_mcp
from agentkit.cli import _view as _cli_view
from agentkit.cli._common import (
    DEBUG_ENV,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN,
    EXIT_TERMINATED,
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
from agentkit.cli._live_view import err

if TYPE_CHECKING:
    from agentkit.cli._live_view import LiveView
    from agentkit.run._runs import RunResult
    from agentkit.store import RunInfo, Store
    from agentkit.task import Task

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Autonomous research agents for thinking models.",
)


def report_result(result: RunResult, as_json: bool, files: list[Path] | None = None) -> NoReturn:
    from rich.text import Text

    from agentkit.store._codec import clean_model

    result = clean_model(result)  # a provider's lone surrogate must not break the output
    if as_json:
        data = result_json(result)
        data["report_files"] = [str(f) for f in files or []]
        out.print_json(json.dumps(data))
    else:
        style = {"finished": "green", "stopped": "yellow"}.get(result.status, "red")
        spent = (
            f"{result.steps} steps, {result.tool_calls} tool calls, {result.usage.prompt_tokens:,} prompt tokens "
            f"({result.usage.cached_tokens:,} cached), ${result.cost_usd:.4f}"
        )
        if result.status == "failed" and result.stop_reason:  # one line: what went wrong
            line = Text.assemble("\n", ("failed", f"bold {style}"), f" run {result.run_id}: {result.stop_reason}")
            if result.steps or result.usage.calls:
                line.append(f" (after {spent})")
            out.print(line, highlight=False, soft_wrap=True)
        else:
            out.print(Text.assemble("\n", (result.status, f"bold {style}"), f" run {result.run_id}: {spent}"))
            if result.stop_reason:
                out.print(Text.assemble(("reason:", style), " ", result.stop_reason), highlight=False)
        if result.answer:
            out.print(f"\n{result.answer}", highlight=False, markup=False)
        for f in files or []:
            out.print(f"report: {f}", highlight=False)
    raise typer.Exit(EXIT_OK if result.status == "finished" else EXIT_RUN)


def result_json(result: RunResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["usage"] = result.usage.model_dump()
    return data


async def _drive(task: Task, store: Store, run_id: str, workdir: Path, view: LiveView, resume: bool) -> RunResult:
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
            result = await (agent.resume(run_id) if resume else agent.run(task.task, run_id=run_id, images=task.images))
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


def _broken_run(
    exc: BaseException, run_id: str, location: str | Path, store_opt: str | None, as_json: bool, internal: bool
) -> NoReturn:
    """A run ended by an error outside the loop's own handling: one line, its ``--json``
    object, exit 1. The store keeps everything committed before the error."""
    from agentkit.cli._runs import saved_run
    from agentkit.store import StoreCorrupt, StoreUnavailable

    saved = saved_run(location, run_id)
    if saved is None and isinstance(exc, StoreCorrupt | StoreUnavailable):
        fail_input(str(exc))  # a bad store, found at the run's first write: nothing started
    flag = store_flag(store_opt)
    what = f"internal error: {type(exc).__name__}: {exc}" if internal else str(exc)
    if saved is None:
        line = f"agentkit: {what} (nothing of run {run_id} was saved)"
    elif saved.status in ("interrupted", "running"):
        line = (
            f"agentkit: {what}. Run {run_id} is saved up to its last committed step; "
            f"resume it with: agentkit resume {run_id}{flag}"
        )
    else:
        line = f"agentkit: {what} (run {run_id} saved; `agentkit show {run_id}{flag}`)"
    say(" ".join(line.split()))
    debug_traceback(exc)
    if as_json:
        data = {
            "run_id": run_id,
            "status": saved.status if saved else "failed",
            "answer": (saved.answer or "") if saved else "",
            "error": clean_text(what),
        }
        out.print_json(json.dumps(data))
    raise typer.Exit(EXIT_RUN)


def _stopped_from_outside(
    run_id: str, location: str | Path, store_opt: str | None, as_json: bool, how: str, code: int
) -> NoReturn:
    """Ctrl-C or SIGTERM: the loop marked the run interrupted; one line says how to go on."""
    from agentkit.cli._runs import saved_run

    saved = saved_run(location, run_id)
    if saved is None:
        say(f"{how}: run {run_id} had not started; nothing was saved")
    else:
        say(f"{how}: run {run_id} is saved; resume it with: agentkit resume {run_id}{store_flag(store_opt)}")
    if as_json:
        status = saved.status if saved else "interrupted"
        answer = (saved.answer or "") if saved else ""
        data = {"run_id": run_id, "status": status, "answer": answer, "error": how}
        out.print_json(json.dumps(data))
    raise typer.Exit(code)


def _execute(task: Task, store_opt: str | None, run_id: str, as_json: bool, resume: bool) -> NoReturn:
    from agentkit.store._location import open_store, resolve_store_location, work_root

    location = resolve_store_location(store_opt)
    try:
        store = open_store(location)
    except ValueError as exc:
        fail_input(f"cannot open the store at {shown_location(location)}: {exc}")
    view = _view_of(task, run_id)
    try:
        with view:
            result = run_async(lambda: _drive(task, store, run_id, work_root(location), view, resume))
    except KeyboardInterrupt:
        _stopped_from_outside(run_id, location, store_opt, as_json, "interrupted (Ctrl-C)", EXIT_INTERRUPTED)
    except Exception as raised:
        _run_error(first_leaf(raised), run_id, location, store_opt, as_json)
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


def _run_error(exc: BaseException, run_id: str, location: str | Path, store_opt: str | None, as_json: bool) -> NoReturn:
    from agentkit.llm.errors import ConfigurationError
    from agentkit.store import RunBusy, StoreError, StoreFull

    if isinstance(exc, Terminated):
        _stopped_from_outside(run_id, location, store_opt, as_json, "terminated (SIGTERM)", EXIT_TERMINATED)
    if isinstance(exc, BadStore):
        if isinstance(exc.error, StoreFull):
            _broken_run(exc.error, run_id, location, store_opt, as_json, internal=False)
        fail_input(str(exc.error))
    if isinstance(exc, ConfigurationError | RunBusy):
        fail_input(str(exc))
    if type(exc).__name__ == "ImageError":  # a task's image (agentkit.context.images): bad input, no run made
        fail_input(f"images: {exc}")
    # a store error, or a bug (internal): one line, the run saved as far as it got
    _broken_run(exc, run_id, location, store_opt, as_json, internal=not isinstance(exc, StoreError))


@app.command()
def run(
    task_file: Annotated[Path, typer.Argument(help="The task file (YAML).")],
    store: StoreOpt = None,
    heavy: Annotated[int | None, typer.Option("--heavy", help="Run N trajectories and aggregate.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Override limits.max_steps.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Override output.dir.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a task file."""
    from agentkit.task import TaskFileError, load_task

    overrides: dict[str, object] = {}
    if max_steps is not None:
        overrides["limits.max_steps"] = max_steps
    if heavy is not None:
        overrides["heavy.trajectories"] = heavy
    if out_dir is not None:
        overrides["output.dir"] = str(out_dir)
    try:
        task = load_task(task_file)
        if overrides:
            task = task.with_overrides(overrides, source=f"{task_file} (command line)")
    except TaskFileError as exc:
        fail_input(str(exc))
    _execute(task, store, uuid.uuid4().hex[:12], as_json, resume=False)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resume a run that was interrupted or crashed (or write the report a finished run still owes)."""
    from agentkit.cli._runs import report_pending
    from agentkit.run._from_task import task_of_run
    from agentkit.run._runs import stored_result
    from agentkit.store.status import ShownRun, shown_run
    from agentkit.task import TaskFileError

    async def find(s: Store) -> tuple[ShownRun, Task | None]:
        from agentkit.report import load_report

        shown = await shown_run(s, await s.find_run(run_id))
        info = shown.info
        ended = info.status in ("finished", "stopped", "failed")
        try:
            return shown, await task_of_run(s, info.id)
        except ValueError:
            if ended and not report_pending(info, await load_report(s, info.id) is not None):
                return shown, None  # nothing left to do: no task file needed to say so
            raise

    try:
        shown, task = read_store(store, find)
        info = shown.info
        if task is not None:
            task.check_api_key(source=f"run {info.id}")
    except (TaskFileError, ValueError) as exc:
        fail_input(str(exc))
    if task is None:
        say(f"run {info.id} already ended ({info.status}); nothing to resume")
        report_result(stored_result(shown), as_json)
    _execute(task, store, info.id, as_json, resume=True)


@app.command()
def runs(
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="How many runs to list.")] = 50,
) -> None:
    """List runs, newest first (a run whose process died shows as interrupted)."""
    from rich.table import Table

    from agentkit.store.status import shown_status

    async def fetch(s: Store) -> list[RunInfo]:
        return [await shown_status(s, r) for r in await s.list_runs(limit=limit)]

    rows = read_store(store, fetch)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("run", "status", "steps", "cost", "started", "task")
    for r in rows:
        started = _dt.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
        table.add_row(r.id, r.status, str(r.steps), f"${r.cost_usd:.4f}", started, r.task[:60].replace("\n", " "))
    out.print(table)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run: plan, steps, answer, usage and cost."""
    from rich.text import Text

    from agentkit.cli._runs import report_pending
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
        data["events"] = [e.model_dump(mode="json") for e in events]
        out.print_json(json.dumps(data))
        return
    reason = f" ({info.stop_reason})" if info.stop_reason else ""
    out.print(Text.assemble((f"run {info.id}", "bold"), f" — {info.status}{reason}"), highlight=False)
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
            calls = ", ".join(f"{c.name}({c.arguments[:60]})" for c in e.turn.tool_calls) or "answer"
            out.print(Text.assemble((f"step {e.step}", "cyan"), " ", calls), highlight=False)
        elif isinstance(e, ToolResultEvent) and e.is_error:
            out.print(Text.assemble("   ", (f"{e.name} error:", "red"), " ", e.text[:100]), highlight=False)
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


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write report.md and report.html.")] = Path(
        "agentkit-demo"
    ),
    store: StoreOpt = None,
) -> None:
    """A complete research run offline, no key: the model is SCRIPTED, everything else is real."""
    from agentkit.cli._demo import run_demo
    from agentkit.cli._live_view import LiveView
    from agentkit.store import StoreError
    from agentkit.store._location import ensure_work_root, open_store, resolve_store_location

    location = resolve_store_location(store)
    err.print(
        "[bold magenta]SCRIPTED DEMO[/] — the model is agentkit's fake provider replaying a fixed "
        "trajectory on 127.0.0.1; search, fetch, the Python sandbox, the store, context pruning and "
        "citation checks are the real thing.\n"
    )
    s = open_store(location)
    view = LiveView(20, 32_768)

    async def go() -> Any:
        try:
            await s.open()
            with view:
                return await run_demo(out_dir, s, ensure_work_root(location), on_event=view)
        finally:
            await s.aclose()

    try:
        outcome = run_async(go)
    except StoreError as exc:
        fail_input(str(exc))
    r = outcome.result
    out.print(
        f"\n[bold]Answer[/] ({r.status}, {r.steps} steps, {r.tool_calls} tool calls, "
        f"{outcome.pruned} context prune(s))\n{r.answer}\n",
        highlight=False,
    )
    out.print(f"[bold]Report[/] {outcome.report_summary}", highlight=False)
    for path in outcome.files:
        out.print(f"  {path}", highlight=False)
    out.print(f"\nInspect the run: agentkit show {r.run_id}" + store_flag(store))
    raise typer.Exit(EXIT_OK if r.status == "finished" else EXIT_RUN)


@app.command()
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


@app.command()
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


# Commands that live in their own modules: each module imports only typer at load time (its
# heavy parts inside the command, so `agentkit --help` stays fast) and adds itself to `app`.
# One line per module below.
_cli_view.register(app)
_cli_eval.register(app)
_cli_mcp.register(app)


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
