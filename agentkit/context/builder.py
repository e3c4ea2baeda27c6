"""The message view sent to the model, computed from the run state under a token budget.

The trace keeps everything; the view hides, elides or summarises according to the latest
``BudgetDecision(action="prune")`` in the trace, so a resumed run sees the same view.
Rendered turns are cached per variant, so building a view costs O(new events) per step.

Output room: each request's ``max_tokens`` is all the room the window leaves after the
prompt, capped by the configured (else the profile's default) ``max_tokens`` and never
below a floor. Pruning keeps a *reserve* free for it: the cap, but at most a quarter of the
window, so a 32k default reserve cannot eat a 32k window. The window itself can shrink
during a run to what the server says it has (``BudgetDecision(action="window")``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import orjson

from agentkit.context.images import count_image_tokens
from agentkit.context.messages import (
    assistant_message,
    figures_message,
    plan_messages,
    task_message,
    tool_message,
    user_message,
)
from agentkit.context.policy import BatchPrune, ContextPolicy, FullHistory, ViewCut, visible_results
from agentkit.context.tokens import TokenEstimator
from agentkit.llm.types import Message
from agentkit.store.events import BudgetDecision, ToolResultEvent
from agentkit.store.fold import RunState, TurnRecord

ELIDED_REASONING = "(reasoning of this earlier turn elided to save context)"
SAFETY_MARGIN = 1024
"""Tokens kept free besides the answer (at most 1/32 of the window)."""
OUTPUT_FLOOR = 4096
"""The least ``max_tokens`` a request is sent with (at most the reserve): room for a thinking
model's reasoning and a tool call or a short answer. Under it the run fails."""
RESERVE_SHARE = 4
"""The prune reserve is at most 1/RESERVE_SHARE of the window."""

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
    cut: ViewCut
    image_tokens: int = 0
    """Estimated tokens of the view's images (included in ``tokens``; not text bytes)."""


def placeholder(result: ToolResultEvent) -> str:
    where = f", source {', '.join(result.sources)}" if result.sources else ""
    how = (
        f'Re-read it with fetch("{result.sources[0]}") if you need it.'
        if result.sources
        else "Call the tool again if you need it."
    )
    return f"[{result.name} result hidden to save context ({len(result.text):,} characters{where}). {how}]"


