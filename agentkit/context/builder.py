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

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import orjson

from agentkit.context._ledger import Ledger, ReasoningRetention, TurnSizes
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
ELIDED_REASONING_RECALL = "(reasoning of this earlier turn elided to save context; recall can search it)"
RECALL_HINT = 'recall("words from it") finds it too'
"""What the notices of hidden, elided and summarised text add when the run has ``recall``."""
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


@dataclass(frozen=True, slots=True)
class ViewMark:
    """Where a view's messages stand in the builder's running view (which one, how many
    messages, how many times its latest turn had been taken back): what
    :meth:`ContextBuilder.unchanged` compares."""

    shown: int
    length: int
    drops: int


@dataclass
class View:
    messages: list[Message]
    n_bytes: int
    tokens: int
    cut: ViewCut
    image_tokens: int = 0
    """Estimated tokens of the view's images and videos (included in ``tokens``; not text bytes)."""
    mark: ViewMark | None = None
    """Set on views of the running view (:meth:`ContextBuilder.prepare`, :meth:`~ContextBuilder.render`)."""


def placeholder(result: ToolResultEvent, *, recall: bool = False) -> str:
    """What the model sees of a hidden tool result: how to get it back (with ``recall``, the
    words it holds find it without fetching again)."""
    where = f", source {', '.join(result.sources)}" if result.sources else ""
    how = (
        f'Re-read it with fetch("{result.sources[0]}") if you need it'
        if result.sources
        else "Call the tool again if you need it"
    )
    how += f"; {RECALL_HINT}." if recall else "."
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
        recall: bool = False,
        video: bool = False,
        retention: ReasoningRetention = "current_turn",
        max_prompt_tokens: int | None = None,
    ) -> None:
        self.system_prompt = system_prompt
        self.vision = vision
        """Images go to the model as image parts; else they are named in text."""
        self.video = video
        """The task's videos go to the model as video parts; else they are named in text."""
        self.recall = recall
        """The run has the ``recall`` tool: notices of hidden, elided and summarised text say so."""
        self.reasoning_field = reasoning_field
        self.retention: ReasoningRetention = retention
        """What the service does with earlier turns' reasoning: counted in full and never
        elided (``all``), or not counted before the latest user message (``current_turn``)."""
        self.reasoning_every_turn = retention == "all"
        """Every assistant turn carries its reasoning back (a model that keeps earlier turns'
        reasoning as context), not only tool-call turns."""
        self.window = window
        self.max_tokens = max_tokens or default_max_tokens
        """The most output a request asks for: the configured value, else the profile's default."""
        self.max_prompt_tokens = max_prompt_tokens
        """The cost target: no request's prompt is larger (by the local estimate)."""
        self.policy = policy or BatchPrune()
        self.estimator = estimator or TokenEstimator()
        self.tools_bytes = tools_bytes
        self._ledger = Ledger()
        self._state: RunState | None = None
        self._shown: _Shown | None = None

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
        """Prompt tokens a view may use before the policy prunes: what the window leaves for
        it, and never more than the cost target."""
        room = max(1, self.window - self.reserve - self.margin)
        return room if self.max_prompt_tokens is None else max(1, min(room, self.max_prompt_tokens))

    @property
    def cost_bound(self) -> bool:
        """The cost target, not the window, is what bounds the view."""
        room = self.window - self.reserve - self.margin
        return self.max_prompt_tokens is not None and self.max_prompt_tokens < room

    @property
    def elision(self) -> str:
        """What an elided turn's reasoning reads (with ``recall``, that it can be found)."""
        return ELIDED_REASONING_RECALL if self.recall else ELIDED_REASONING

    @property
    def elidable(self) -> bool:
        """Whether old reasoning may be elided (not where the service keeps it as context)."""
        return self.retention != "all"

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
        task = task_message(state.task, state.images, self.vision, state.videos, self.video)
        return [{"role": "system", "content": self.system_prompt}, task]

    def pinned(self, state: RunState, cut: ViewCut) -> list[Message]:
        msgs = self.head(state)
        shown_plan = cut.plan or (state.plan_event.plan if state.plan_event else None)
        if shown_plan is not None:
            msgs.extend(plan_messages(shown_plan, self.reasoning_field if self.reasoning_every_turn else None))
        parts: list[str] = []
        if cut.summary:
            how = "; recall searches their full text" if self.recall else ""
            parts.append(
                f"Summary of the first {cut.drop_before} steps (condensed to save context; nothing is lost: "
                "every step stays in the run's trace by its number, and each tool result by its source id, "
                f'which fetch("S...") reads again{how}):\n{cut.summary}'
            )
        if cut.notes:
            parts.append("Your notes so far:\n" + "\n".join(f"- {n}" for n in cut.notes))
        if parts:
            msgs.append(user_message("\n\n".join(parts)))
        msgs.extend(user_message(n.text) for n in state.head_notices)
        return msgs

    def turn(self, record: TurnRecord, *, hidden: bool, elided: bool) -> list[Message]:
        """The messages of one turn: its assistant message (reasoning elided, never where the
        service keeps earlier reasoning), its results (as placeholders when hidden), its
        figures (a vision model's, unless hidden) and the notices after it."""
        elided = elided and self.elidable
        elision = self.elision if elided else None
        msgs = [assistant_message(record.event, self.reasoning_field, elision, every_turn=self.reasoning_every_turn)]
        for call in record.event.turn.tool_calls:
            result = record.results.get(call.id)
            if result is not None:
                msgs.append(tool_message(result, placeholder(result, recall=self.recall) if hidden else None))
        if self.vision and not hidden:
            msgs.extend(figures_message(record))
        msgs.extend(user_message(n.text) for n in record.notices)
        return msgs

    def render(self, state: RunState, cut: ViewCut) -> View:
        """The view of ``state`` under ``cut`` (what :meth:`prepare` sends, without pruning)."""
        self._sync(state)
        return self._show(state, cut)

    def unchanged(self, earlier: ViewMark | None, later: ViewMark | None) -> int:
        """How many leading messages of the view marked ``later`` are the very objects the view
        marked ``earlier`` began with (0 when unknown: a view of another cut or state). The
        running view only grows at its end, or takes its latest turn back to show it again, so
        this is what neither view's end nor any turn taken back in between reached."""
        shown = self._shown
        if earlier is None or later is None or shown is None:
            return 0
        if earlier.shown != shown.serial or later.shown != shown.serial or later.drops < earlier.drops:
            return 0
        return min(earlier.length, later.length, *shown.drops[earlier.drops : later.drops])

    # the running view: only new turns (and the latest, while it changes) are rendered
    def _sync(self, state: RunState) -> None:
        """Measure the turns the ledger has not seen. The fold only ever changes the latest
        turn (its results, the notices after it), so that one is measured again when it did."""
        ledger, records = self._ledger, state.records
        if self._state is not state or len(ledger) > len(records):
            self._state, self._ledger, self._shown = state, Ledger(), None
            ledger = self._ledger
        if ledger.turns and ledger.turns[-1].key != _key(records[len(ledger) - 1]):
            ledger.pop()
        for record in records[len(ledger) :]:
            ledger.push(self._measure(record), len(record.results))

    def _measure(self, record: TurnRecord) -> TurnSizes:
        field = self.reasoning_field
        event = record.event
        every = self.reasoning_every_turn
        reasoned = assistant_message(event, field, every_turn=every)
        elided = assistant_message(event, field, self.elision, every_turn=every) if self.elidable else reasoned
        unreasoned = {k: v for k, v in reasoned.items() if k != field and k != "reasoning_details"}
        results = [record.results[c.id] for c in event.turn.tool_calls if c.id in record.results]
        shown: list[Message] = [tool_message(r) for r in results]
        if self.vision:
            shown.extend(figures_message(record))
        hidden = [tool_message(r, placeholder(r, recall=self.recall)) for r in results]
        notices = [user_message(n.text) for n in record.notices]
        reasoned_size = _size(reasoned)
        return TurnSizes(
            key=_key(record),
            reasoned=reasoned_size,
            elided=_size(elided) if self.elidable else reasoned_size,
            unreasoned=_size(unreasoned),
            shown=sum(map(_size, shown)),
            hidden=sum(map(_size, hidden)),
            notices=sum(map(_size, notices)),
            messages_shown=1 + len(shown) + len(notices),
            messages_hidden=1 + len(hidden) + len(notices),
            images=count_image_tokens(shown),
            user_shown=bool(notices) or len(shown) > len(results),
            user_hidden=bool(notices),
        )

    def _show(self, state: RunState, cut: ViewCut) -> View:
        """The view under ``cut``, built on the previous one when only turns were added. A
        view of a new cut takes the messages of each turn it shows as the previous view
        showed them (the same objects) when it shows that turn the same way."""
        shown = self._shown
        earlier = shown
        head_key = (len(state.head_notices), state.plan_event is not None)
        if shown is None or shown.cut != cut or shown.head_key != head_key:
            pinned = self.pinned(state, cut)
            shown = _Shown(cut, head_key, pinned, sum(map(_size, pinned)), count_image_tokens(pinned))
            self._shown = shown
        records, d = state.records, cut.drop_before
        if len(shown.keys) + d > len(records):  # cannot happen with one state; start over
            self._shown = None
            return self._show(state, cut)
        while shown.keys and shown.keys[-1] != _key(records[d + len(shown.keys) - 1]):
            shown.drop_last()  # the latest turn changed since it was shown
        for i in range(d + len(shown.keys), len(records)):
            key, way = _key(records[i]), (i < cut.hide_before, i < cut.elide_before and self.elidable)
            messages = earlier.turn_shown(i, key, way) if earlier is not None and earlier is not shown else None
            if messages is None:
                messages = self.turn(records[i], hidden=way[0], elided=way[1])
            shown.add(messages, key, way)
        span = self._ledger.span(cut.hide_before, cut.elide_before, d, self.retention, self.elidable)
        n_bytes = self.tools_bytes + shown.head_bytes + span.n_bytes
        n_msgs = len(shown.pinned) + span.n_messages
        images = shown.head_images + span.images
        tokens = self.estimator.estimate(n_bytes, n_msgs) + images
        return View(list(shown.messages), n_bytes, tokens, cut, images, shown.mark())

    # budgeting
    async def prepare(self, state: RunState, *, summarise: Summarise, commit: Commit, hard: bool = False) -> View:
        """The view for the next request, pruning first when the policy says so."""
        self._sync(state)
        current = current_cut(state)
        view = self._show(state, current)
        sizer = _Sizer(self, state, view)
        new = self.policy.decide(sizer, current, hard=hard)
        if new is not None and (new != current or hard):
            detail_extra: dict[str, object] = {}
            if new.needs_summary:
                summary, detail_extra = await summarise(
                    state.records[current.drop_before : new.drop_before], current.summary
                )
                new = replace(new, summary=summary, needs_summary=False)
            new = replace(new, plan=state.plan, notes=tuple(state.notes))
            detail = {**new.to_detail(), **detail_extra, "tokens_before": view.tokens, "hard": hard}
            view = self._show(state, new)
            detail["tokens_after"] = view.tokens
            await commit(BudgetDecision(action="prune", detail=detail))
        if view.tokens > self.budget and not hard and not isinstance(self.policy, FullHistory):
            return await self.prepare(state, summarise=summarise, commit=commit, hard=True)
        room = self.window - view.tokens - self.margin
        if room < self.floor:
            raise ContextBudgetExceeded(
                f"the smallest view of this run is ~{view.tokens:,} tokens: the {self.window:,}-token window "
                f"leaves {max(room, 0):,} for the answer, under the {self.floor:,} a reply needs"
                + self._tools_hint(view)
            )
        if self.max_prompt_tokens is not None and view.tokens > self.max_prompt_tokens:
            raise ContextBudgetExceeded(
                f"the smallest view of this run is ~{view.tokens:,} tokens, over "
                f"context.max_prompt_tokens={self.max_prompt_tokens:,}"
            )
        return view

    def _tools_hint(self, view: View) -> str:
        """What to do when the tools' schemas are a large part of the smallest view."""
        share = self.tools_bytes / max(view.n_bytes, 1)
        if share < 0.25:
            return ""
        return f" (the tools' schemas are ~{share:.0%} of it: name fewer tools, or use a model with a larger window)"

    def calibrate(self, view: View, prompt_tokens: int) -> None:
        self.estimator.calibrate(view.n_bytes, len(view.messages), prompt_tokens - view.image_tokens)


