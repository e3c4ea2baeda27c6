"""Graders: does an agent's answer match a task's expected answer?

- ``exact``: GAIA's scorer (numbers compared as floats after removing ``$ % ,``; lists split
  on ``,``/``;`` and compared element by element; strings without whitespace, punctuation and
  case). The rules are ported in :mod:`agentkit.eval._grade_gaia`, which cites its source.
- ``number``: the answer's number equal to the expected one after normalising (separators,
  currency signs, ``%``, a scale word such as ``million``), as GAIA compares numbers; or within
  a relative tolerance when one is set (``--tolerance``, ``eval.tolerance``, a task's
  ``tolerance``: see :mod:`agentkit.eval._tolerance`).
- ``judge``: an LLM judge with the published SimpleQA or BrowseComp grader prompt
  (``agentkit/eval/templates/``, MIT, from openai/simple-evals).

An empty answer (``None`` or blank) is ``not_attempted`` for every grader, and the judge is
not asked.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel

from agentkit.eval import _grade_gaia
from agentkit.eval._grade_judge import TemplateName, parse_verdict, render
from agentkit.eval._tolerance import check_tolerance, describe
from agentkit.eval.suites import SuiteTask
from agentkit.llm.profiles import Prices
from agentkit.llm.types import AssistantTurn, Model, ModelRequest
from agentkit.run._limits import estimate_prompt_tokens, prices_of, with_estimated_usage

Verdict = Literal["correct", "incorrect", "not_attempted"]


class Grade(BaseModel):
    """One graded answer. ``cost_usd`` and ``tokens`` are what grading itself spent (a judge's
    calls; zero for the rule-based graders)."""

    verdict: Verdict
    grader: str
    reasoning: str = ""
    cost_usd: float = 0.0
    tokens: int = 0

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"


class GraderError(ValueError):
    """A grader that cannot be used as asked (unknown name, a judge task without a judge)."""


def _no_answer(grader: str) -> Grade:
    return Grade(verdict="not_attempted", grader=grader, reasoning="no answer was given")


def normalize_answer(s: str, *, remove_punct: bool = True) -> str:
    """``s`` as GAIA compares strings: whitespace removed, lowercased, ASCII punctuation
    removed (kept when ``remove_punct`` is false, as GAIA compares list elements)."""
    return _grade_gaia.normalize_str(s, remove_punct=remove_punct)


def exact_match(answer: str | None, expected: str) -> Grade:
    """GAIA's exact match (see :mod:`agentkit.eval._grade_gaia` for the rules and the source)."""
    if answer is None or not answer.strip():
        return _no_answer("exact")
    same, why = _grade_gaia.question_scorer(answer, expected)
    return Grade(verdict="correct" if same else "incorrect", grader="exact", reasoning=why)


_NUMBER = re.compile(
    r"(?<![\w.])([-+]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?:\s*(thousand|million|billion|trillion)\b|(k)\b)?",
    re.IGNORECASE,
)
_SCALE = {"thousand": 10**3, "k": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_NOISE = str.maketrans({"\u2212": "-", "\u2013": "-", "$": None, "%": None, "€": None, "£": None, "¥": None})


_GROUPED = re.compile(r"[+-]?\d{1,3}(?:[\s,_]\d{3})+(?:\.\d+)?|[+-]?[\d.]+(?:e[+-]?\d+)?", re.IGNORECASE)


def parse_number(text: str) -> float | None:
    """The number ``text`` states: the whole text once currency signs, ``%``, thousands
    commas and spaces are removed, else its one numeric token, scaled by a word after it
    (``about 42 km`` is 42, ``3.5 million`` is 3500000, ``120k`` is 120000); ``None`` when
    it holds no number or several different ones."""
    cleaned = text.translate(_NOISE).strip()
    # Separators are thousands separators only between groups of three digits: "1,234,567"
    # and "1 000 000" are one number, "2, 3, 5, 7" is a list of four.
    compact = re.sub(r"[\s,_]", "", cleaned) if _GROUPED.fullmatch(cleaned) else cleaned
    try:
        value = float(compact)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) else None
    found: set[float] = set()
    for number, word, k in _NUMBER.findall(cleaned):
        if any(c.isdigit() for c in number):
            scale = _SCALE[(word or k).lower()] if word or k else 1
            found.add(_scaled(number.replace(",", ""), scale))
    return found.pop() if len(found) == 1 else None


