"""Run limits: steps, total tokens, cost and active time."""

from __future__ import annotations

import orjson

from agentkit.context.builder import answer_room
from agentkit.context.tokens import TokenEstimator
from agentkit.llm.profiles import Prices, ProviderProfile
from agentkit.llm.types import AssistantTurn, DeltaHandler, Model, ModelRequest, Usage
from agentkit.store.fold import RunState
from agentkit.task.sections import LimitsSpec

NEAR = 0.85
WRAP_UP_PROMPT = (
    "You are close to a limit of this run ({reason}). Wrap up: stop exploring, verify only what "
    "your answer depends on, and give your final answer soon."
)


class RunLimits(LimitsSpec):
    """The task file's ``limits`` section (one definition, validated once), and how a run
    checks them. ``max_tokens`` is total tokens (prompt + completion) over the whole run."""

    @classmethod
    def chosen(
        cls,
        limits: LimitsSpec | None,
        max_steps: int = 300,
        max_cost_usd: float | None = None,
        max_run_tokens: int | None = None,
        max_seconds: float | None = None,
    ) -> RunLimits:
        """The limits an :class:`~agentkit.Agent` was given: ``limits=`` (the task file's
        section as one object) or the flat keywords, validated as in a task file. Raises
        ``ValueError`` when both are given, so no value is silently dropped."""
        if limits is None:
            return cls(
                max_steps=max_steps, max_cost_usd=max_cost_usd, max_tokens=max_run_tokens, max_seconds=max_seconds
            )
        flat = {"max_steps": max_steps != 300, "max_cost_usd": max_cost_usd is not None}
        flat |= {"max_run_tokens": max_run_tokens is not None, "max_seconds": max_seconds is not None}
        if any(flat.values()):
            named = ", ".join(k for k, given in flat.items() if given)
            raise ValueError(f"pass the limits either as limits=... or as keywords ({named}), not both")
        return cls.model_validate(limits.model_dump())

    def _usage(self, state: RunState, elapsed: float, cost: float | None = None) -> list[tuple[str, float, float]]:
        used: list[tuple[str, float, float]] = [("max_steps", state.step, self.max_steps)]
        if self.max_cost_usd is not None:
            used.append(("max_cost_usd", state.cost_usd if cost is None else cost, self.max_cost_usd))
        if self.max_tokens is not None:
            used.append(("max_tokens", state.usage.total_tokens, self.max_tokens))
        if self.max_seconds is not None:
            used.append(("max_seconds", elapsed, self.max_seconds))
        return used

    def exceeded(self, state: RunState, elapsed: float, cost: float | None = None) -> str | None:
        """The limit (other than steps, which end with a final-answer turn) that is reached.
        ``cost``: spending shared with sibling runs (heavy mode), instead of this run's own."""
        for name, value, limit in self._usage(state, elapsed, cost)[1:]:
            if value >= limit:
                return f"{name}={limit:g} reached ({value:.4g})"
        return None

    def near(self, state: RunState, elapsed: float) -> str | None:
        """A limit that the next step or two could reach (by the size of the last step)."""
        last = state.records[-1].event.turn if state.records else None
        step_size = {
            "max_steps": 1.0,
            "max_cost_usd": last.cost_usd if last else 0.0,
            "max_tokens": float(last.usage.total_tokens) if last else 0.0,
        }
        for name, value, limit in self._usage(state, elapsed):
            if name == "max_steps" and limit < 6:
                continue
            projected = value + 2 * step_size.get(name, 0.0)
            if value >= NEAR * limit or projected >= limit:
                return f"{name}={limit:g}, used {value:.4g}"
        return None


class SharedBudget:
    """Spending that several runs draw on together (heavy trajectories, delegated sub-agents):
    each run checks ``max_cost_usd`` against ``spent``, not against its own cost alone."""

    def __init__(self, spent: float = 0.0) -> None:
        self.spent = spent

    def add(self, cost: float) -> None:
        self.spent += cost


class LimitReached(Exception):
    """The next model call could pass a run limit, so it is not sent; the run stops with its best answer."""


PROMPT_USD_TARGET = 0.20
"""The default cost target: the most one request's prompt may cost at its cache-miss price
(see :func:`default_max_prompt_tokens`). For Kimi K3 ($3 per million) that is 66,666 tokens,
the largest round figure measured to keep a 1,000-step run under half of what it billed
with the window as the only bound, with room to spare (tools/bench/context.py: 64k bills
34 M, 96k 57 M, against a 53 M goal)."""


def default_max_prompt_tokens(prices: Prices) -> int | None:
    """The default ``context.max_prompt_tokens`` for a model with ``prices``: the prompt that
    costs :data:`PROMPT_USD_TARGET` at the cache-miss price. It bites for models priced like
    Kimi K3; a cheaper model's target is larger than its window, which then bounds the
    prompt alone. ``None`` for an unpriced (local) model."""
    if prices.input_miss <= 0 or PROMPT_USD_TARGET <= 0:
        return None
    return max(MIN_DEFAULT_PROMPT_TOKENS, int(PROMPT_USD_TARGET * 1_000_000 / prices.input_miss))


