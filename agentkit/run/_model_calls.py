"""How the run loop talks to the model: one call under the context budget and the cost limit
(the view built, images resolved, ``max_tokens`` fitted, retries and deltas reported, usage
estimated where the server sends none), the overflow answer that teaches the window, calls
outside the turn view (plan, summary), and the live events they produce.

A base of the loop in :mod:`agentkit.run.agent` (``_RunLoop``), kept apart so the loop itself reads
as the story of a run's steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from agentkit.context.builder import (
    ContextBudgetExceeded,
    ContextBuilder,
    ReasoningRetention,
    View,
    ViewMark,
    current_cut,
)
from agentkit.context.images import resolve_parts
from agentkit.context.summary import summary_messages, summary_transcript
from agentkit.llm._request import RequestRules
from agentkit.llm.errors import ContextLengthExceeded, ModelError, RetryNotice, observing_retries
from agentkit.llm.models import model_traits
from agentkit.llm.types import AssistantTurn, Message, Model, ModelRequest, ResponseSchema, StreamDelta
from agentkit.run._limits import fit_to_budget, prices_of, with_estimated_usage
from agentkit.run._runs import RunBook
from agentkit.run._sent import MessageDigests, sent_request
from agentkit.run.live import (
    AgentEvent,
    EventHandler,
    Notice,
    TurnStarted,
    UsageReported,
    delta_event,
    dispatch,
    retry_event,
)
from agentkit.run.planner import planning_messages
from agentkit.store.events import AssistantMessage, BudgetDecision, PlanUpdated, SentRequest, TraceEvent
from agentkit.store.fold import RunState, TurnRecord
from agentkit.telemetry import describe_calls

if TYPE_CHECKING:
    from agentkit.run.agent import Agent


def reasoning_retention(model: Model) -> ReasoningRetention:
    """What ``model``'s service does with the reasoning of earlier turns (a turn starts at
    each user message): ``all`` keeps it as context (Preserved Thinking: K3, K2.7 Code, K2.6
    asked for ``thinking.keep: "all"``), ``current_turn`` reads only the reasoning after the
    latest user message. The one place the context budget learns it: from the client's
    request rules (``model.rules``), else from the traits of the model's name."""
    rules = getattr(model, "rules", None)
    if isinstance(rules, RequestRules):
        return rules.preserves_reasoning
    return model_traits(model.model_name).preserves_reasoning()


