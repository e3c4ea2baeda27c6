"""The message view sent to the model, computed from the run state under a token budget.

The trace keeps everything; the view hides, elides or summarises according to the latest
``BudgetDecision(action="prune")`` in the trace, so a resumed run sees the same view.
Rendered turns are cached per variant, so building a view costs O(new events) per step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import orjson

from agentkit._state import RunState, TurnRecord, assistant_message, tool_message, user_message
from agentkit.context.policy import BatchPrune, ContextPolicy, FullHistory, ViewPlan, visible_results
from agentkit.context.tokens import TokenEstimator
from agentkit.llm.types import Message
from agentkit.planner import plan_messages
from agentkit.store.events import BudgetDecision, ToolResultEvent

ELIDED_REASONING = "(reasoning of this earlier turn elided to save context)"
SAFETY_MARGIN = 1024

Summarise = Callable[[list[TurnRecord], str | None], Awaitable[tuple[str, dict[str, object]]]]
"""Condense turns (and the previous summary) into text; returns it and accounting detail."""
Commit = Callable[[BudgetDecision], Awaitable[None]]


class ContextBudgetExceeded(Exception):
    """Even the smallest view is larger than the window allows."""


@dataclass
class View:
    messages: list[Message]
    n_bytes: int
    tokens: int
    plan: ViewPlan


def placeholder(result: ToolResultEvent) -> str:
    where = f", source {', '.join(result.sources)}" if result.sources else ""
    how = (
        f'Re-read it with fetch("{result.sources[0]}") if you need it.'
        if result.sources
        else "Call the tool again if you need it."
    )
    return f"[{result.name} result hidden to save context ({len(result.text):,} characters{where}). {how}]"


class ContextBuilder:
    def __init__(
        self,
        *,
        system_prompt: str,
        reasoning_field: str | None,
        window: int = 262_144,
        reserve: int = 32_768,
        policy: ContextPolicy | None = None,
        estimator: TokenEstimator | None = None,
        tools_bytes: int = 0,
    ) -> None:
        self.system_prompt = system_prompt
        self.reasoning_field = reasoning_field
        self.window = window
        self.reserve = reserve
        self.policy = policy or BatchPrune()
        self.estimator = estimator or TokenEstimator()
        self.tools_bytes = tools_bytes
        self._cache: dict[tuple[int, bool, bool, int, int], tuple[list[Message], int]] = {}

    @property
    def budget(self) -> int:
        return max(1, self.window - self.reserve - SAFETY_MARGIN)

    # rendering
    def head(self, state: RunState) -> list[Message]:
        """Pinned: system prompt and task."""
        return [{"role": "system", "content": self.system_prompt}, user_message(state.task)]

    def pinned(self, state: RunState, plan: ViewPlan) -> list[Message]:
        msgs = self.head(state)
        shown_plan = plan.plan or (state.plan_event.plan if state.plan_event else None)
        if shown_plan is not None:
            msgs.extend(plan_messages(shown_plan))
        parts: list[str] = []
        if plan.summary:
            parts.append(f"Summary of the first {plan.drop_before} steps (condensed to save context):\n{plan.summary}")
        if plan.notes:
            parts.append("Your notes so far:\n" + "\n".join(f"- {n}" for n in plan.notes))
        if parts:
            msgs.append(user_message("\n\n".join(parts)))
        msgs.extend(user_message(n.text) for n in state.head_notices)
        return msgs

    def record(self, index: int, record: TurnRecord, hidden: bool, elided: bool) -> tuple[list[Message], int]:
        key = (index, hidden, elided, len(record.results), len(record.notices))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        msgs = [assistant_message(record.event, self.reasoning_field, ELIDED_REASONING if elided else None)]
        for call in record.event.turn.tool_calls:
            result = record.results.get(call.id)
            if result is not None:
                msgs.append(tool_message(result, placeholder(result) if hidden else None))
        msgs.extend(user_message(n.text) for n in record.notices)
        size = sum(len(orjson.dumps(m)) for m in msgs)
        self._cache[key] = (msgs, size)
        return msgs, size

    def render(self, state: RunState, plan: ViewPlan) -> View:
        msgs = self.pinned(state, plan)
        n_bytes = self.tools_bytes + sum(len(orjson.dumps(m)) for m in msgs)
        for i in range(plan.drop_before, len(state.records)):
            part, size = self.record(i, state.records[i], i < plan.hide_before, i < plan.elide_before)
            msgs.extend(part)
            n_bytes += size
        return View(msgs, n_bytes, self.estimator.estimate(n_bytes, len(msgs)), plan)

    # budgeting
    async def prepare(self, state: RunState, *, summarise: Summarise, commit: Commit, hard: bool = False) -> View:
        """The view for the next request, pruning first when the policy says so."""
        current = current_plan(state)
        sizer = _Sizer(self, state)
        new = self.policy.decide(sizer, current, hard=hard)
        if new is not None and (new != current or hard):
            detail_extra: dict[str, object] = {}
            if new.needs_summary:
                summary, detail_extra = await summarise(
                    state.records[current.drop_before : new.drop_before], current.summary
                )
                new = replace(new, summary=summary, needs_summary=False)
            new = replace(new, plan=state.plan, notes=tuple(state.notes))
            detail = {**new.to_detail(), **detail_extra, "tokens_before": sizer.tokens(current), "hard": hard}
            view = self.render(state, new)
            detail["tokens_after"] = view.tokens
            await commit(BudgetDecision(action="prune", detail=detail))
        else:
            view = self.render(state, current)
        if view.tokens > self.budget and not hard and not isinstance(self.policy, FullHistory):
            return await self.prepare(state, summarise=summarise, commit=commit, hard=True)
        if view.tokens > self.window - self.reserve:
            raise ContextBudgetExceeded(
                f"the smallest view of this run is ~{view.tokens:,} tokens, over the {self.window:,}-token "
                f"window minus {self.reserve:,} reserved for the answer"
            )
        return view

    def calibrate(self, view: View, prompt_tokens: int) -> None:
        self.estimator.calibrate(view.n_bytes, len(view.messages), prompt_tokens)


class _Sizer:
    def __init__(self, builder: ContextBuilder, state: RunState) -> None:
        self.builder, self.state = builder, state
        self._results = [len(r.results) for r in state.records]
        self._head = builder.tools_bytes + sum(len(orjson.dumps(m)) for m in builder.pinned(state, ViewPlan()))

    @property
    def budget(self) -> int:
        return self.builder.budget

    @property
    def results_per_record(self) -> list[int]:
        return self._results

    def tokens(self, plan: ViewPlan) -> int:
        b = self.builder
        n_bytes, n_msgs = self._head, 4
        for i in range(plan.drop_before, len(self.state.records)):
            part, size = b.record(i, self.state.records[i], i < plan.hide_before, i < plan.elide_before)
            n_bytes += size
            n_msgs += len(part)
        if plan.summary:
            n_bytes += len(plan.summary.encode())
        n_bytes += sum(len(n.encode()) + 4 for n in self.state.notes)
        return b.estimator.estimate(n_bytes, n_msgs)


def current_plan(state: RunState) -> ViewPlan:
    for decision in reversed(state.budget):
        if decision.action == "prune":
            return ViewPlan.from_detail(decision.detail)
    return ViewPlan()


__all__ = ["ContextBudgetExceeded", "ContextBuilder", "View", "current_plan", "placeholder", "visible_results"]
