"""What each turn of a run adds to a request, kept as running sums so that sizing a view is
O(log n) in the number of turns, whatever the cut.

The builder renders a turn (its assistant message, tool results, figures and notices) once
when it is new, and again only while it is still the latest turn and changes (its results or
a notice arrive). Every variant a cut can show is measured then, in encoded bytes: the
assistant message with its reasoning, with the reasoning elided, and without the reasoning
fields at all (what the service counts for a turn before the latest user message when it
keeps only the current turn's reasoning); the tool results shown and hidden. Prefix sums of
those sizes answer "how many bytes would this cut send, as the service counts them" for any
cut with a handful of subtractions, so neither the per-step check nor a prune walks the
whole history.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

ReasoningRetention = Literal["all", "current_turn"]
"""What the service does with the reasoning of earlier turns (a turn starts at each user
message, the ones agentkit inserts included):

- ``all``: it keeps every earlier turn's reasoning as context (Preserved Thinking: K3, K2.7
  Code, K2.6 with ``thinking.keep: "all"``); the reasoning must go back as it was, so it is
  counted in full and never elided.
- ``current_turn``: it reads only the reasoning after the latest user message and ignores the
  rest (K2.6 by default, K2.5, K2 Thinking); reasoning before that message is sent as it was
  (the request stays append-only) but not counted."""


@dataclass(frozen=True, slots=True)
class TurnSizes:
    """Encoded sizes of one turn's messages in each variant a cut can show."""

    key: tuple[int, int]
    """(results, notices) the sizes were measured with: the turn changes only through these."""
    reasoned: int
    """The assistant message with its reasoning."""
    elided: int
    """The assistant message with its reasoning elided."""
    unreasoned: int
    """The assistant message without its reasoning fields."""
    shown: int
    """Tool results as they are, and the figures message."""
    hidden: int
    """Tool results as placeholders (no figures message)."""
    notices: int
    messages_shown: int
    messages_hidden: int
    images: int
    """Estimated tokens of the figures shown (none when hidden)."""
    user_shown: bool
    """The turn's messages include a user message (a notice or its figures)."""
    user_hidden: bool
    """... when its results are hidden (a notice only)."""


class _Sums:
    """Prefix sums of one size, over turns 0..n-1."""

    __slots__ = ("cum",)

    def __init__(self) -> None:
        self.cum = [0]

    def push(self, value: int) -> None:
        self.cum.append(self.cum[-1] + value)

    def pop(self) -> None:
        self.cum.pop()

    def range(self, lo: int, hi: int) -> int:
        """Sum over turns ``lo <= i < hi`` (empty when ``hi <= lo``)."""
        return self.cum[hi] - self.cum[lo] if hi > lo else 0


@dataclass(frozen=True, slots=True)
class Span:
    """Bytes, messages and image tokens of the turns a cut shows."""

    n_bytes: int
    n_messages: int
    images: int


class Ledger:
    """The sizes of a run's turns, appended as the run goes (see the module docstring)."""

    def __init__(self) -> None:
        self.turns: list[TurnSizes] = []
        self.results: list[int] = []
        """Tool results per turn (what the policy counts)."""
        self._sums = {name: _Sums() for name in _FIELDS}
        self._results = _Sums()
        self._user_shown: list[int] = []
        self._user_hidden: list[int] = []

    def __len__(self) -> int:
        return len(self.turns)

    def push(self, sizes: TurnSizes, results: int) -> None:
        index = len(self.turns)
        self.turns.append(sizes)
        self.results.append(results)
        for name, sums in self._sums.items():
            sums.push(int(getattr(sizes, name)))
        self._results.push(results)
        if sizes.user_shown:
            self._user_shown.append(index)
        if sizes.user_hidden:
            self._user_hidden.append(index)

    def pop(self) -> None:
        index = len(self.turns) - 1
        self.turns.pop()
        self.results.pop()
        for sums in self._sums.values():
            sums.pop()
        self._results.pop()
        if self._user_shown and self._user_shown[-1] == index:
            self._user_shown.pop()
        if self._user_hidden and self._user_hidden[-1] == index:
            self._user_hidden.pop()

    def visible_results(self, hide_before: int, drop_before: int) -> int:
        n = len(self.turns)
        return self._results.range(min(max(hide_before, drop_before), n), n)

    def boundary(self, hide_before: int, drop_before: int) -> int:
        """The last turn shown with a user message after it (``drop_before - 1`` when none:
        the pinned head ends with one). The service counts no reasoning up to it under
        ``current_turn``."""
        n = len(self.turns)
        hide = min(max(hide_before, drop_before), n)
        found = drop_before - 1
        i = bisect.bisect_left(self._user_shown, n) - 1  # shown turns: [hide, n)
        if i >= 0 and self._user_shown[i] >= hide:
            return self._user_shown[i]
        j = bisect.bisect_left(self._user_hidden, hide) - 1  # hidden turns: [drop, hide)
        if j >= 0 and self._user_hidden[j] >= drop_before:
            found = self._user_hidden[j]
        return found

    def span(
        self, hide_before: int, elide_before: int, drop_before: int, retention: ReasoningRetention, elidable: bool
    ) -> Span:
        """What the turns from ``drop_before`` on add to a request under a cut, as counted."""
        n = len(self.turns)
        d = min(drop_before, n)
        h = min(max(hide_before, d), n)
        s = self._sums
        n_bytes = s["hidden"].range(d, h) + s["shown"].range(h, n) + s["notices"].range(d, n)
        n_messages = s["messages_hidden"].range(d, h) + s["messages_shown"].range(h, n)
        first_counted = d
        if retention == "current_turn":
            first_counted = self.boundary(hide_before, d) + 1
            n_bytes += s["unreasoned"].range(d, first_counted)
        e = min(max(elide_before if elidable else 0, first_counted), n)
        n_bytes += s["elided"].range(first_counted, e) + s["reasoned"].range(e, n)
        return Span(n_bytes, n_messages, s["images"].range(h, n))


_FIELDS = (
    "reasoned",
    "elided",
    "unreasoned",
    "shown",
    "hidden",
    "notices",
    "messages_shown",
    "messages_hidden",
    "images",
)

__all__ = ["Ledger", "ReasoningRetention", "Span", "TurnSizes"]
