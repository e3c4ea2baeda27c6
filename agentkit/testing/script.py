"""Scripted model turns and injected faults, shared by ScriptedModel and FakeProvider."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from agentkit.testing._wire import MISSING_REASONING


@dataclass
class FakeToolCall:
    """A tool call the scripted model makes. ``arguments`` may be raw text (to test repair)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return orjson.dumps(self.arguments).decode()


def call(name: str, /, **arguments: Any) -> FakeToolCall:
    """Shorthand: ``call("web_search", query="x")``."""
    return FakeToolCall(name=name, arguments=arguments)


@dataclass
class Turn:
    """One scripted assistant turn."""

    content: str = ""
    reasoning: str = "Let me think about the next step."
    tool_calls: list[FakeToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    """Default: ``tool_calls`` when there are calls, else ``stop``."""
    completion_tokens: int | None = None


@dataclass
class Fault:
    """Base of injected failures; a fault consumes one request, not a turn."""


@dataclass
class RateLimited(Fault):
    """HTTP 429 as Moonshot sends it. ``kind``: ``rate_limit`` (``rate_limit_reached_error``),
    ``overloaded`` (``engine_overloaded_error``) or ``quota`` (``exceeded_current_quota_error``,
    insufficient balance). ``retry_after`` (seconds) is sent as ``Retry-After`` and
    ``retry-after-ms``; ``None`` sends neither (Moonshot's overloaded answer has none)."""

    retry_after: float | None = 0.05
    kind: Literal["rate_limit", "overloaded", "quota"] = "rate_limit"


@dataclass
class ServerError(Fault):
    status: int = 500
    message: str = "internal server error"


@dataclass
class HttpError(Fault):
    """A non-retryable error answer (400, 401, 404...): Moonshot's envelope around ``message``,
    or ``body`` verbatim when given (another server's shape)."""

    status: int = 400
    message: str = "bad request"
    body: dict[str, Any] | None = None


@dataclass
class DropStream(Fault):
    """Send ``after_events`` SSE events of the next turn, then cut the connection."""

    after_events: int = 2


@dataclass
class TruncateStream(Fault):
    """Send ``after_events`` events and end the body cleanly without a finish or ``[DONE]``."""

    after_events: int = 2


@dataclass
class StreamError(Fault):
    """A 200 stream that ends in an ``error`` chunk, as OpenRouter sends when the upstream stops
    (``Token limit reached``): ``after_events`` events of the next turn (``None``: all its text
    and calls), a ``finish_reason: length`` chunk when ``after_length``, the error chunk, then
    ``[DONE]``. The turn is served whole to the next request."""

    message: str = "Token limit reached"
    code: int = 400
    after_events: int | None = None
    after_length: bool = True


@dataclass
class EmptyStream(Fault):
    """HTTP 200 with an empty body to a streaming request, as llama.cpp servers answer when a
    request fails. ``then`` (e.g. an :class:`HttpError` with the server's real error body) is
    served to the next request, which a client falls back to without streaming; ``None``: the
    next script item. A non-streaming request that draws this fault gets ``then`` at once."""

    then: Fault | None = None


@dataclass
class Delay(Fault):
    """Add latency to the next request (the turn is still served)."""

    seconds: float = 0.1


ScriptItem = Turn | Fault


@dataclass
class FakeRequest:
    """A request as the scripted model saw it."""

    index: int
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        msgs: list[dict[str, Any]] = self.body.get("messages", [])
        return msgs

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = self.body.get("tools") or []
        return tools

    @property
    def max_output(self) -> int | None:
        """The output cap asked for: ``max_completion_tokens`` (K2.6 and later), else ``max_tokens``."""
        for key in ("max_completion_tokens", "max_tokens"):
            value = self.body.get(key)
            if isinstance(value, int):
                return value
        return None

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools]

    def last_tool_results(self) -> list[str]:
        """Contents of the tool messages after the last assistant message."""
        out: list[str] = []
        for m in reversed(self.messages):
            if m.get("role") == "tool":
                out.append(str(m.get("content", "")))
            else:
                break
        return list(reversed(out))

    def text(self) -> str:
        """All message text, for assertions like ``"note" in req.text()``."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)


Responder = Callable[[FakeRequest], ScriptItem]


class Script:
    """A sequence of items, or a responder function called per request."""

    def __init__(self, script: Sequence[ScriptItem] | Responder) -> None:
        self._items = list(script) if not callable(script) else None
        self._responder = script if callable(script) else None
        self._pos = 0
        self._replay: ScriptItem | None = None

    def next(self, request: FakeRequest) -> ScriptItem:
        if self._replay is not None:
            item, self._replay = self._replay, None
            return item
        if self._responder is not None:
            return self._responder(request)
        assert self._items is not None
        if self._pos >= len(self._items):
            return HttpError(400, f"scripted model exhausted: the script has {len(self._items)} items")
        item = self._items[self._pos]
        self._pos += 1
        return item

    def put_back(self, item: ScriptItem) -> None:
        """Serve ``item`` again on the next request (after a cut stream)."""
        self._replay = item

    @property
    def remaining(self) -> int:
        return 0 if self._items is None else len(self._items) - self._pos


_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """The fake provider's tokenizer, close to BPE counts for English and JSON: one token per
    punctuation mark and per started group of four characters of a word."""
    return sum((len(piece) + 3) // 4 for piece in _TOKEN.findall(text))


def validate_messages(messages: list[dict[str, Any]], reasoning_field: str | None) -> str | None:
    """The checks Moonshot makes; returns the error message or ``None``."""
    pending: dict[str, int] = {}
    answered: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role")
        if role == "assistant" and m.get("tool_calls"):
            if pending:
                return _unanswered(pending)
            if reasoning_field and not m.get(reasoning_field):
                return MISSING_REASONING.format(field=reasoning_field, index=i)
            for tc in m["tool_calls"]:
                pending[tc["id"]] = i
        elif role == "tool":
            tid = m.get("tool_call_id")
            if tid not in pending:
                if tid in answered:
                    return f"duplicate tool message for tool_call_id {tid!r} at index {i}"
                return f"tool_call_id {tid!r} at index {i} is not found"
            del pending[tid]
            answered.add(tid)
        elif pending:
            return _unanswered(pending)
    return _unanswered(pending) if pending else None


def check_latest_reasoning(
    messages: list[dict[str, Any]], reasoning_field: str | None, produced: dict[str, str]
) -> str | None:
    """The latest assistant tool-call turn must carry back, verbatim, the reasoning the model
    produced for it (``produced``: tool_call id -> reasoning). Older turns may be elided."""
    if not reasoning_field:
        return None
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") != "assistant" or not m.get("tool_calls"):
            continue
        ids = [tc.get("id") for tc in m["tool_calls"]]
        expected = next((produced[tid] for tid in ids if tid in produced), None)
        if expected is None or m.get(reasoning_field) == expected:
            return None
        if not m.get(reasoning_field):
            return MISSING_REASONING.format(field=reasoning_field, index=i)
        return (
            f"{reasoning_field} of the latest assistant tool call message (index {i}) is not the reasoning the "
            "model produced for it (FakeProvider strict check: losing it mid-episode makes real models start over)"
        )
    return None


def _unanswered(pending: dict[str, int]) -> str:
    return (
        "an assistant message with 'tool_calls' must be followed by tool messages "
        f"responding to each 'tool_call_id'. missing: {', '.join(sorted(pending))}"
    )