def _scaled(number: str, scale: int) -> float:
    """``number`` times ``scale`` in decimal, then rounded once to a float: ``1.1 million`` is
    exactly 1100000 (in floats, 1.1 * 1e6 is 1100000.0000000002, which no exact grade equals)."""
    try:
        return float(Decimal(number) * scale)
    except InvalidOperation:
        return float(number) * scale


def number_match(answer: str | None, expected: str, *, rel_tol: float = 0.0, abs_tol: float = 0.0) -> Grade:
    """The answer's number equal to the expected one (GAIA's rule), or within ``rel_tol`` of it
    (relative to the expected number: 0.01 is 1%) or ``abs_tol`` (absolute) when those are set.
    An expected answer that is not a number is graded by :func:`exact_match` instead (the grade
    says so)."""
    rel_tol = check_tolerance(rel_tol)
    if not (math.isfinite(abs_tol) and abs_tol >= 0):
        raise ValueError(f"abs_tol must be a finite number of at least 0 (got {abs_tol!r})")
    want = parse_number(expected)
    if want is None:
        graded = exact_match(answer, expected)
        note = f"expected answer {expected!r} is not a number: graded by exact match"
        return graded.model_copy(update={"reasoning": f"{note}; {graded.reasoning}"})
    if answer is None or not answer.strip():
        return _no_answer("number")
    got = parse_number(answer)
    if got is None:
        return Grade(verdict="incorrect", grader="number", reasoning=f"no single number in the answer {answer!r}")
    close = got == want or abs(got - want) <= max(rel_tol * abs(want), abs_tol)
    rule = describe(rel_tol) + (f", or within {abs_tol:g}" if abs_tol else "")
    if got == want:
        why = "equal"
    elif close:
        why = "close enough"
    else:
        why = "not equal" if rule == "exact" else "too far apart"
    return Grade(
        verdict="correct" if close else "incorrect",
        grader="number",
        reasoning=f"{_shown(got)} vs {_shown(want)} ({rule}): {why}",
    )


def _shown(number: float) -> str:
    """A number in full (``523762``, not ``5.23762e+05``), so a grade's two numbers differ visibly."""
    return f"{number:.0f}" if number.is_integer() and abs(number) < 1e16 else repr(number)


