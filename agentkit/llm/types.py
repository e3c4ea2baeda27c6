"""Data that crosses the model-client boundary: requests, assistant turns, usage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agentkit.llm.profiles import ProviderProfile

Message = dict[str, Any]
"""One chat message in OpenAI wire format (the framework builds these itself)."""


class ToolCall(BaseModel):
    """A tool call requested by the model.

    ``arguments`` is the raw JSON text as the model sent it; ``parsed`` is the repaired
    object, or ``None`` with ``parse_error`` set when it could not be parsed.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str
    parsed: dict[str, Any] | None = None
    parse_error: str | None = None
    repaired: bool = False


class Usage(BaseModel):
    """Token usage of one or more model calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            calls=self.calls + other.calls,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class AssistantTurn(BaseModel):
    """One assembled model response."""

    content: str = ""
    reasoning: str = ""
    reasoning_details: list[dict[str, Any]] | None = None
    """OpenRouter's typed reasoning blocks (``reasoning.text`` with ``signature``,
    ``reasoning.encrypted``, ``reasoning.summary``), kept verbatim to be sent back."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    usage_reported: bool = True
    """False when the server sent no usage (``usage`` is then empty, not measured)."""
    cost_usd: float = 0.0
    model: str = ""
    """The model the provider says it served (the requested name when it says none)."""
    attempts: int = 1


class ModelRequest(BaseModel):
    """What the loop asks of a model: a message view plus tool schemas and sampling."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    messages: list[Message]
    tools: list[dict[str, Any]] = Field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    tool_choice: Literal["auto", "none"] | None = None
    tool_call_index: int = 0
    """How many tool calls the history already holds (for ``functions.NAME:IDX`` ids)."""


DeltaKind = Literal["reasoning", "content", "tool_call", "restart"]
"""``restart``: the stream broke and the call is being retried; discard this call's deltas so far."""


class StreamDelta(BaseModel):
    """A fragment of a streaming response, for live views."""

    kind: DeltaKind
    text: str = ""
    tool_name: str | None = None
    attempt: int = 1


DeltaHandler = Callable[[StreamDelta], Awaitable[None] | None]


class Model(Protocol):
    """Anything that can answer a :class:`ModelRequest` (the real client or a script)."""

    @property
    def profile(self) -> ProviderProfile: ...

    @property
    def model_name(self) -> str: ...

    async def complete(self, request: ModelRequest, *, on_delta: DeltaHandler | None = None) -> AssistantTurn: ...

    async def aclose(self) -> None: ...