class ModelCalls:
    """The model-facing half of a run loop (see the module docstring)."""

    agent: Agent
    state: RunState
    context: ContextBuilder
    run_id: str
    on_event: EventHandler | None
    usage_estimated: bool
    book: RunBook
    sent_view: tuple[int, int, list[Message]] | None = None
    """The latest turn view sent (turns and budget decisions of the fold then, its messages):
    what :meth:`call_inputs` answers for that fold without building the view again."""
    sent: SentRequest | None = None
    """What the latest turn's request asked, for its :class:`AssistantMessage`."""
    digests: MessageDigests | None = None
    """The digests of messages already sent (see :class:`~agentkit.run._sent.MessageDigests`)."""
    digested: ViewMark | None = None
    """Where the messages ``digests`` saw last stand in the context builder's running view."""

    async def commit(self, event: TraceEvent) -> None:
        # Telemetry (message content opt-in): how to rebuild the messages of this run's model
        # calls for their chat spans (a no-op when traces or content are off).
        describe_calls(self.run_id, self.call_inputs)
        await self.book.commit(event)

    def call_inputs(self, state: RunState, event: TraceEvent) -> list[Message] | None:
        """The messages of the model call that made ``event`` (a turn, the initial plan, the
        summary call of a prune), ``state`` being the run's fold as it was when the call was
        made (for telemetry's ``gen_ai.input.messages``). The view is a function of the fold,
        so this is what was sent (image parts still name their blobs); ``None`` for other calls."""
        if isinstance(event, AssistantMessage):
            sent = self.sent_view
            if sent is not None and sent[:2] == (len(state.records), len(state.budget)):
                return sent[2]  # the view just sent (the trace is append-only: the same fold)
            return self.context.render(state, current_cut(state)).messages
        if isinstance(event, PlanUpdated) and event.reason == "initial":
            return planning_messages(self.context.head(state))
        if isinstance(event, BudgetDecision) and isinstance(event.detail.get("usage"), dict):
            # the turns this prune summarised: those between the cut before it and its own
            current = current_cut(state)
            dropped = state.records[current.drop_before : int(event.detail.get("drop_before", 0))]
            return self.summary_request(dropped, current.summary)
        return None

    def summary_request(self, records: list[TurnRecord], previous: str | None) -> list[Message]:
        """The summary call's messages: these turns' transcript, the previous summary carried on
        (~3+ bytes per token: the transcript fits the budget)."""
        return summary_messages(previous, summary_transcript(records, limit_chars=self.context.budget))

    async def probe_window(self) -> None:
        """With no window declared, a local server's model listing may say its real window."""
        llm = self.agent.llm
        if self.agent.window_declared or not getattr(llm.profile, "probe_window", False):
            return
        probe = getattr(llm, "probe_context_window", None)
        window = await probe() if probe is not None else None
        learned = self.context.learn_window(window) if window else None
        if learned is not None:  # kept, so the report phase and a resume use it too
            await self.commit(learned)
            await self.emit(Notice(run_id=self.run_id, message=f"the server's context window is {window:,} tokens"))

    async def call_fitting(self, make_messages: Callable[[], list[Message]], *, phase: str) -> AssistantTurn:
        """A call outside the turn view (the plan, a summary): on an overflow answer, learn the
        server's window, rebuild the messages for it and retry once."""
        messages = make_messages()
        try:
            return await self.call_model(messages, phase=phase, tools=False)
        except ContextLengthExceeded as exc:
            tokens = self.context.request_tokens(messages, tools=False)
            view = View(messages, len(orjson.dumps(messages)), tokens, current_cut(self.state))
            learned = self.context.overflowed(view, limit=exc.limit, requested=exc.requested)
            if learned is None:
                raise
            await self.commit(learned)
            return await self.call_model(make_messages(), phase=phase, tools=False)

    async def model_turn(
        self, *, phase: str, tool_choice: str | None = None, response_schema: ResponseSchema | None = None
    ) -> AssistantTurn:
        """One turn of the run. ``response_schema``: the answer's schema, on the turns meant to
        give the final answer of a run with an output type (see agentkit.run._output)."""
        context = self.context
        try:
            view = await context.prepare(self.state, summarise=self.summarise, commit=self.commit)
            self.sent_view = (len(self.state.records), len(self.state.budget), view.messages)
            try:
                turn = await self.call_model(
                    view.messages,
                    phase=phase,
                    tools=True,
                    tool_choice=tool_choice,
                    context_tokens=view.tokens,
                    response_schema=response_schema,
                    images=view.image_tokens > 0,
                    mark=view.mark,
                )
            except ContextLengthExceeded as exc:
                # Learn the server's window from its answer. A window it stated prunes the view to
                # the new water marks; otherwise the estimate or the guess was low: prune hard.
                learned = context.overflowed(
                    view, limit=getattr(exc, "limit", None), requested=getattr(exc, "requested", None)
                )
                if learned is not None:
                    await self.commit(learned)
                stated = learned is not None and learned.detail["stated"]
                action = f"using a {context.window:,}-token window" if learned else "pruning harder"
                await self.emit(
                    Notice(
                        run_id=self.run_id,
                        level="warning",
                        message=f"provider said the context is too long; {action} ({exc})",
                    )
                )
                view = await context.prepare(self.state, summarise=self.summarise, commit=self.commit, hard=not stated)
                self.sent_view = (len(self.state.records), len(self.state.budget), view.messages)
                turn = await self.call_model(
                    view.messages,
                    phase=phase,
                    tools=True,
                    tool_choice=tool_choice,
                    context_tokens=view.tokens,
                    response_schema=response_schema,
                    images=view.image_tokens > 0,
                    mark=view.mark,
                )
        except ContextBudgetExceeded as exc:
            raise ModelError(str(exc)) from exc
        if turn.usage.prompt_tokens > 0 and getattr(turn, "usage_reported", True):
            context.calibrate(view, turn.usage.prompt_tokens)  # never on a server's missing or made-up usage
        return turn

    async def summarise(self, records: list[TurnRecord], previous: str | None) -> tuple[str, dict[str, object]]:
        """One model call that condenses the oldest turns into the pinned summary."""

        turn = await self.call_fitting(lambda: self.summary_request(records, previous), phase="summary")
        text = turn.content.strip() or previous or "(no summary)"
        # the call's model, response id and request settings: what its span (telemetry) says
        call = {"model": turn.model, "response_id": turn.response_id, "request": turn.request}
        return text, {"usage": turn.usage.model_dump(), "cost_usd": turn.cost_usd, "call": call}

    async def call_model(
        self,
        messages: list[dict[str, Any]],
        *,
        phase: str,
        tools: bool,
        tool_choice: str | None = None,
        context_tokens: int = 0,
        response_schema: ResponseSchema | None = None,
        images: bool = True,
        mark: ViewMark | None = None,
    ) -> AssistantTurn:
        """One request. ``images``: the messages may hold image parts to resolve (a view
        knows whether it does; walking a long history for none costs every step). ``mark``:
        where ``messages`` (a view's) stand in the context builder's running view."""
        agent, watched = self.agent, self.on_event is not None  # live events are made only for someone to see
        if watched:
            await self.emit(
                TurnStarted(
                    run_id=self.run_id,
                    step=self.state.step + (phase != "plan"),
                    max_steps=agent.max_steps,
                    phase=phase,  # type: ignore[arg-type]
                    context_tokens=context_tokens,
                    window=self.context.window,
                )
            )
        prompt_tokens = context_tokens or self.context.request_tokens(messages, tools=tools)  # calibrated
        # Built by the loop, not validated again: re-validating the whole history every step
        # (a copy of every message) grew with the run.
        request = ModelRequest.model_construct(
            messages=await resolve_parts(messages, agent.store) if images else messages,  # blobs become data URLs
            tools=agent.tools.schemas() if tools else [],
            temperature=agent.temperature,
            max_tokens=self.context.answer_tokens(prompt_tokens),
            seed=agent.seed,
            tool_choice=tool_choice,
            tool_call_index=self.state.tool_calls,
            cache_key=self.run_id,  # prompt_cache_key where the host takes it: stable across resume
            response_schema=response_schema,
        )
        request = fit_to_budget(request, agent.llm, self.cost_room(), prompt_tokens)
        if phase in ("execute", "final"):  # a turn: what it asked is kept with it (agentkit replay)
            if self.digests is None:
                self.digests = MessageDigests()
            state, unchanged = self.state, self.context.unchanged(self.digested, mark)
            self.sent = sent_request(
                request, messages, state.sent_messages, state.sent_schemas, self.digests, unchanged
            )
            self.digested = mark
        with observing_retries(self.on_retry if self.on_event else None):
            turn = await agent.llm.complete(request, on_delta=self.on_delta if self.on_event else None)
        if not getattr(turn, "usage_reported", True):
            turn = await self.estimate_usage(turn, prompt_tokens)
        if agent.shared_budget is not None:
            agent.shared_budget.add(turn.cost_usd)
        if watched:
            await self.emit(
                UsageReported(
                    run_id=self.run_id,
                    turn=turn.usage,
                    total=self.state.usage + turn.usage,
                    cost_usd=self.state.cost_usd + turn.cost_usd,
                    context_tokens=turn.usage.prompt_tokens,
                    window=self.context.window,
                )
            )
        return turn

    def cost_room(self) -> float | None:
        """Dollars left under ``max_cost_usd`` (shared with sibling trajectories in heavy mode)."""
        limit = self.agent.limits.max_cost_usd
        if limit is None:
            return None
        shared = self.agent.shared_budget
        return limit - (shared.spent if shared is not None else self.state.cost_usd)

    async def estimate_usage(self, turn: AssistantTurn, prompt_tokens: int) -> AssistantTurn:
        """The server sent no usage: count the turn locally, and say so once."""
        if not self.usage_estimated:
            self.usage_estimated = True
            message = "the server sends no token usage: cost and context use are estimated locally"
            await self.emit(Notice(run_id=self.run_id, level="warning", message=message))
        return with_estimated_usage(turn, prompt_tokens, prices_of(self.agent.llm))

    async def on_retry(self, notice: RetryNotice) -> None:
        await self.emit(retry_event(self.run_id, notice))

    async def on_delta(self, delta: StreamDelta) -> None:
        event = delta_event(self.run_id, delta)
        if event is not None:
            await self.emit(event)

    async def emit(self, event: AgentEvent) -> None:
        if self.on_event is not None:
            await dispatch(self.on_event, event)
