"""One attempt of one suite task, driven to its grade: the same code in the eval's process and
in a Ray worker.

An attempt is a normal run (``agentkit show/report/resume`` work on it) whose id derives from
the suite's content hash, the task id and the attempt index, so running the same eval again
finds it: a run that ended and holds its grade is read back (no model call); one that ended
without a grade is graded; an interrupted one is resumed; a missing one is started. The grade
goes into the run's row (``config["eval"]``) before anything else learns of it, so an eval
killed at any point never grades an attempt twice and never runs a finished attempt again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import BaseModel

from agentkit.eval.graders import Grade, JudgeGrader, grade, grade_by_rule
from agentkit.eval.results import AttemptRow, RowStatus
from agentkit.eval.suites import SuiteTask
from agentkit.run._runs import RunResult, stored_result
from agentkit.store import RunBusy, RunInfo, RunNotFound, Store
from agentkit.store._workfiles import write_file
from agentkit.store.fold import load_state
from agentkit.store.status import shown_run, shown_status
from agentkit.task import Task

if TYPE_CHECKING:
    from agentkit.llm.client import OpenAICompatibleModel

EVAL_KEY = "eval"
"""The key of an attempt's eval record in its run row's ``config``."""
ENDED = ("finished", "stopped", "failed")
ANSWERED = ("finished", "stopped")
_ID_NAMESPACE = b"agentkit-eval-attempt\0"


def attempt_run_id(content_hash: str, task_id: str, attempt: int) -> str:
    """The run id of an attempt: the same for the same suite content, task and attempt index
    on every machine (16 hex digits of a SHA-256)."""
    key = b"\0".join((content_hash.encode(), task_id.encode("utf-8", "surrogatepass"), str(attempt).encode()))
    return hashlib.sha256(_ID_NAMESPACE + key).hexdigest()[:16]


def retry_run_id(run_id: str, tries: int) -> str:
    """The run id of an attempt's ``tries``-th try (2, 3, ...; its first try is ``run_id``)."""
    return f"{run_id}-{tries}"


class AttemptSpec(BaseModel):
    """What to run: a suite task, which attempt, its run id and label (plain data, so it can
    travel to a Ray worker)."""

    task: SuiteTask
    attempt: int
    run_id: str
    label: str


def attempt_label(suite: str, task_id: str, attempt: int) -> str:
    """The run's label, how ``agentkit runs`` and a viewer find an eval's attempts."""
    return f"eval {suite} {task_id} #{attempt}"


def fingerprint(task_spec: dict[str, Any] | Task) -> dict[str, Any]:
    """What makes attempts of one config comparable: the model, its sampling, the tools and
    heavy mode (endpoints, keys, limits and output may change between runs of an eval)."""
    spec = task_spec.model_dump(mode="json") if isinstance(task_spec, Task) else task_spec
    model = spec.get("model") or {}
    return {
        "provider": model.get("provider"),
        "model": model.get("name"),
        "temperature": model.get("temperature"),
        "tools": spec.get("tools"),
        "heavy": spec.get("heavy"),
    }


@dataclass
class AttemptContext:
    """What one process needs to settle attempts: one store, one model client for every
    attempt (one connection pool, one rate-limit pause), the judge and the eval's identity."""

    store: Store
    config: Task
    llm: OpenAICompatibleModel
    judge: JudgeGrader | None
    default_grader: str
    workdir: Path
    suite: str
    content_hash: str
    tolerance: float | None = None
    """The ``number`` grader's relative tolerance (``None``: exact; a task's own wins)."""


async def settle(ctx: AttemptContext, spec: AttemptSpec) -> AttemptRow:
    """Drive ``spec`` to a graded row (see the module's docstring). Errors of the attempt
    become an ``error`` row; cancellation propagates (the run is left interrupted)."""
    try:
        info: RunInfo | None = await shown_status(ctx.store, await ctx.store.get_run(spec.run_id))
    except RunNotFound:
        info = None
    if info is not None:
        done = stored_row(info, spec, default_grader=ctx.default_grader, tolerance=ctx.tolerance)
        if done is not None:
            return done
    try:
        result = await _drive(ctx, spec, info)
    except RunBusy as exc:
        return _error_row(spec, f"{exc}")
    except Exception as exc:  # the store, a bug: the run keeps what it committed; a re-run resumes it
        return _error_row(spec, f"{type(exc).__name__}: {exc}")
    answer = result.answer if result.status in ANSWERED else None
    try:
        verdict = await grade(spec.task, answer, default=ctx.default_grader, judge=ctx.judge, tolerance=ctx.tolerance)
    except Exception as exc:  # the judge's endpoint failed: not stored, so a re-run grades again
        row = await _row(ctx.store, spec, None, None)
        return row.model_copy(update={"status": "error", "error": f"grading failed: {type(exc).__name__}: {exc}"})
    seconds = await _active_seconds(ctx.store, spec.run_id)
    record = {
        "suite": ctx.suite,
        "content_hash": ctx.content_hash,
        "task_id": spec.task.id,
        "attempt": spec.attempt,
        "answer": answer,
        "seconds": seconds,
        "grade": verdict.model_dump(mode="json"),
    }
    current = await ctx.store.get_run(spec.run_id)
    await ctx.store.update_run(spec.run_id, config={**current.config, EVAL_KEY: record})
    return await _row(ctx.store, spec, verdict, answer, seconds)


