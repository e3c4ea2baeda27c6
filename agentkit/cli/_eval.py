"""``agentkit eval SUITE``: run a suite of questions with known answers, grade the answers and
write results.jsonl, summary.md and summary.html (the runner is :mod:`agentkit.eval.runner`).

Only typer and the standard library load with the module; the eval's parts load when the
command runs, so ``agentkit --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from agentkit.cli._help import HelpCommand

if TYPE_CHECKING:
    from agentkit.eval.runner import EvalOutcome
    from agentkit.eval.suites import Suite
    from agentkit.task import Task

GRADER_NAMES = ("exact", "number", "judge")
MAX_ATTEMPTS = 1_000
"""--attempts: K per task. The plan holds every attempt, so a count far past any use would
fill memory before anything runs (10**30 did, unkillable by SIGTERM)."""
MAX_CONCURRENCY = 1_024


def register(app: typer.Typer) -> None:
    app.command(name="eval", cls=HelpCommand)(eval_command)


def eval_command(
    suite_path: Annotated[
        Path, typer.Argument(metavar="SUITE", help="Suite file (JSONL, SimpleQA/BrowseComp CSV, FRAMES, GAIA).")
    ],
    address: Annotated[
        str | None,
        typer.Argument(metavar="ADDRESS", help="With --ray: the Ray cluster's address (default: a local cluster)."),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="Task file giving model, tools, limits, heavy (its task: is not used)."),
    ] = None,
    attempts: Annotated[int, typer.Option("--attempts", help="Attempts per task (K; pass@k when K > 1).")] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Attempts running at once.")] = 8,
    grader: Annotated[
        str | None,
        typer.Option("--grader", help="exact, number or judge (default: the suite's own; a task's grader wins)."),
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="The judge's model name (endpoint: eval.judge, else model).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N tasks.")] = None,
    tolerance: Annotated[
        str | None,
        typer.Option(
            "--tolerance",
            metavar="X",
            help="The number grader's relative tolerance, 0 to 1 (0.01: within 1%; default: exact, "
            "or eval.tolerance; a task's own wins).",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Trace store: a path (SQLite) or postgresql://... (default: $AGENTKIT_STORE or .agentkit/agentkit.db)",
        ),
    ] = None,
    ray: Annotated[
        bool, typer.Option("--ray", help="Run attempts as Ray tasks: agentkit eval SUITE --ray [ADDRESS].")
    ] = False,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Results folder (default: .agentkit/eval/<suite>-<hash8>/).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
    replay_from: Annotated[
        Path | None,
        typer.Option(
            "--replay-from",
            metavar="EVAL_DIR",
            help="Grade a finished eval again from its stored runs (no attempt runs, no model is called) "
            "and write its results and summaries again (to --out, else EVAL_DIR).",
        ),
    ] = None,
) -> None:
    """Run a suite K times per task, grade the answers, write results and a summary (re-run to resume).

    To try it offline: agentkit eval tasks/eval/sample.jsonl --config tasks/offline.yaml, with
    agentkit's offline model (scripted, no network; it answers wrongly) started first with:

    python -m agentkit.testing --responder agentkit.testing.offline:researcher --port 8765
    """
    from agentkit.cli._common import fail_input
    from agentkit.store import open_store, resolve_store_location

    if grader is not None and grader not in GRADER_NAMES:
        fail_input(f"--grader: unknown grader {grader!r}; valid graders: {', '.join(GRADER_NAMES)}")
    if not 1 <= attempts <= MAX_ATTEMPTS:
        fail_input(f"--attempts: must be between 1 and {MAX_ATTEMPTS:,}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        fail_input(f"--concurrency: must be between 1 and {MAX_CONCURRENCY:,}")
    try:
        relative = _tolerance(tolerance)
    except ValueError as bad:
        fail_input(f"--tolerance: {bad}")
    if address is not None and not ray:
        fail_input(
            f"unexpected argument {address!r}: a Ray address goes with --ray (agentkit eval SUITE --ray ADDRESS)"
        )
    if ray and address is not None and not suite_path.exists() and Path(address).exists():
        suite_path, address = Path(address), str(suite_path)  # `--ray ADDRESS SUITE`
    suite = _load_suite(suite_path, limit)
    if replay_from is not None:
        _report(_regrade(suite, replay_from, store, grader, relative, out_dir), as_json)
    config = _load_config(config_file, store)
    default_grader = grader or suite.suggested_grader
    _check_keys(config, suite, default_grader, judge_model)
    location = str(resolve_store_location(store))
    try:
        open_store(location)  # nothing is opened yet: an unknown URL scheme is found here
    except ValueError as exc:
        fail_input(f"--store: {exc}")
    from agentkit.eval.runner import LOCAL_RAY

    outcome = _run(
        suite,
        config,
        location=location,
        attempts=attempts,
        concurrency=concurrency,
        grader=default_grader,
        judge_model=judge_model,
        out_dir=out_dir,
        ray=(address or LOCAL_RAY) if ray else None,
        store_opt=store,
        tolerance=relative,
    )
    _report(outcome, as_json)


def _regrade(
    suite: Suite, from_dir: Path, store: str | None, grader: str | None, tolerance: float | None, out: Path | None
) -> EvalOutcome:
    from agentkit.cli._common import fail_input, read_store
    from agentkit.eval._regrade import regrade
    from agentkit.eval.runner import EvalError
    from agentkit.store import Store

    async def go(s: Store) -> EvalOutcome | str:
        try:
            return await regrade(suite, s, from_dir, grader=grader, tolerance=tolerance, out_dir=out)
        except EvalError as exc:
            return str(exc)

    found = read_store(store, go)
    if isinstance(found, str):
        fail_input(found)
    return found


def _tolerance(text: str | None) -> float | None:
    """``--tolerance`` as a number; ``ValueError`` saying what it must be."""
    from agentkit.eval._tolerance import check_tolerance

    if text is None:
        return None
    value: object = text  # not a number: check_tolerance says so
    with contextlib.suppress(ValueError):
        value = float(text)
    return check_tolerance(value)


def _load_suite(path: Path, limit: int | None) -> Suite:
    from agentkit.cli._common import fail_input
    from agentkit.eval.suites import SuiteError, load_suite

    try:
        return load_suite(path, limit=limit)
    except SuiteError as exc:
        fail_input(str(exc))


def _load_config(path: Path | None, store: str | None) -> Task:
    from agentkit.cli._common import fail_input
    from agentkit.task import EVAL_TASK, Task, TaskFileError, load_task

    try:
        if path is None:
            return Task(task=EVAL_TASK)
        # never from a work dir: the --store's (even an older one without its marker) or any marked one
        return load_task(path, check_api_key=False, require_task=False, stores=[store, None])
    except TaskFileError as exc:
        fail_input(str(exc))


def _check_keys(config: Task, suite: Suite, default_grader: str, judge_model: str | None) -> None:
    """The model's key, and the judge's when a task is graded by one, before anything runs."""
    from agentkit.cli._common import fail_input
    from agentkit.eval._run_plan import judge_spec
    from agentkit.eval.runner import needs_judge
    from agentkit.task import TaskFileError

    try:
        config.check_api_key(source="eval config")
        if needs_judge(suite, default_grader):
            judge = config.model_copy(update={"model": judge_spec(config, judge_model)})
            judge.check_api_key(source="eval config (judge: eval.judge)")
    except TaskFileError as exc:
        fail_input(str(exc))


def _run(
    suite: Suite,
    config: Task,
    *,
    location: str,
    attempts: int,
    concurrency: int,
    grader: str,
    judge_model: str | None,
    out_dir: Path | None,
    ray: str | None,
    store_opt: str | None,
    tolerance: float | None,
) -> EvalOutcome:
    import anyio

    from agentkit.cli._common import (
        EXIT_INTERRUPTED,
        EXIT_TERMINATED,
        Terminated,
        debug_traceback,
        fail_input,
        first_leaf,
        run_async,
        say,
        sigterm_cancels,
        store_flag,
    )
    from agentkit.cli._live_view import err
    from agentkit.eval._run_progress import LiveProgress, PlainProgress
    from agentkit.eval.graders import GraderError
    from agentkit.eval.runner import EvalError, run_eval
    from agentkit.llm.client import ConfigurationError
    from agentkit.store import StoreError
    from agentkit.store._location import hide_location_secrets

    live = err.is_terminal
    progress = LiveProgress(err) if live else PlainProgress(err)

    async def go() -> EvalOutcome:
        with anyio.CancelScope() as scope, sigterm_cancels(scope):
            outcome = await run_eval(
                suite,
                config,
                store=location,
                attempts=attempts,
                concurrency=concurrency,
                grader=grader,
                judge_model=judge_model,
                out_dir=out_dir,
                ray=ray,
                progress=progress,
                tolerance=tolerance,
            )
        if scope.cancelled_caught:
            raise Terminated("eval")
        return outcome

    again = f"agentkit eval {suite.path}{store_flag(store_opt)}"
    try:
        if isinstance(progress, LiveProgress):
            with progress:
                return run_async(go)
        return run_async(go)
    except KeyboardInterrupt:
        _stopped(
            f"interrupted (Ctrl-C); finished attempts are saved: run the same command ({again}) to resume",
            EXIT_INTERRUPTED,
        )
    except BaseException as raised:
        exc = first_leaf(raised)
        if isinstance(exc, Terminated):
            _stopped(
                f"terminated (SIGTERM); finished attempts are saved: run the same command ({again}) to resume",
                EXIT_TERMINATED,
            )
        if isinstance(exc, EvalError | GraderError | ConfigurationError | StoreError):
            fail_input(str(exc))
        if not isinstance(exc, Exception):
            raise
        what = hide_location_secrets(f"{type(exc).__name__}: {exc}", location)
        say(f"agentkit: internal error: {what}; finished attempts are saved: run {again} to resume")
        debug_traceback(exc)
        raise typer.Exit(1) from None


def _stopped(message: str, code: int) -> NoReturn:
    from agentkit.cli._common import say

    say(message)
    raise typer.Exit(code)


def _report(outcome: EvalOutcome, as_json: bool) -> NoReturn:
    from agentkit.cli._common import EXIT_OK, EXIT_RUN, out

    s = outcome.summary
    if as_json:
        data: dict[str, Any] = s.model_dump(mode="json")
        data.update(
            results=str(outcome.results),
            summary_md=str(outcome.summary_md),
            summary_html=str(outcome.summary_html),
            out=str(outcome.out_dir),
        )
        out.print_json(json.dumps(data))
    else:
        from agentkit.eval._summary import headline

        style = "green" if s.complete else "yellow"
        out.print(f"[bold {style}]eval {s.suite}[/] ({s.content_hash[:8]})", highlight=False)
        for label, value in headline(s):
            out.print(f"  {label}: {value}", highlight=False, markup=False)
        out.print(
            f"  results: {outcome.results}\n  summary: {outcome.summary_md}, {outcome.summary_html}", highlight=False
        )
        if not s.complete:
            out.print(
                "  some attempts failed or did not run: run the same command again to resume them", highlight=False
            )
    raise typer.Exit(EXIT_OK if s.complete else EXIT_RUN)
