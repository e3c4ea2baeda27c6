"""``agentkit eval SUITE --replay-from EVAL_DIR``: grade a finished eval again from its stored
runs, and write its results and summaries again, without running an attempt or calling a model.

Each row of ``EVAL_DIR/results.jsonl`` names its run; the answer is read from that run's row in
the store and graded by rule (``exact``, ``number`` with its ``--tolerance``) as the new grader
says (a task's own grader still wins). A judge's stored verdict is kept: asking a judge again is
a model call. Attempts that never ended keep their rows as they were.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from agentkit.eval._run_attempt import AttemptSpec, attempt_label, stored_row
from agentkit.eval._run_plan import EvalError
from agentkit.eval._tolerance import check_tolerance
from agentkit.eval.results import AttemptRow, read_rows, summarise
from agentkit.eval.runner import EvalOutcome, finish
from agentkit.eval.suites import Suite
from agentkit.store.base import RunNotFound, Store


async def regrade(
    suite: Suite,
    store: Store,
    from_dir: Path,
    *,
    grader: str | None = None,
    tolerance: float | None = None,
    out_dir: Path | None = None,
) -> EvalOutcome:
    """The eval in ``from_dir`` graded again (see the module docstring); written to ``out_dir``
    (default: ``from_dir``). Raises :class:`EvalError` for input that does not fit."""
    if grader == "judge":
        raise EvalError(
            "--replay-from grades without calling a model: use --grader exact or number "
            "(stored judge verdicts are kept)"
        )
    results = from_dir / "results.jsonl"
    if not results.is_file():
        raise EvalError(f"--replay-from {from_dir}: no results.jsonl there (the folder of a finished eval's --out)")
    if tolerance is not None:
        try:
            tolerance = check_tolerance(tolerance)
        except ValueError as exc:
            raise EvalError(f"--tolerance: {exc}") from None
    old = await anyio.to_thread.run_sync(read_rows, results)
    if not old:
        raise EvalError(f"--replay-from {from_dir}: results.jsonl holds no attempt")
    tasks = {t.id: t for t in suite.tasks}
    rows: list[AttemptRow] = []
    for row in old:
        task = tasks.get(row.id)
        if task is None:
            raise EvalError(f"--replay-from {from_dir}: task {row.id!r} is not in the suite {suite.name}")
        spec = AttemptSpec(
            task=task, attempt=row.attempt, run_id=row.run_id, label=attempt_label(suite.name, task.id, row.attempt)
        )
        try:
            info = await store.get_run(row.run_id)
        except RunNotFound:
            raise EvalError(f"--replay-from {from_dir}: run {row.run_id} ({row.id}) is not in the store") from None
        default = grader or suite.suggested_grader
        new = stored_row(info, spec, default_grader=default, tolerance=tolerance)
        rows.append(new if new is not None else row)
    attempts = max(r.attempt for r in rows) + 1
    summary = summarise(suite.name, suite.content_hash, len(suite.tasks), attempts, rows)
    out = out_dir if out_dir is not None else from_dir
    await anyio.to_thread.run_sync(lambda: out.mkdir(parents=True, exist_ok=True))
    return await anyio.to_thread.run_sync(finish, summary, rows, out, out / "results.jsonl")
