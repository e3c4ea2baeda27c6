"""Test your agents offline: a scripted model and an OpenAI-compatible fake server.

- :class:`ScriptedModel` answers in-process (no HTTP): ``Agent(llm=ScriptedModel([...]))``.
- :class:`FakeProvider` is a real HTTP server on loopback that streams SSE like Moonshot,
  validates histories like the real service and injects faults; point ``base_url`` at it.

Scripts are lists of :class:`Turn` (with :func:`call` for tool calls) and faults
(:class:`RateLimited`, :class:`ServerError`, :class:`HttpError`, :class:`DropStream`,
:class:`TruncateStream`, :class:`StreamError`, :class:`EmptyStream`, :class:`Delay`), or a
function ``(FakeRequest) -> Turn | Fault``.
:class:`ReplayServer` serves :class:`Recorded` real provider responses verbatim.
"""

from agentkit.testing.fake_provider import FakeProvider
from agentkit.testing.replay import Recorded, ReplayServer
from agentkit.testing.script import (
    Delay,
    DropStream,
    EmptyStream,
    FakeRequest,
    FakeToolCall,
    Fault,
    HttpError,
    RateLimited,
    Responder,
    ServerError,
    StreamError,
    TruncateStream,
    Turn,
    call,
    count_tokens,
)
from agentkit.testing.scripted_model import ScriptedModel

__all__ = [
    "Delay",
    "DropStream",
    "EmptyStream",
    "FakeProvider",
    "FakeRequest",
    "FakeToolCall",
    "Fault",
    "HttpError",
    "RateLimited",
    "Recorded",
    "ReplayServer",
    "Responder",
    "ScriptedModel",
    "ServerError",
    "StreamError",
    "TruncateStream",
    "Turn",
    "call",
    "count_tokens",
]
