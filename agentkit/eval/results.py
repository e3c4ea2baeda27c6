"""An eval's results: one :class:`AttemptRow` per attempt (a line of ``results.jsonl``) and
the figures drawn from them (accuracy with its Wilson interval, pass@k, cost, tokens, steps).

The store is the truth: every finished attempt keeps its grade in its run row (see
:mod:`agentkit.eval._run_attempt`), so ``results.jsonl`` can always be rebuilt; the file is
written as attempts end (for people watching it) and rewritten whole, in suite order, when the
eval ends.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, Field

Verdict = Literal["correct", "incorrect", "not_attempted"]
RowStatus = Literal["finished", "stopped", "failed", "interrupted", "running", "error", "not_run"]
"""A run's status, or ``error`` (the attempt could not be driven or graded: see ``error``) or
``not_run`` (the suite's cost budget was spent before it started)."""

FAILED_STATUSES: frozenset[str] = frozenset({"failed", "interrupted", "running", "error"})
"""Attempts that did not come to an end the eval can grade as the model's answer."""


class AttemptRow(BaseModel):
    """One attempt of one suite task: a line of ``results.jsonl``."""

    id: str
    """The suite task's id."""
    run_id: str
    attempt: int
    status: RowStatus
    answer: str | None = None
    expected: str
    grade: Verdict | None = None
    """``None``: not graded (the attempt errored or was not run)."""
    grader: str | None = None
    reasoning: str = ""
    """The judge's reasoning (empty for exact and number grading)."""
    cost_usd: float = 0.0
    """The run's cost plus the judge's."""
    judge_cost_usd: float = 0.0
    tokens: int = 0
    """Prompt + completion tokens of the run and the judge."""
    steps: int = 0
    seconds: float = 0.0
    """Active run time (time between a crash and the resume is not counted)."""
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def correct(self) -> bool:
        return self.grade == "correct"


class Summary(BaseModel):
    """The eval's figures (what ``agentkit eval --json`` prints, with the output paths)."""

    suite: str
    content_hash: str
    tasks: int
    attempts: int
    """Attempts per task (K)."""
    runs: int
    """Attempts in all (tasks x K)."""
    graded: int
    correct: int
    accuracy: float
    """Correct / graded attempts (0 when none was graded)."""
    ci_low: float
    ci_high: float
    """The 95% Wilson score interval of the accuracy."""
    pass_at_k: dict[str, float] = Field(default_factory=dict)
    """``{"1": ..., "K": ...}``: the unbiased pass@k estimate, averaged over tasks."""
    failed: int
    not_run: int
    cost_usd: float
    judge_cost_usd: float
    tokens: int
    complete: bool
    """Every attempt ended and was graded."""


def wilson_interval(correct: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of ``correct / total`` (95% by default); ``(0, 0)`` for none."""
    if total <= 0:
        return 0.0, 0.0
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from ``n`` samples of which ``c`` are correct
    (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)``."""
    if k > n or n <= 0:
        raise ValueError(f"pass@{k} needs at least {k} samples (got {n})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def summarise(suite: str, content_hash: str, tasks: int, attempts: int, rows: Sequence[AttemptRow]) -> Summary:
    graded = [r for r in rows if r.grade is not None]
    correct = sum(1 for r in graded if r.correct)
    low, high = wilson_interval(correct, len(graded))
    by_task: dict[str, list[AttemptRow]] = {}
    for r in graded:
        by_task.setdefault(r.id, []).append(r)
    passes: dict[str, float] = {}
    for k in range(1, attempts + 1):
        estimates = [pass_at_k(len(rs), sum(r.correct for r in rs), k) for rs in by_task.values() if len(rs) >= k]
        if estimates:
            passes[str(k)] = sum(estimates) / len(estimates)
    return Summary(
        suite=suite,
        content_hash=content_hash,
        tasks=tasks,
        attempts=attempts,
        runs=tasks * attempts,
        graded=len(graded),
        correct=correct,
        accuracy=correct / len(graded) if graded else 0.0,
        ci_low=low,
        ci_high=high,
        pass_at_k=passes,
        failed=sum(1 for r in rows if r.failed),
        not_run=sum(1 for r in rows if r.status == "not_run"),
        cost_usd=sum(r.cost_usd for r in rows),
        judge_cost_usd=sum(r.judge_cost_usd for r in rows),
        tokens=sum(r.tokens for r in rows),
        complete=len(graded) == tasks * attempts and not any(r.failed for r in rows),
    )


@dataclass
class TaskLine:
    """One task's attempts, summed."""

    id: str
    expected: str
    answer: str
    attempts: int
    correct: int
    cost_usd: float
    tokens: int
    steps: int
    failed: int


def task_lines(rows: Sequence[AttemptRow]) -> list[TaskLine]:
    by_task: dict[str, list[AttemptRow]] = {}
    for r in rows:
        by_task.setdefault(r.id, []).append(r)
    lines = []
    for task_id, rs in by_task.items():
        first = next((r.answer for r in rs if r.answer), "")
        lines.append(
            TaskLine(
                id=task_id,
                expected=rs[0].expected,
                answer=first or "",
                attempts=len(rs),
                correct=sum(r.correct for r in rs),
                cost_usd=sum(r.cost_usd for r in rs),
                tokens=sum(r.tokens for r in rs),
                steps=sum(r.steps for r in rs),
                failed=sum(r.failed for r in rs),
            )
        )
    return lines


# -- results.jsonl ------------------------------------------------------------------------


def row_line(row: AttemptRow) -> bytes:
    return orjson.dumps(row.model_dump(mode="json")) + b"\n"


class ResultsFile:
    """``results.jsonl``: lines appended (and flushed) as attempts end, then the whole file
    rewritten in suite order at the end. Started afresh by each eval process, from the
    attempts the store already holds, so a line never appears twice."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def start(self, rows: Iterable[AttemptRow]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_rows(self.path, rows)

    def add(self, row: AttemptRow) -> None:
        with self.path.open("ab") as f:
            f.write(row_line(row))
            f.flush()


def write_rows(path: Path, rows: Iterable[AttemptRow]) -> None:
    """Replace ``path`` with these rows, atomically (a reader sees the old or the new file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(b"".join(row_line(r) for r in rows))
    tmp.replace(path)


def read_rows(path: Path) -> list[AttemptRow]:
    """The rows of a ``results.jsonl`` (a torn last line, from a killed writer, is skipped)."""
    rows: list[AttemptRow] = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            rows.append(AttemptRow.model_validate(orjson.loads(line)))
        except (orjson.JSONDecodeError, ValueError):
            continue
    return rows


__all__ = [
    "AttemptRow",
    "ResultsFile",
    "Summary",
    "TaskLine",
    "Verdict",
    "pass_at_k",
    "read_rows",
    "summarise",
    "task_lines",
    "wilson_interval",
    "write_rows",
]