def _key(record: TurnRecord) -> tuple[int, int]:
    return (len(record.results), len(record.notices))


def _size(message: Message) -> int:
    return len(orjson.dumps(message))


class _Shown:
    """The messages of the view under one cut, extended turn by turn: they only grow at the
    end, or lose the latest turn to show it again (``drops`` keeps how long they were then)."""

    _serials = itertools.count(1)

    def __init__(
        self, cut: ViewCut, head_key: tuple[int, bool], pinned: list[Message], head_bytes: int, head_images: int
    ) -> None:
        self.serial = next(self._serials)
        self.cut, self.head_key = cut, head_key
        self.pinned, self.head_bytes, self.head_images = pinned, head_bytes, head_images
        self.messages: list[Message] = list(pinned)
        self.keys: list[tuple[int, int]] = []
        self.ways: list[tuple[bool, bool]] = []
        """How each turn is shown: (results hidden, reasoning elided)."""
        self._starts: list[int] = []
        self.drops: list[int] = []

    def add(self, messages: list[Message], key: tuple[int, int], way: tuple[bool, bool]) -> None:
        self._starts.append(len(self.messages))
        self.messages.extend(messages)
        self.keys.append(key)
        self.ways.append(way)

    def drop_last(self) -> None:
        del self.messages[self._starts.pop() :]
        self.keys.pop()
        self.ways.pop()
        self.drops.append(len(self.messages))

    def turn_shown(self, index: int, key: tuple[int, int], way: tuple[bool, bool]) -> list[Message] | None:
        """The messages of turn ``index`` (of the run) here, if it is shown with ``key`` and ``way``."""
        j = index - self.cut.drop_before
        if not 0 <= j < len(self.keys) or self.keys[j] != key or self.ways[j] != way:
            return None
        end = self._starts[j + 1] if j + 1 < len(self._starts) else len(self.messages)
        return self.messages[self._starts[j] : end]

    def mark(self) -> ViewMark:
        return ViewMark(self.serial, len(self.messages), len(self.drops))