class JudgeGrader:
    """An LLM judge with a published grader prompt: ``simpleqa`` (the reply is a letter, A
    correct, B incorrect, C not attempted) or ``browsecomp`` (a ``correct: yes|no`` line).

    A reply that says no clear verdict is asked again ``retries`` times (default once, a fresh
    sample of the same prompt, so the published protocol is unchanged); if none is readable the
    grade is ``incorrect`` and its reasoning says the judge's reply could not be read. The
    grade's ``tokens`` and ``cost_usd`` count every judge call: the model's usage (estimated
    when the server sends none) priced by ``prices``, else by the model's own prices. A model
    call that fails raises the model's :class:`~agentkit.llm.errors.ModelError`.
    """

    def __init__(
        self,
        model: Model,
        *,
        template: TemplateName = "simpleqa",
        prices: Prices | None = None,
        retries: int = 1,
    ) -> None:
        if template not in ("simpleqa", "browsecomp"):
            raise GraderError(f"unknown judge template {template!r}: choose simpleqa or browsecomp")
        self.model, self.template, self.prices, self.retries = model, template, prices, max(0, retries)

    def _priced(self, turn: AssistantTurn, request: ModelRequest) -> AssistantTurn:
        if not turn.usage_reported:
            turn = with_estimated_usage(turn, estimate_prompt_tokens(request), self.prices or prices_of(self.model))
        elif self.prices is not None:
            u = turn.usage
            turn = turn.model_copy(
                update={"cost_usd": self.prices.cost(u.prompt_tokens, u.cached_tokens, u.completion_tokens)}
            )
        return turn

    async def grade(self, question: str, answer: str | None, expected: str) -> Grade:
        if answer is None or not answer.strip():
            return _no_answer("judge")
        prompt = render(self.template, question, answer, expected)
        request = ModelRequest(messages=[{"role": "user", "content": prompt}])
        tokens, cost, replies = 0, 0.0, []
        for _ in range(1 + self.retries):
            turn = self._priced(await self.model.complete(request), request)
            tokens, cost = tokens + turn.usage.total_tokens, cost + turn.cost_usd
            verdict = parse_verdict(self.template, turn.content)
            if verdict is not None:
                return Grade(verdict=verdict, grader="judge", reasoning=_reply_text(turn), cost_usd=cost, tokens=tokens)
            replies.append(turn.content)
        shown = " | ".join(repr(r[:300]) for r in replies)
        expected_form = (
            "a letter A, B or C" if self.template == "simpleqa" else "a line 'correct: yes' or 'correct: no'"
        )
        return Grade(
            verdict="incorrect",
            grader="judge",
            reasoning=f"the judge's reply could not be read as a verdict ({len(replies)} tries; "
            f"expected {expected_form}); graded incorrect. Replies: {shown}",
            cost_usd=cost,
            tokens=tokens,
        )


def _reply_text(turn: AssistantTurn) -> str:
    """The judge's reply, with its separate reasoning (thinking models) after it."""
    text = turn.content.strip()
    if turn.reasoning.strip():
        text += f"\n\n[judge reasoning]\n{turn.reasoning.strip()}"
    return text


GRADERS = ("exact", "number", "judge")


def grade_by_rule(
    task: SuiteTask, answer: str | None, *, default: str = "exact", tolerance: float | None = None
) -> Grade | None:
    """The grade of the rule-based graders (``exact``, ``number``), or ``None`` when ``task``
    is graded by the judge. ``tolerance``: the ``number`` grader's, unless the task sets its own."""
    name = task.grader or default
    if name == "exact":
        return exact_match(answer, task.answer)
    if name == "number":
        chosen = task.tolerance if task.tolerance is not None else tolerance
        return number_match(answer, task.answer, rel_tol=chosen or 0.0)
    if name == "judge":
        return None
    raise GraderError(f"unknown grader {name!r}: choose one of {', '.join(GRADERS)}")


async def grade(
    task: SuiteTask,
    answer: str | None,
    *,
    default: str = "exact",
    judge: JudgeGrader | None = None,
    tolerance: float | None = None,
) -> Grade:
    """Grade ``answer`` to ``task`` with the task's own grader, else ``default``; the
    ``judge`` grader needs ``judge`` (a :class:`GraderError` says so otherwise). ``tolerance``:
    the ``number`` grader's relative tolerance (``None``: exact), unless the task sets its own."""
    ruled = grade_by_rule(task, answer, default=default, tolerance=tolerance)
    if ruled is not None:
        return ruled
    name = task.grader or default
    if name == "judge":
        if judge is None:
            raise GraderError(
                f"task {task.id!r} is graded by an LLM judge, but no judge model was given "
                "(configure a judge, or choose the exact or number grader)"
            )
        return await judge.grade(task.question, answer, task.answer)
    raise GraderError(f"unknown grader {name!r}: choose one of {', '.join(GRADERS)}")


__all__ = [
    "GRADERS",
    "Grade",
    "GraderError",
    "JudgeGrader",
    "exact_match",
    "grade",
    "grade_by_rule",
    "normalize_answer",
    "number_match",
    "parse_number",
]
