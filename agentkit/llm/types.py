"""Data that crosses the model-client boundary: requests, stream deltas, the Model protocol.

The turn vocabulary (:class:`AssistantTurn`, :class:`ToolCall`, :class:`Usage`, ``Message``)
lives in :mod:`agentkit.vocabulary`, below the store; it is re-exported here, the name the public API has always used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agentkit.llm.profiles import ProviderProfile
from agentkit.vocabulary import AssistantTurn, Message, ToolCall, Usage


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
    cache_key: str | None = None
    """Sent as ``prompt_cache_key`` where the host takes it: the run id, the same on every call of
    a run and after a resume (the Kimi platform's advice for agents)."""


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


__all__ = [
    "AssistantTurn",
    "DeltaHandler",
    "DeltaKind",
    "Message",
    "Model",
    "ModelRequest",
    "StreamDelta",
    "ToolCall",
    "Usage",
]
