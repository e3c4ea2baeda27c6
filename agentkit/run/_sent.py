"""What a turn's request asked, as the trace keeps it (:class:`~agentkit.store.events.SentRequest`):
a digest of each message, the tools, the settings. ``agentkit replay`` compares what today's code
would send with it; the loop records it with each turn.

Digests are of the messages the loop built (image parts still name their blobs, which are
content hashes) before the model client shapes them for its host (tool-call ids, the reasoning
field's name, ``max_completion_tokens``): that shaping is a function of these and the model's
configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from agentkit.llm.types import Message, ModelRequest
from agentkit.store.events import SentRequest


def digest(message: Message | Sequence[dict[str, Any]]) -> str:
    """``HASH:CHARS`` of one message (or of a list of schemas): 12 hex digits of BLAKE2b over its
    canonical JSON, and its length, to say how it differs."""
    data = orjson.dumps(message, option=orjson.OPT_SORT_KEYS)
    return f"{hashlib.blake2b(data, digest_size=6).hexdigest()}:{len(data)}"


class MessageDigests:
    """Digests of a run's requests' messages, each computed once: the context builder hands
    every request the same message objects for the turns it already showed, so only the new
    ones are encoded and hashed (hashing the whole history every step grew with the run)."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[object, str]] = {}

    def of(self, messages: Sequence[Message]) -> list[str]:
        known = self._known
        fresh: dict[int, tuple[object, str]] = {}
        out: list[str] = []
        for m in messages:
            hit = known.get(id(m))
            value = hit[1] if hit is not None and hit[0] is m else digest(m)
            fresh[id(m)] = (m, value)  # only this request's messages are kept
            out.append(value)
        self._known = fresh
        return out


def sent_request(
    request: ModelRequest,
    messages: Sequence[Message],
    previous: Sequence[str],
    previous_schemas: object,
    digests_of: MessageDigests | None = None,
) -> SentRequest:
    """The record of ``request`` (whose messages, before their image blobs were resolved, are
    ``messages``), given the digests of the previous turn's request."""
    digests = (digests_of or MessageDigests()).of(messages)
    kept = 0
    for old, new in zip(previous, digests, strict=False):
        if old != new:
            break
        kept += 1
    names = [_tool_name(t) for t in request.tools]
    return SentRequest(
        kept=kept,
        digests=digests[kept:],
        tools=names,
        tools_digest=digest(request.tools),
        schemas=None if request.tools == previous_schemas else list(request.tools),
        max_tokens=request.max_tokens,
        tool_choice=request.tool_choice,
        temperature=request.temperature,
        seed=request.seed,
    )


def sent_digests(previous: Sequence[str], sent: SentRequest) -> list[str]:
    """All the message digests of a request, from the previous request's and its record."""
    return [*previous[: sent.kept], *sent.digests]


def _tool_name(schema: dict[str, Any]) -> str:
    function = schema.get("function")
    name = function.get("name") if isinstance(function, dict) else schema.get("name")
    return str(name or "")