MIN_DEFAULT_PROMPT_TOKENS = 32_768
"""The default target never goes below this, however a model is priced: a research step needs
room for the task, the plan, a few results and the reasoning (a user's own value may)."""


MIN_ANSWER_TOKENS = 256
"""The shortest answer worth asking for; a call whose budget pays for less is not sent."""


def prices_of(model: Model) -> Prices:
    """What ``model`` charges: the client's own prices (explicit or by profile), else the profile's."""
    prices = getattr(model, "prices", None)
    return prices if isinstance(prices, Prices) else model.profile.prices_for(model.model_name)


def fit_to_budget(request: ModelRequest, model: Model, room_usd: float | None, prompt_tokens: int) -> ModelRequest:
    """``request`` with ``max_tokens`` lowered so that its worst-case cost (no cache hits, every
    output token used) fits the ``room_usd`` left under ``max_cost_usd``; raises
    :class:`LimitReached` when even a short answer would not fit. ``None``: no cost limit."""
    if room_usd is None:
        return request
    prices = prices_of(model)
    if prices.input_miss <= 0 and prices.output <= 0:
        return request  # free or unpriced: nothing to project (spending is still checked after the call)
    wanted = request.max_tokens or model.profile.default_max_tokens
    prompt_cost = prices.cost(prompt_tokens, 0, 0)
    least = prompt_cost + prices.cost(0, 0, min(MIN_ANSWER_TOKENS, wanted))
    if least > room_usd:
        raise LimitReached(
            f"max_cost_usd: the next model call could cost ${least:.4f} (~{prompt_tokens:,} prompt tokens), "
            f"more than the ${max(room_usd, 0.0):.4f} left"
        )
    if prices.output > 0:
        allowed = int((room_usd - prompt_cost) * 1_000_000 / prices.output)
        if allowed < wanted:
            return request.model_copy(update={"max_tokens": allowed})
    return request


class WrappedModel:
    """A model that wraps the run's client: what it is (profile, name, prices) is the client's,
    and closing it leaves the client to the agent that owns it."""

    inner: Model

    @property
    def profile(self) -> ProviderProfile:
        return self.inner.profile

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def prices(self) -> Prices:
        return prices_of(self.inner)

    async def aclose(self) -> None:  # the run's client is closed by its agent
        return None


class ChargedModel(WrappedModel):
    """A model for the calls a run makes outside its turns (report, aggregation): every request
    asks for what the window leaves after its prompt (at most the run's ``max_tokens``), is
    fitted to the cost left, and the spending is summed so it can be charged to the run
    (:class:`~agentkit.store.events.UsageCharged`)."""

    def __init__(self, inner: Model, *, max_tokens: int | None, room_usd: float | None, window: int) -> None:
        self.inner, self.room_usd, self.window = inner, room_usd, window
        self.max_tokens = max_tokens or inner.profile.default_max_tokens
        self.usage, self.cost_usd = Usage(), 0.0

    async def complete(self, request: ModelRequest, *, on_delta: DeltaHandler | None = None) -> AssistantTurn:
        prompt_tokens = estimate_prompt_tokens(request)
        cap = min(request.max_tokens or self.max_tokens, self.max_tokens)
        request = request.model_copy(update={"max_tokens": answer_room(self.window, prompt_tokens, cap)})
        room = None if self.room_usd is None else self.room_usd - self.cost_usd
        request = fit_to_budget(request, self.inner, room, prompt_tokens)
        turn = await self.inner.complete(request, on_delta=on_delta)
        self.usage, self.cost_usd = self.usage + turn.usage, self.cost_usd + turn.cost_usd
        return turn


def estimate_prompt_tokens(request: ModelRequest) -> int:
    """The context's uncalibrated (cautious) estimate of a request built outside the loop's view."""
    n_bytes = len(orjson.dumps(request.messages)) + (len(orjson.dumps(request.tools)) if request.tools else 0)
    return TokenEstimator().estimate(n_bytes, len(request.messages))


def with_estimated_usage(turn: AssistantTurn, prompt_tokens: int, prices: Prices) -> AssistantTurn:
    """``turn`` counted locally (~3 bytes per token) for a server that sent no usage, and priced."""
    produced = turn.content + turn.reasoning + "".join(c.arguments for c in turn.tool_calls)
    usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=len(produced.encode()) // 3 + 1, calls=1)
    return turn.model_copy(
        update={"usage": usage, "cost_usd": prices.cost(usage.prompt_tokens, 0, usage.completion_tokens)}
    )
