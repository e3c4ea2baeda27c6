"""Evaluation: suites of questions with known answers, graders, and the runner.

Suites and graders (this part): :func:`load_suite` reads agentkit's JSONL or a published
benchmark's own file (SimpleQA, BrowseComp, FRAMES, GAIA) into a :class:`Suite`; :func:`grade`
scores an answer with GAIA's exact match, a numeric tolerance, or an LLM judge.

The runner: :func:`run_eval` runs every task K times as normal agentkit runs (in one process
or as Ray tasks), grades them, keeps each grade in its run's row and writes ``results.jsonl``
(one :class:`AttemptRow` per attempt), ``summary.md`` and ``summary.html``; running the same
eval again resumes it (``agentkit eval`` on the command line).
"""

from agentkit.eval.graders import (
    Grade,
    GraderError,
    JudgeGrader,
    exact_match,
    grade,
    normalize_answer,
    number_match,
)
from agentkit.eval.results import AttemptRow, Summary
from agentkit.eval.runner import EvalError, EvalOutcome, attempt_run_id, run_eval
from agentkit.eval.suites import Suite, SuiteError, SuiteTask, load_suite

__all__ = [
    "AttemptRow",
    "EvalError",
    "EvalOutcome",
    "Grade",
    "GraderError",
    "JudgeGrader",
    "Suite",
    "SuiteError",
    "SuiteTask",
    "Summary",
    "attempt_run_id",
    "exact_match",
    "grade",
    "load_suite",
    "normalize_answer",
    "number_match",
    "run_eval",
]
