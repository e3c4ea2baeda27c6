"""Budget policies: when and how far to prune the message view.

A policy sees sizes only (through a :class:`Sizer`) and returns a new :class:`ViewCut`:
boundaries that hide old tool results, elide old reasoning and drop the oldest turns into
a pinned summary. Plans only ever move forward, and the default policy moves them in rare,
large steps, so the request prefix stays byte-identical between prunes and the
provider's prompt cache keeps hitting.
"""

from __future__ import annotations

import abc
import bisect
from dataclasses import dataclass, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class ViewCut:
    """How the trace is shown. Records (assistant turns) before ``hide_before`` show
    placeholders for their tool results, before ``elide_before`` a stub for their reasoning,
    and before ``drop_before`` are replaced by ``summary``."""

    hide_before: int = 0
    elide_before: int = 0
    drop_before: int = 0
    summary: str | None = None
    plan: str | None = None
    notes: tuple[str, ...] = ()
    needs_summary: bool = False

    def to_detail(self) -> dict[str, Any]:
        return {
            "hide_before": self.hide_before,
            "elide_before": self.elide_before,
            "drop_before": self.drop_before,
            "summary": self.summary,
            "plan": self.plan,
            "notes": list(self.notes),
        }

    @classmethod
    def from_detail(cls, detail: dict[str, Any]) -> ViewCut:
        return cls(
            hide_before=int(detail.get("hide_before", 0)),
            elide_before=int(detail.get("elide_before", 0)),
            drop_before=int(detail.get("drop_before", 0)),
            summary=detail.get("summary"),
            plan=detail.get("plan"),
            notes=tuple(detail.get("notes") or ()),
        )


class Sizer(Protocol):
    """What a policy may ask about the current trace."""

    @property
    def budget(self) -> int:
        """Tokens a request may use: window minus the output reserve."""

    @property
    def results_per_record(self) -> list[int]: ...

    @property
    def elidable(self) -> bool:
        """Whether old reasoning may be elided: not where the service keeps every earlier
        turn's reasoning as context and wants it back as it was (the builder ignores
        ``elide_before`` there)."""

    @property
    def cost_bound(self) -> bool:
        """The budget is the cost target (``context.max_prompt_tokens``), not the window."""

    def visible_results(self, cut: ViewCut) -> int:
        """Tool results ``cut`` shows (not hidden, not dropped)."""

    def tokens(self, cut: ViewCut) -> int:
        """Estimated prompt tokens of the view under ``cut``, as the service counts them."""


class ContextPolicy(abc.ABC):
    @abc.abstractmethod
    def decide(self, sizer: Sizer, current: ViewCut, *, hard: bool = False) -> ViewCut | None:
        """A new cut, or ``None`` to keep the current one. ``hard``: the provider said the
        last request was too long; prune further than usual."""


def keep_boundary(results: list[int], keep: int, floor: int) -> int:
    """The first record whose results stay visible so that at most ``keep`` remain
    (never hiding the latest turn's results)."""
    n = len(results)
    count = 0
    for i in range(n - 1, -1, -1):
        count += results[i]
        if count > keep:
            return max(floor, min(i + 1, n - 1))
    return floor


def visible_results(results: list[int], cut: ViewCut) -> int:
    return sum(results[max(cut.hide_before, cut.drop_before) :])


class FullHistory(ContextPolicy):
    """Send everything (for comparison; fails once the history outgrows the window)."""

    def decide(self, sizer: Sizer, current: ViewCut, *, hard: bool = False) -> ViewCut | None:
        return None


@dataclass
class SlidingWindow(ContextPolicy):
    """Show only the last ``keep`` tool results, re-cut at every step (cache-hostile)."""

    keep: int = 10

    def decide(self, sizer: Sizer, current: ViewCut, *, hard: bool = False) -> ViewCut | None:
        results = sizer.results_per_record
        boundary = keep_boundary(results, 1 if hard else self.keep, current.hide_before)
        return replace(current, hide_before=boundary) if boundary != current.hide_before else None


@dataclass
class BatchPrune(ContextPolicy):
    """The default: prune in one batch, only when needed, down to a low-water mark.

    Triggers when the view passes ``high_water`` of the budget or holds more than
    ``keep + batch`` visible tool results. Then, in order, until the view is under
    ``low_water``: hide tool results beyond the most recent ``keep``; elide the reasoning
    of finished turns except the newest ``keep_reasoning`` (only where the service does not
    keep earlier reasoning as context: there it must come back as it was, so whole turns
    go into the summary instead); keep fewer results (halving ``keep``); summarise the
    oldest turns into a pinned summary.

    The newest turns' reasoning is never elided: the latest tool-call turn is the one whose
    results the model is about to read, and it continues from that reasoning; without it a
    thinking model loses its place and starts the task over.
    """

    keep: int = 10
    keep_reasoning: int = 2
    """Newest turns whose reasoning is never elided (at least 1). Two covers a bookkeeping
    call (note, update_plan) right after the turn that planned the work, and costs <1% more
    than one (tools/bench/context.py)."""
    batch: int | None = None
    high_water: float = 0.85
    low_water: float = 0.55
    cost_low_water: float = 0.35
    """The low-water mark when the budget is the cost target: every prune that condenses
    turns re-bills the turns it keeps at the cache-miss price (10x the hit price for Kimi K3),
    so fewer, deeper prunes cost less; a 1,000-step K3 run bills 34 M prompt tokens ($25)
    with it against 41 M ($32) at ``low_water`` (tools/bench/context.py)."""
    summary_tokens: int = 1500

    def decide(self, sizer: Sizer, current: ViewCut, *, hard: bool = False) -> ViewCut | None:
        results = sizer.results_per_record
        n = len(results)
        budget = sizer.budget
        tokens_now = sizer.tokens(current)
        too_many = sizer.visible_results(current) > self.keep + (self.batch or self.keep)
        if not (hard or too_many or tokens_now > self.high_water * budget):
            return None
        low = self.cost_low_water if sizer.cost_bound else self.low_water
        target = (min(0.35, low) if hard else low) * budget
        keep = min(self.keep, 2) if hard else self.keep
        cut = replace(current, hide_before=keep_boundary(results, keep, current.hide_before))
        if not hard and tokens_now <= self.high_water * budget:
            return cut  # only the count trigger fired: hiding old results is the whole prune
        if sizer.tokens(cut) <= target:
            return cut
        if sizer.elidable:
            cut = replace(cut, elide_before=max(cut.elide_before, n - max(1, self.keep_reasoning)))
            if sizer.tokens(cut) <= target:
                return cut
        while keep > 1:  # large results: keep fewer of them before condensing turns away
            keep //= 2
            cut = replace(cut, hide_before=keep_boundary(results, keep, cut.hide_before))
            if sizer.tokens(cut) <= target:
                return cut
        # The smallest cut that fits: dropping more turns never grows the view, so bisect
        # (a linear scan re-sized the whole view per candidate: quadratic in a long run).
        candidates = range(cut.drop_before + 1, n)
        base = cut

        def fits(drop: int) -> bool:
            return sizer.tokens(replace(base, drop_before=drop, needs_summary=True)) + self.summary_tokens <= target

        first = bisect.bisect_left(candidates, True, key=fits)
        if first < len(candidates):
            return replace(cut, drop_before=candidates[first], needs_summary=True)
        # Last resort: keep only the latest turn, with its results hidden if need be.
        cut = replace(cut, drop_before=max(cut.drop_before, n - 1), needs_summary=n - 1 > cut.drop_before)
        if sizer.tokens(cut) + self.summary_tokens > budget:
            cut = replace(cut, hide_before=n)
        return cut
