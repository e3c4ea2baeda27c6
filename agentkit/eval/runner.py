"""Run a suite: every task K times as normal agentkit runs, graded, resumable, in one process
(anyio, bounded concurrency, one shared model client) or as Ray tasks on a cluster.

    outcome = await run_eval(load_suite("suite.jsonl"), load_task("config.yaml", require_task=False),
                             store="postgresql://...", attempts=3)

Each attempt's run id derives from (suite content hash, task id, attempt index), so running the
same eval again skips finished attempts (their stored grade is read back), resumes interrupted
ones, tries failed ones again as a new run (``<id>-2``, ``<id>-3``...) and starts the rest.
The grade is kept in the attempt's run row, so the results can always be rebuilt from the
store; runs are labelled ``eval <suite> <task id> #<attempt>``. A suite-level cost budget (``eval.max_cost_usd`` or
``max_cost_usd=``) stops new attempts from starting once it is spent; running ones finish.
Results go to ``results.jsonl``, ``summary.md`` and ``summary.html`` in ``out_dir``
(default ``.agentkit/eval/<suite>-<hash8>/``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio

from agentkit.eval._run_attempt import (
    AttemptContext,
    AttemptSpec,
    attempt_label,
    attempt_run_id,
    fingerprint,
    not_run_row,
    retry_run_id,
    settle,
    stored_row,
)
from agentkit.eval._run_plan import LOCAL_RAY, EvalError, WorkerPlan, eval_config, judge_spec, open_context
from agentkit.eval._tolerance import check_tolerance
from agentkit.eval.results import AttemptRow, ResultsFile, Summary, summarise, write_rows
from agentkit.eval.suites import Suite
from agentkit.store import RunInfo, RunNotFound, Store
from agentkit.store._location import make_work_root, work_root
from agentkit.store.status import shown_status
from agentkit.task import Task

LOOKUPS = 16
"""Store reads in flight while the eval looks for attempts it already made."""


class Progress(Protocol):
    """What the runner tells a display (see :mod:`agentkit.eval._run_progress`)."""

    def begin(self, total: int, done: Sequence[AttemptRow]) -> None: ...

    def started(self, spec: AttemptSpec) -> None: ...

    def ended(self, row: AttemptRow) -> None: ...


class Executor(Protocol):
    async def run(self, spec: AttemptSpec) -> AttemptRow: ...


@dataclass
class EvalOutcome:
    summary: Summary
    rows: list[AttemptRow]
    out_dir: Path
    results: Path
    summary_md: Path
    summary_html: Path


def default_out_dir(suite: Suite) -> Path:
    return Path(".agentkit") / "eval" / f"{suite.name}-{suite.content_hash[:8]}"


def attempt_specs(suite: Suite, attempts: int) -> list[AttemptSpec]:
    """Every attempt of every task, task by task (attempt 0 of each task first)."""
    return [
        AttemptSpec(
            task=task,
            attempt=a,
            run_id=attempt_run_id(suite.content_hash, task.id, a),
            label=attempt_label(suite.name, task.id, a),
        )
        for a in range(attempts)
        for task in suite.tasks
    ]


def needs_judge(suite: Suite, default_grader: str) -> bool:
    return default_grader == "judge" or any(t.grader == "judge" for t in suite.tasks)


def check_ray_store(ray: str | None, store: str) -> None:
    """Ray is installed, and its workers can open the store by its location: a remote cluster
    needs a shared server (PostgreSQL); a local cluster may share a SQLite file; nobody shares
    ``:memory:``."""
    if ray is None:
        return
    try:
        import ray as _ray  # noqa: F401 - only whether the extra is installed
    except ImportError:
        raise EvalError('--ray needs Ray, an optional extra: pip install "agentkit[ray]"') from None
    if store == ":memory:":
        raise EvalError("--ray needs a store the workers can open: a SQLite file (local Ray) or a postgresql:// URL")
    if ray != LOCAL_RAY and not store.startswith(("postgresql://", "postgres://")):
        raise EvalError(
            f"--ray {ray}: the workers of a remote Ray cluster cannot share the SQLite store {store}; "
            "use a PostgreSQL store (--store postgresql://USER@HOST/DB), or run on a local cluster (--ray alone)"
        )


async def run_eval(
    suite: Suite,
    config: Task,
    *,
    store: str | Path,
    workdir: str | Path | None = None,
    attempts: int = 1,
    concurrency: int = 8,
    grader: str | None = None,
    judge_model: str | None = None,
    out_dir: str | Path | None = None,
    ray: str | None = None,
    max_cost_usd: float | None = None,
    progress: Progress | None = None,
    ray_cpus: float | None = None,
    tolerance: float | None = None,
) -> EvalOutcome:
    """Run (or resume) ``attempts`` attempts of every task of ``suite`` with ``config``.
    ``ray``: ``None`` (this process), :data:`LOCAL_RAY` or a cluster's address; ``ray_cpus``:
    the CPUs Ray reserves per attempt (default ``eval.cpus_per_attempt``, else 1); ``tolerance``:
    the ``number`` grader's relative tolerance (default ``eval.tolerance``, else exact; a task's
    own wins); ``workdir``:
    the folder of the attempts' work dirs (default: the store's own,
    :func:`~agentkit.store._location.work_root`). Raises :class:`EvalError` when the eval
    cannot start as asked (nothing is run then)."""
    if attempts < 1 or concurrency < 1:
        raise EvalError("--attempts and --concurrency must be at least 1")
    location = str(store)
    check_ray_store(ray, location)
    own_root = workdir is None
    if workdir is None:
        workdir = work_root(location)
    if tolerance is not None:
        try:
            tolerance = check_tolerance(tolerance)
        except ValueError as exc:
            raise EvalError(f"--tolerance: {exc}") from None
    elif config.eval is not None:
        tolerance = config.eval.tolerance
    plan = make_plan(suite, config, location, workdir, grader, judge_model, tolerance)
    budget = max_cost_usd if max_cost_usd is not None else (config.eval.max_cost_usd if config.eval else None)
    specs = attempt_specs(suite, attempts)
    out = Path(out_dir) if out_dir is not None else default_out_dir(suite)
    results = ResultsFile(out / "results.jsonl")
    if ray is not None:
        cpus = ray_cpus if ray_cpus is not None else (config.eval.cpus_per_attempt if config.eval else 1.0)
        executor_cm = _ray_executor(plan, ray, cpus)
    else:
        executor_cm = _local_executor(plan)
    async with executor_cm as (executor, st):
        if own_root:  # made once the store has opened: a location that is no store changes nothing
            await anyio.to_thread.run_sync(make_work_root, Path(plan.workdir))
        specs, existing = await _latest_tries(st, specs)
        _check_same_config(config, existing)
        rows: dict[str, AttemptRow] = {}
        for spec in specs:
            info = existing.get(spec.run_id)
            row = None
            if info is not None:
                row = stored_row(info, spec, default_grader=plan.default_grader, tolerance=plan.tolerance)
            if row is not None:
                rows[spec.run_id] = row
        done = [rows[s.run_id] for s in specs if s.run_id in rows]
        results.start(done)
        if progress is not None:
            progress.begin(len(specs), done)
        pending = [s for s in specs if s.run_id not in rows]
        await _schedule(executor, pending, rows, results, concurrency, budget, progress)
    ordered = [rows.get(s.run_id) or not_run_row(s) for s in specs]
    summary = summarise(suite.name, suite.content_hash, len(suite.tasks), attempts, ordered)
    return await anyio.to_thread.run_sync(_finish, summary, ordered, out, results.path)


def _finish(summary: Summary, rows: list[AttemptRow], out: Path, results: Path) -> EvalOutcome:
    """results.jsonl rewritten whole in suite order, and the summaries (matplotlib: a thread)."""
    from agentkit.eval._summary import write_summary

    write_rows(results, rows)
    md, html = write_summary(out, summary, rows)
    return EvalOutcome(summary, rows, out, results, md, html)


def make_plan(
    suite: Suite,
    config: Task,
    location: str,
    workdir: str | Path,
    grader: str | None,
    judge_model: str | None,
    tolerance: float | None = None,
) -> WorkerPlan:
    default_grader = grader or suite.suggested_grader
    judge = judge_spec(config, judge_model) if needs_judge(suite, default_grader) else None
    return WorkerPlan(
        store=location,
        config=eval_config(config).model_dump(mode="json"),
        judge=judge.model_dump(mode="json") if judge is not None else None,
        template=suite.judge_template,
        default_grader=default_grader,
        tolerance=tolerance,
        workdir=os.path.abspath(workdir),
        suite=suite.name,
        content_hash=suite.content_hash,
    )


async def _schedule(
    executor: Executor,
    pending: list[AttemptSpec],
    rows: dict[str, AttemptRow],
    results: ResultsFile,
    concurrency: int,
    budget: float | None,
    progress: Progress | None,
) -> None:
    """Start attempts while fewer than ``concurrency`` run and the budget is not spent."""
    slots = anyio.Semaphore(concurrency)
    spent = sum(r.cost_usd for r in rows.values())

    async def one(spec: AttemptSpec) -> None:
        nonlocal spent
        try:
            row = await executor.run(spec)
        finally:
            slots.release()
        rows[spec.run_id] = row
        spent += row.cost_usd
        results.add(row)
        if progress is not None:
            progress.ended(row)

    async with anyio.create_task_group() as tg:
        for spec in pending:
            await slots.acquire()
            if budget is not None and spent >= budget:
                slots.release()
                break
            if progress is not None:
                progress.started(spec)
            tg.start_soon(one, spec)


async def _latest_tries(store: Store, specs: list[AttemptSpec]) -> tuple[list[AttemptSpec], dict[str, RunInfo]]:
    """Each attempt as its latest try, and the runs the store holds. A run that failed (the
    provider was down, the model's replies could not be used) is kept as it is, and the attempt
    is tried again as a new run, ``<id>-2``, ``<id>-3``...: deterministic ids, so a re-run finds
    the latest try and resumes it."""
    found: dict[str, RunInfo] = {}
    latest: list[AttemptSpec] = list(specs)
    lookups = anyio.CapacityLimiter(LOOKUPS)

    async def walk(index: int, spec: AttemptSpec) -> None:
        run_id, tries = spec.run_id, 1
        async with lookups:
            while True:
                try:
                    info = await shown_status(store, await store.get_run(run_id))
                except RunNotFound:
                    break
                found[run_id] = info
                if info.status != "failed":
                    break
                tries += 1
                run_id = retry_run_id(spec.run_id, tries)
        if run_id != spec.run_id:
            latest[index] = spec.model_copy(update={"run_id": run_id})

    async with anyio.create_task_group() as tg:
        for index, spec in enumerate(specs):
            tg.start_soon(walk, index, spec)
    return latest, found


def _check_same_config(config: Task, existing: dict[str, RunInfo]) -> None:
    """Attempts already in the store must have been made with this model, tools and heavy
    mode: otherwise their grades would be passed off as this config's."""
    want = fingerprint(config)
    for info in existing.values():
        spec = info.config.get("task_spec")
        if not isinstance(spec, dict):
            continue
        have = fingerprint(spec)
        if have != want:
            differ = ", ".join(f"{k}: {have[k]!r} there, {want[k]!r} here" for k in want if have[k] != want[k])
            raise EvalError(
                f"the store already holds attempts of this suite made with another config ({differ}; "
                f"run {info.id}); an attempt's run id depends only on the suite, task and attempt, so "
                "evaluate this config with another --store"
            )


class _LocalExecutor:
    def __init__(self, ctx: AttemptContext) -> None:
        self.ctx = ctx

    async def run(self, spec: AttemptSpec) -> AttemptRow:
        return await settle(self.ctx, spec)


@asynccontextmanager
async def _local_executor(plan: WorkerPlan) -> AsyncIterator[tuple[Executor, Store]]:
    async with open_context(plan) as ctx:
        yield _LocalExecutor(ctx), ctx.store


def _ray_executor(plan: WorkerPlan, address: str, cpus: float) -> AbstractAsyncContextManager[tuple[Executor, Store]]:
    from agentkit.eval._ray import ray_executor

    return ray_executor(plan, address, cpus)


__all__ = [
    "LOCAL_RAY",
    "EvalError",
    "EvalOutcome",
    "Progress",
    "attempt_run_id",
    "attempt_specs",
    "check_ray_store",
    "default_out_dir",
    "run_eval",
]