class _Sizer:
    """What the policy may ask: sizes of any cut from the ledger's running sums."""

    def __init__(self, builder: ContextBuilder, state: RunState, view: View) -> None:
        self.builder, self.state, self.view = builder, state, view
        self._heads: dict[str | None, tuple[int, int, int]] = {}

    @property
    def budget(self) -> int:
        return self.builder.budget

    @property
    def results_per_record(self) -> list[int]:
        return self.builder._ledger.results

    @property
    def elidable(self) -> bool:
        return self.builder.elidable

    @property
    def cost_bound(self) -> bool:
        return self.builder.cost_bound

    def visible_results(self, cut: ViewCut) -> int:
        return self.builder._ledger.visible_results(cut.hide_before, cut.drop_before)

    def tokens(self, cut: ViewCut) -> int:
        if cut == self.view.cut:
            return self.view.tokens
        b = self.builder
        head_bytes, head_msgs, head_images = self._head(cut.summary)
        span = b._ledger.span(cut.hide_before, cut.elide_before, cut.drop_before, b.retention, b.elidable)
        n_bytes = b.tools_bytes + head_bytes + span.n_bytes
        return b.estimator.estimate(n_bytes, head_msgs + span.n_messages) + head_images + span.images

    def _head(self, summary: str | None) -> tuple[int, int, int]:
        """The pinned messages a new cut shows: the latest plan and every note so far."""
        head = self._heads.get(summary)
        if head is None:
            state = self.state
            pinned = self.builder.pinned(state, ViewCut(summary=summary, plan=state.plan, notes=tuple(state.notes)))
            head = self._heads[summary] = (sum(map(_size, pinned)), len(pinned), count_image_tokens(pinned))
        return head


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
    "ReasoningRetention",
    "View",
    "ViewMark",
    "current_cut",
    "learned_window",
    "placeholder",
    "visible_results",
]
