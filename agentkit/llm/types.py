"""Data that crosses the model-client boundary: requests, stream deltas, the Model protocol.

The turn vocabulary (:class:`AssistantTurn`, :class:`ToolCall`, :class:`Usage`, ``Message``)
lives in :mod:`agentkit.vocabulary`, below the store; it is re-exported here, the name the public API has always used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agentkit.llm.profiles import ProviderProfile
from agentkit.vocabulary import AssistantTurn, Message, ToolCall, Usage


class ResponseSchema(BaseModel):
    """The JSON schema a request's answer must match (a run's output type or ``output.schema``).

    The client sends it as ``response_format: {"type": "json_schema", ...}`` where the host and
    the model take it (the schema rewritten into MFJS for the Kimi API), and leaves it out
    elsewhere: the caller checks the answer either way (:mod:`agentkit.run._output`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    """``json_schema.name`` (letters, digits, ``_`` and ``-``, at most 64)."""
    json_schema: dict[str, Any]


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
    response_schema: ResponseSchema | None = None
    """The answer of this request must match this schema (sent only on the turns meant to give
    the final answer: see :mod:`agentkit.run._output`)."""


_NOT_SETTINGS = frozenset({"messages", "tools", "stream_options"})


def sent_settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a chat-completions ``body`` asked besides its messages, for
    :attr:`AssistantTurn.request`: every field as sent (whichever the model's rules kept), the
    tools by name, without the messages and the stream options."""
    settings = {k: v for k, v in body.items() if k not in _NOT_SETTINGS}
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        settings["tools"] = [_tool_name(t) for t in tools if isinstance(t, dict)]
    return settings


def _tool_name(schema: dict[str, Any]) -> str:
    function = schema.get("function")
    name = function.get("name") if isinstance(function, dict) else schema.get("name")
    return str(name or schema.get("type") or "")


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
    "ResponseSchema",
    "StreamDelta",
    "ToolCall",
    "Usage",
    "sent_settings",
]
