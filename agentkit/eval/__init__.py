"""Evaluation: suites of questions with known answers, graders, and the runner.

Suites and graders (this part): :func:`load_suite` reads agentkit's JSONL or a published
benchmark's own file (SimpleQA, BrowseComp, FRAMES, GAIA) into a :class:`Suite`; :func:`grade`
scores an answer with GAIA's exact match, a numeric tolerance, or an LLM judge.
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
from agentkit.eval.suites import Suite, SuiteError, SuiteTask, load_suite

__all__ = [
    "Grade",
    "GraderError",
    "JudgeGrader",
    "Suite",
    "SuiteError",
    "SuiteTask",
    "exact_match",
    "grade",
    "load_suite",
    "normalize_answer",
    "number_match",
]
