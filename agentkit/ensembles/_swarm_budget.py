"""A swarm's cost budget: each sub-agent's share of it, and the model calls in flight.

A run checks its cost room before each model call and is charged after it. One run makes one
call at a time, so it never spends more than its room; hundreds of sub-agents calling at once
would each see the same room and could together spend it many times over (at 300 at once,
a third over the run's ``max_cost_usd`` in a test). So a sub-agent's call holds its
worst-case cost (its prompt, estimated cautiously, and every output token it may use) while
it is in flight, on its own budget and every budget above it; a call that does not fit in the
room less what is held waits for calls in flight to end, then is fitted to what is left (or
stops the sub-agent, as any call that cannot fit). With no cost limit nothing is held.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from weakref import WeakKeyDictionary

import anyio

from agentkit.llm.types import AssistantTurn, DeltaHandler, Model, ModelRequest
from agentkit.run._limits import SharedBudget, WrappedModel, estimate_prompt_tokens, fit_to_budget, prices_of


class Holds:
    """The worst-case costs of the model calls in flight that draw on one budget, and (on the
    top budget) how many calls wait for room."""

    def __init__(self) -> None:
        self.amount = 0.0
        self.calls = 0
        self.waiting = 0
        self._changed: anyio.Event | None = None

    def add(self, amount: float) -> None:
        self.amount += amount
        self.calls += 1

    def remove(self, amount: float) -> None:
        self.calls -= 1
        self.amount = self.amount - amount if self.calls else 0.0  # no float dust once none is held
        self.notify()

    def notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def changed(self) -> None:
        """Wait until a hold ends or a call stops waiting."""
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()


_ROOT_HOLDS: WeakKeyDictionary[SharedBudget, Holds] = WeakKeyDictionary()


class ShareBudget(SharedBudget):
    """A sub-agent's view of the spending: its own (``own``) and what the run above it has
    left. A run checks ``limit - spent`` (its room) against nothing but this object, so
    ``spent`` reads as ``limit - room``, where the room is the smaller of what is left of the
    sub-agent's share and what is left under the parent's limit; spending goes up the tree."""

    def __init__(
        self,
        base: SharedBudget,
        *,
        base_limit: float | None,
        share: float | None,
        limit: float | None,
        own: float = 0.0,
    ) -> None:
        self.base, self.base_limit, self.share, self.limit = base, base_limit, share, limit
        self.own = own
        self.holds = Holds()

    @property
    def spent(self) -> float:
        room = self.room()
        if self.limit is None or room is None:
            return self.own
        return self.limit - room

    @spent.setter
    def spent(self, value: float) -> None:
        self.own = value

    def room(self, *, held: bool = False) -> float | None:
        """What is left under the share and the limits above it (``held``: less what the calls
        in flight hold); None: no limit."""
        rooms = []
        if self.share is not None:
            rooms.append(self.share - self.own - (self.holds.amount if held else 0.0))
        if self.base_limit is not None:
            rooms.append(self.base_limit - spent_of(self.base, held=held))
        return min(rooms) if rooms else None

    def add(self, cost: float) -> None:
        self.own += cost
        self.base.add(cost)


def spent_of(budget: SharedBudget, *, held: bool = False) -> float:
    """What ``budget`` has spent (``held``: and what calls in flight on it hold)."""
    if isinstance(budget, ShareBudget):
        room = budget.room(held=held)
        if budget.limit is None or room is None:
            return budget.own + (budget.holds.amount if held else 0.0)
        return budget.limit - room
    return budget.spent + (holds_of(budget).amount if held else 0.0)


def holds_of(budget: SharedBudget) -> Holds:
    if isinstance(budget, ShareBudget):
        return budget.holds
    holds = _ROOT_HOLDS.get(budget)
    if holds is None:
        holds = _ROOT_HOLDS[budget] = Holds()
    return holds


def _chain(budget: SharedBudget) -> Iterator[SharedBudget]:
    """``budget`` and every budget above it, up to the run that has no parent's."""
    while True:
        yield budget
        if not isinstance(budget, ShareBudget):
            return
        budget = budget.base


def room_left(budget: SharedBudget, limit: float | None, *, held: bool = False) -> float | None:
    """Dollars left under ``limit`` for runs drawing on ``budget`` (``held``: less what calls
    in flight hold); None: no limit."""
    return None if limit is None else limit - spent_of(budget, held=held)


def hold(budget: SharedBudget, cost: float) -> None:
    """Hold ``cost`` on ``budget`` and every budget above it."""
    for b in _chain(budget):
        holds_of(b).add(cost)


def release(budget: SharedBudget, cost: float) -> None:
    for b in _chain(budget):
        holds_of(b).remove(cost)


def _top_holds(budget: SharedBudget) -> Holds:
    """The holds on the top budget above ``budget``: every hold under it is held there too."""
    *_, top = _chain(budget)
    return holds_of(top)


def holding(budget: SharedBudget) -> bool:
    """Whether anything is held on ``budget`` or a budget above it, or beside it under the same top."""
    return _top_holds(budget).calls > 0


class HeldModel(WrappedModel):
    """A sub-agent's model: each call holds its worst-case cost on the sub-agent's budget
    while it is in flight, and waits when the room less what is held cannot pay for it."""

    def __init__(self, inner: Model, budget: ShareBudget) -> None:
        self.inner: Model = inner.inner if isinstance(inner, HeldModel) else inner
        self.budget = budget
        self._start_hold = 0.0

    def hold_start(self, cost: float) -> None:
        """Hold ``cost`` (the least its first call costs) from the moment the sub-agent is
        started until that call is made: sub-agents started at once see each other."""
        self.release_start()
        self._start_hold = cost
        hold(self.budget, cost)

    def release_start(self) -> None:
        cost, self._start_hold = self._start_hold, 0.0
        if cost:
            release(self.budget, cost)

    def __getattr__(self, name: str) -> Any:  # the client's other attributes (vision, base_url, ...)
        if name == "inner" or name.startswith("__"):  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def complete(self, request: ModelRequest, *, on_delta: DeltaHandler | None = None) -> AssistantTurn:
        budget = self.budget
        self.release_start()  # a call holds nothing while it waits, so no two wait on each other
        if budget.room() is None:
            return await self.inner.complete(request, on_delta=on_delta)
        prompt = estimate_prompt_tokens(request)
        prices = prices_of(self.inner)

        def worst() -> float:
            return prices.cost(prompt, 0, request.max_tokens or self.inner.profile.default_max_tokens)

        if holding(budget) and worst() > _room(budget):
            top = _top_holds(budget)
            top.waiting += 1  # sub-agents wait to start while calls wait for room
            try:
                while holding(budget) and worst() > _room(budget):
                    await top.changed()
            finally:
                top.waiting -= 1
                top.notify()
            # spending moved while it waited: fit it to what is left, or stop the run
            request = fit_to_budget(request, self.inner, _room(budget), prompt)
        cost = worst()
        hold(budget, cost)
        try:
            return await self.inner.complete(request, on_delta=on_delta)
        finally:
            release(budget, cost)


def _room(budget: ShareBudget) -> float:
    room = budget.room(held=True)
    assert room is not None  # a budget under a limit
    return room


async def wait_for_room(budget: SharedBudget, limit: float, cost: float) -> float:
    """Wait while calls wait for room, or hold the room a first call of ``cost`` needs under
    ``limit``; the room left then (less what is still held)."""
    top = _top_holds(budget)
    while True:
        room = room_left(budget, limit, held=True)
        assert room is not None
        if not top.waiting and (cost <= room or not holding(budget)):
            return room
        await top.changed()