def answer_room(window: int, prompt_tokens: int, cap: int) -> int:
    """``max_tokens`` for a request of ``prompt_tokens`` in ``window``: what the window leaves
    after the prompt and a margin, at most ``cap``, never below the floor
    (``min(4096, reserve)``, the reserve being ``min(cap, window/4)``)."""
    reserve = max(1, min(cap, window // RESERVE_SHARE))
    margin = min(SAFETY_MARGIN, window // 32)
    return max(min(OUTPUT_FLOOR, reserve), min(cap, window - prompt_tokens - margin))


class ContextBuilder:
    def __init__(
        self,
        *,
        system_prompt: str,
        reasoning_field: str | None,
        window: int = 262_144,
        max_tokens: int | None = None,
        default_max_tokens: int = 32_768,
        policy: ContextPolicy | None = None,
        estimator: TokenEstimator | None = None,
        tools_bytes: int = 0,
        vision: bool = False,
        reasoning_every_turn: bool = False,
    ) -> None:
        self.system_prompt = system_prompt
        self.vision = vision
        """Images go to the model as image parts; else they are named in text."""
        self.reasoning_every_turn = reasoning_every_turn
        """Every assistant turn carries its reasoning back (a model that keeps earlier turns'
        reasoning as context), not only tool-call turns."""
        self.reasoning_field = reasoning_field
        self.window = window
        self.max_tokens = max_tokens or default_max_tokens
        """The most output a request asks for: the configured value, else the profile's default."""
        self.policy = policy or BatchPrune()
        self.estimator = estimator or TokenEstimator()
        self.tools_bytes = tools_bytes
        self._cache: dict[tuple[int, bool, bool, int, int], tuple[list[Message], int, int]] = {}

    @property
    def reserve(self) -> int:
        """Output room the prune water marks keep free."""
        return max(1, min(self.max_tokens, self.window // RESERVE_SHARE))

    @property
    def floor(self) -> int:
        return min(OUTPUT_FLOOR, self.reserve)

    @property
    def margin(self) -> int:
        return min(SAFETY_MARGIN, self.window // 32)

    @property
    def budget(self) -> int:
        """Prompt tokens a view may use before the policy prunes."""
        return max(1, self.window - self.reserve - self.margin)

    def answer_tokens(self, prompt_tokens: int) -> int:
        """``max_tokens`` for a request of ``prompt_tokens``: the room the window leaves,
        capped by :attr:`max_tokens`, never below :attr:`floor`."""
        return answer_room(self.window, prompt_tokens, self.max_tokens)

    def request_tokens(self, messages: list[Message], *, tools: bool) -> int:
        """Estimated prompt tokens of a request built outside the view (plan, summary)."""
        n_bytes = sum(len(orjson.dumps(m)) for m in messages) + (self.tools_bytes if tools else 0)
        return self.estimator.estimate(n_bytes, len(messages)) + count_image_tokens(messages)

    def learn_window(self, window: int, *, stated: bool = True, requested: int | None = None) -> BudgetDecision | None:
        """Shrink the window to what the server has (from its overflow answer, or a probe at
        the start); a larger value is ignored. Returns the decision to store (what
        :func:`learned_window` reads back) when the window shrank."""
        if not 0 < window < self.window:
            return None
        self.window = window
        return BudgetDecision(action="window", detail={"window": window, "stated": stated, "requested": requested})

    def overflowed(self, view: View, *, limit: int | None, requested: int | None) -> BudgetDecision | None:
        """The provider refused ``view`` as too long. Learn from its answer: the window it
        states (else assume it is 3/4 of what was asked for, so the retry is truly smaller),
        and its count when that shows the estimate was low. Returns the decision to store
        when the window shrank."""
        sent = self.answer_tokens(view.tokens)
        if requested is not None and requested - sent > view.tokens:
            # Whether or not the server's count includes the output, the prompt was at least this.
            self.estimator.calibrate(view.n_bytes, len(view.messages), requested - sent - view.image_tokens)
        stated = limit is not None
        if limit is None:
            limit = (view.tokens + sent) * 3 // 4
        return self.learn_window(limit, stated=stated, requested=requested)

    # rendering
    def head(self, state: RunState) -> list[Message]:
        """Pinned: system prompt and task."""
        return [{"role": "system", "content": self.system_prompt}, task_message(state.task, state.images, self.vision)]

    def pinned(self, state: RunState, cut: ViewCut) -> list[Message]:
        msgs = self.head(state)
        shown_plan = cut.plan or (state.plan_event.plan if state.plan_event else None)
        if shown_plan is not None:
            msgs.extend(plan_messages(shown_plan, self.reasoning_field if self.reasoning_every_turn else None))
        parts: list[str] = []
        if cut.summary:
            parts.append(f"Summary of the first {cut.drop_before} steps (condensed to save context):\n{cut.summary}")
        if cut.notes:
            parts.append("Your notes so far:\n" + "\n".join(f"- {n}" for n in cut.notes))
        if parts:
            msgs.append(user_message("\n\n".join(parts)))
        msgs.extend(user_message(n.text) for n in state.head_notices)
        return msgs

    def record(self, index: int, record: TurnRecord, hidden: bool, elided: bool) -> tuple[list[Message], int, int]:
        """The messages of one turn, their size in bytes and their images' estimated tokens."""
        key = (index, hidden, elided, len(record.results), len(record.notices))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        elision = ELIDED_REASONING if elided else None
        msgs = [assistant_message(record.event, self.reasoning_field, elision, every_turn=self.reasoning_every_turn)]
        for call in record.event.turn.tool_calls:
            result = record.results.get(call.id)
            if result is not None:
                msgs.append(tool_message(result, placeholder(result) if hidden else None))
        if self.vision and not hidden:
            msgs.extend(figures_message(record))
        msgs.extend(user_message(n.text) for n in record.notices)
        size = sum(len(orjson.dumps(m)) for m in msgs)
        self._cache[key] = (msgs, size, count_image_tokens(msgs))
        return msgs, size, self._cache[key][2]

    def render(self, state: RunState, cut: ViewCut) -> View:
        msgs = self.pinned(state, cut)
        n_bytes = self.tools_bytes + sum(len(orjson.dumps(m)) for m in msgs)
        images = count_image_tokens(msgs)
        for i in range(cut.drop_before, len(state.records)):
            part, size, image_tokens = self.record(i, state.records[i], i < cut.hide_before, i < cut.elide_before)
            msgs.extend(part)
            n_bytes += size
            images += image_tokens
        return View(msgs, n_bytes, self.estimator.estimate(n_bytes, len(msgs)) + images, cut, images)

    # budgeting
    async def prepare(self, state: RunState, *, summarise: Summarise, commit: Commit, hard: bool = False) -> View:
        """The view for the next request, pruning first when the policy says so."""
        current = current_cut(state)
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
        room = self.window - view.tokens - self.margin
        if room < self.floor:
            raise ContextBudgetExceeded(
                f"the smallest view of this run is ~{view.tokens:,} tokens: the {self.window:,}-token window "
                f"leaves {max(room, 0):,} for the answer, under the {self.floor:,} a reply needs"
            )
        return view

    def calibrate(self, view: View, prompt_tokens: int) -> None:
        self.estimator.calibrate(view.n_bytes, len(view.messages), prompt_tokens - view.image_tokens)


class _Sizer:
    def __init__(self, builder: ContextBuilder, state: RunState) -> None:
        self.builder, self.state = builder, state
        self._results = [len(r.results) for r in state.records]
        pinned = builder.pinned(state, ViewCut())
        self._head = builder.tools_bytes + sum(len(orjson.dumps(m)) for m in pinned)
        self._head_images = count_image_tokens(pinned)

    @property
    def budget(self) -> int:
        return self.builder.budget

    @property
    def results_per_record(self) -> list[int]:
        return self._results

    def tokens(self, cut: ViewCut) -> int:
        b = self.builder
        n_bytes, n_msgs, images = self._head, 4, self._head_images
        for i in range(cut.drop_before, len(self.state.records)):
            part, size, image_tokens = b.record(i, self.state.records[i], i < cut.hide_before, i < cut.elide_before)
            n_bytes += size
            n_msgs += len(part)
            images += image_tokens
        if cut.summary:
            n_bytes += len(cut.summary.encode())
        n_bytes += sum(len(n.encode()) + 4 for n in self.state.notes)
        return b.estimator.estimate(n_bytes, n_msgs) + images


def learned_window(state: RunState, declared: int) -> int:
    """The window for a run: the declared one, or the smaller one a server stated earlier in
    this run (so a resumed run does not overflow again to learn it)."""
    for decision in reversed(state.budget):
        if decision.action == "window":
            return min(declared, int(decision.detail["window"]))
    return declared


def current_cut(state: RunState) -> ViewCut:
    for decision in reversed(state.budget):
        if decision.action == "prune":
            return ViewCut.from_detail(decision.detail)
    return ViewCut()


__all__ = [
    "ContextBudgetExceeded",
    "ContextBuilder",
    "View",
    "current_cut",
    "learned_window",
    "placeholder",
    "visible_results",
]
