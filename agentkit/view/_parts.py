"""What the trace page's templates need beyond the view model: number formats, the anchors of
source and run ids, the timeline's order and the plan diffs. Plain data only: the markup is
in ``templates/`` (``trace.html`` and the macros of ``_run.html``)."""

from __future__ import annotations

import base64
import datetime as _dt
import difflib
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from agentkit.view.model import ContextMark, Marker, PlanRevision, RunView, StepView

MAX_TEXT = 20_000
"""Characters of one text (reasoning, arguments, a result) the page shows; the store keeps all."""


def tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


def money(value: float) -> str:
    return f"${value:.4f}" if value < 10 else f"${value:,.2f}"


def when(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "unknown"


def thousands(n: int) -> str:
    return f"{n:,}"


def percent(share: float) -> str:
    return f"{share:.0%}"


def share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Links:
    """Page-wide anchors for source ids and run ids (both are stored text: only mapped, never
    put into an attribute themselves)."""

    def __init__(self, root: RunView, *more: RunView) -> None:
        self._sources = {s.source.id: f"src-{i}" for i, s in enumerate(root.sources)}
        self._runs = {run.info.id: run for top in (root, *more) for run in top.walk()}

    def source(self, source_id: str) -> str | None:
        """The anchor of the source's row in the page's source table."""
        return self._sources.get(source_id)

    def run(self, run_id: str) -> RunView | None:
        """The run in this page (it has an anchor), if it is one."""
        return self._runs.get(run_id)


class Entry(NamedTuple):
    """One line of a timeline: a step, or what happened between two steps."""

    kind: Literal["step", "plan", "marker", "context"]
    item: StepView | PlanRevision | Marker | ContextMark
    previous_plan: str = ""
    """For a plan revision: the plan it replaced (the diff's left side)."""


def timeline_entries(run: RunView, after: int = 0, upto: int | None = None) -> list[Entry]:
    """The run's steps in order, with what happened between them: plan revisions, context
    prunes and summaries, harness notices, errors and status changes. Only steps ``after`` + 1
    to ``upto`` (and what happened just before each of them; ``upto=None``: to the end)."""

    def shown(key: int) -> bool:
        return key > after and (upto is None or key <= upto)

    between: dict[int, list[Entry]] = {}  # in the order they happen after a step's calls
    for i, plan in enumerate(run.plans):
        if plan.step:  # a revision shows after the step whose call made it
            previous = run.plans[i - 1].plan if i else ""
            between.setdefault(plan.step + 1, []).append(Entry("plan", plan, previous))
    for marker in run.markers:
        between.setdefault(marker.before_step, []).append(Entry("marker", marker))
    for mark in run.context_marks:  # made while the next request was built
        between.setdefault(mark.before_step, []).append(Entry("context", mark))
    out: list[Entry] = []
    for step in run.steps:
        before = between.pop(step.step, [])
        if shown(step.step):
            out.extend(before)
            out.append(Entry("step", step))
    if upto is None:
        for key in sorted(between):  # after the last step (a run in progress, an end)
            if key > after:
                out.extend(between[key])
    return out


def diff_lines(previous: str, current: str) -> list[tuple[str, str]]:
    """The plan as a line diff against the previous revision: (``add`` | ``del`` | ``""``, line)."""
    lines = []
    for line in difflib.ndiff(previous.splitlines(), current.splitlines()):
        tag, text = line[:2], line[2:]
        if tag != "? ":
            lines.append(({"+ ": "add", "- ": "del"}.get(tag, ""), text))
    return lines


FILTERS: dict[str, Callable[..., Any]] = {
    "tokens": tokens,
    "money": money,
    "when": when,
    "n": thousands,
    "percent": percent,
    "b64": b64,
}
"""The number and time formats the templates use, by filter name."""
