"""The shared vocabulary: what a model turn is made of (messages, tool calls, usage, the
assembled turn). Every layer speaks it; the store keeps it in its trace events.

A bottom module: it imports nothing of agentkit (``tests/test_layering.py`` checks), so the
store can hold model turns without knowing the model client, and the client can build them
without knowing the store.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
        # sums of validated counts: nothing to validate again (the fold adds at every commit)
        return Usage.model_construct(
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
    response_id: str | None = None
    """The provider's id of the response (``chatcmpl-…``), when it sent one (telemetry:
    ``gen_ai.response.id``)."""
    request: dict[str, Any] | None = None
    """The settings the request was sent with, as the client put them in its body: every field
    but the messages, the tool schemas (``tools`` holds their names) and the stream options
    (``model``, ``temperature``, ``max_tokens`` or ``max_completion_tokens``, ``thinking``,
    ``reasoning_effort``, ``seed``...: whatever was sent). ``None``: nothing was recorded (a
    scripted model sends no request). Kept with the turn so its span says what was sent, also
    when it is made later by another process (telemetry's ``gen_ai.request.*``)."""


class ImageRef(BaseModel):
    """An image kept in the store as a blob (by content hash): what events hold instead of
    the bytes. ``width`` and ``height`` are of the stored (downscaled) image."""

    model_config = ConfigDict(frozen=True)

    key: str
    mime_type: str = "image/png"
    width: int
    height: int
    label: str = ""
    """Where it came from (a file name, a URL, a figure's path), for messages."""


class VideoRef(BaseModel):
    """A video kept in the store as a blob (by content hash), its original bytes unchanged:
    what events hold instead of the bytes. The numbers are what probing it found; they feed
    the token estimate (:func:`agentkit.context.videos.video_tokens`)."""

    model_config = ConfigDict(frozen=True)

    key: str
    mime_type: str = "video/mp4"
    width: int
    height: int
    duration_s: float
    fps: float
    """Average frame rate of its video stream."""
    codec: str = ""
    """The video stream's codec (FFmpeg's name: ``h264``, ``vp9``...)."""
    size: int = 0
    """Bytes."""
    label: str = ""
    """Where it came from (a file name, a URL), for messages."""


__all__ = ["AssistantTurn", "ImageRef", "Message", "ToolCall", "Usage", "VideoRef"]