async def _drive(ctx: AttemptContext, spec: AttemptSpec, info: RunInfo | None) -> RunResult:
    from agentkit.run._from_task import agent_from_task

    if info is not None and info.status in ENDED:
        return stored_result(await shown_run(ctx.store, info))  # ended, not graded yet: the eval died between the two
    task = ctx.config.model_copy(update={"task": spec.task.question})
    agent = agent_from_task(task, store=ctx.store, workdir=ctx.workdir, llm=ctx.llm)
    try:
        if info is None:
            question = await anyio.to_thread.run_sync(_with_files, spec, ctx.workdir)
            return await agent.run(question, run_id=spec.run_id, label=spec.label)
        return await agent.resume(spec.run_id)
    finally:
        with anyio.CancelScope(shield=True):
            await agent.tools.aclose()  # not agent.aclose(): the shared model client stays open


def _with_files(spec: AttemptSpec, workdir: Path) -> str:
    """The question, with the task's attached files copied into the run's work dir (the
    python tool's ``/work``) and named after it. The work dir is sandboxed code's: a link
    planted where a file goes is replaced, never written through (see
    :mod:`agentkit.store._workfiles`)."""
    if not spec.task.files:
        return spec.task.question
    workdir.mkdir(parents=True, exist_ok=True)
    names = []
    for file in spec.task.files:
        write_file(workdir, f"{spec.run_id}/{file.name}", file)
        names.append(file.name)
    listed = ", ".join(names)
    return f"{spec.task.question}\n\nAttached files (in your working directory): {listed}"


def stored_row(info: RunInfo, spec: AttemptSpec, *, default_grader: str, tolerance: float | None) -> AttemptRow | None:
    """The row of an attempt that ended and was graded, from its run row alone; else ``None``.
    A judge's stored grade is kept (asking again costs a model call); a rule's (``exact``,
    ``number``) is worked out again from the stored answer, free and the same for the same
    rules, so a re-run with another ``--tolerance`` or grader grades by what it says."""
    record = info.config.get(EVAL_KEY)
    if info.status not in ENDED or not isinstance(record, dict) or not isinstance(record.get("grade"), dict):
        return None
    stored = record.get("answer")
    answer = stored if isinstance(stored, str) else None
    verdict = grade_by_rule(spec.task, answer, default=default_grader, tolerance=tolerance)
    if verdict is None:
        verdict = Grade.model_validate(record["grade"])
    seconds = float(record.get("seconds") or 0.0)
    return _make_row(info, spec, verdict, answer, seconds)


async def _row(
    store: Store, spec: AttemptSpec, verdict: Grade | None, answer: str | None, seconds: float = 0.0
) -> AttemptRow:
    return _make_row(await shown_status(store, await store.get_run(spec.run_id)), spec, verdict, answer, seconds)


def _make_row(
    info: RunInfo, spec: AttemptSpec, verdict: Grade | None, answer: str | None, seconds: float
) -> AttemptRow:
    judge_cost = verdict.cost_usd if verdict else 0.0
    judge_tokens = verdict.tokens if verdict else 0
    status: RowStatus = info.status
    return AttemptRow(
        id=spec.task.id,
        run_id=spec.run_id,
        attempt=spec.attempt,
        status=status,
        answer=answer if answer is not None else info.answer,
        expected=spec.task.answer,
        grade=verdict.verdict if verdict else None,
        grader=verdict.grader if verdict else None,
        reasoning=verdict.reasoning if verdict else "",
        cost_usd=info.cost_usd + judge_cost,
        judge_cost_usd=judge_cost,
        tokens=info.usage.total_tokens + judge_tokens,
        steps=info.steps,
        seconds=seconds,
        error=info.stop_reason if info.status == "failed" else None,
    )


def _error_row(spec: AttemptSpec, message: str) -> AttemptRow:
    return AttemptRow(
        id=spec.task.id,
        run_id=spec.run_id,
        attempt=spec.attempt,
        status="error",
        expected=spec.task.answer,
        error=message,
    )


def not_run_row(spec: AttemptSpec) -> AttemptRow:
    return AttemptRow(
        id=spec.task.id,
        run_id=spec.run_id,
        attempt=spec.attempt,
        status="not_run",
        expected=spec.task.answer,
        error="the suite's cost budget (eval.max_cost_usd) was spent before it started",
    )


async def _active_seconds(store: Store, run_id: str) -> float:
    """Active run time from the trace (time between a crash and its resume not counted); the
    row's wall time when the trace has no turns (a heavy run's parent)."""
    state = await load_state(store, run_id)
    if state.elapsed_s:
        return state.elapsed_s
    info = await store.get_run(run_id)
    return max(0.0, info.updated_at - info.created_at)
