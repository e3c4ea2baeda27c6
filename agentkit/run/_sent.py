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
    """Digests of a run's requests' messages, each computed once, in work that grows with what
    is new rather than with the history.

    The context builder hands every request the same message objects for the turns it already
    showed, and says how many leading messages are those of the previous request
    (``unchanged``, from :meth:`~agentkit.context.builder.ContextBuilder.unchanged`): their
    digests are the previous request's. The rest are looked up by object (after a prune, the
    turns shown as before are the same objects) or encoded and hashed."""

    def __init__(self) -> None:
        self._messages: Sequence[Message] = []
        self._digests: list[str] = []
        self._known: dict[int, tuple[object, str]] = {}
        """By ``id``: the messages of the latest request and their digests."""

    @property
    def latest(self) -> Sequence[str]:
        """The digests of the messages of the latest call."""
        return self._digests

    def of(self, messages: Sequence[Message], unchanged: int = 0) -> tuple[list[str], int]:
        """The digests of ``messages``, and how many leading ones are the previous call's
        (``unchanged``: how many leading messages the caller knows to be the previous call's
        objects; 0 when it does not know)."""
        previous = self._messages
        kept = max(0, min(unchanged, len(messages), len(previous)))
        if kept and (messages[0] is not previous[0] or messages[kept - 1] is not previous[kept - 1]):
            kept = 0  # not what the caller said: trust only what each object's digest says
        known = self._known
        if kept:
            for m in previous[kept:]:  # what the previous request had after the shared part
                known.pop(id(m), None)
            fresh = known
        else:
            fresh = {}
        digests = self._digests[:kept]
        for m in messages[kept:]:
            hit = known.get(id(m))
            value = hit[1] if hit is not None and hit[0] is m else digest(m)
            fresh[id(m)] = (m, value)  # only this request's messages are kept
            digests.append(value)
        self._messages, self._digests, self._known = messages, digests, fresh
        return list(digests), kept


def sent_request(
    request: ModelRequest,
    messages: Sequence[Message],
    previous: Sequence[str],
    previous_schemas: object,
    digests_of: MessageDigests | None = None,
    unchanged: int = 0,
) -> SentRequest:
    """The record of ``request`` (whose messages, before their image blobs were resolved, are
    ``messages``), given the digests of the previous turn's request. ``unchanged``: how many
    leading messages are the objects of the request ``digests_of`` saw last (see
    :meth:`MessageDigests.of`)."""
    digests_of = digests_of or MessageDigests()
    before = digests_of.latest
    digests, same = digests_of.of(messages, unchanged)
    # The first `same` digests are those of the request digests_of saw last: when that was the
    # previous turn's (as the fold kept it), they match `previous` without comparing each.
    kept = same if list(previous[:same]) == list(before[:same]) else 0
    for old, new in zip(previous[kept:], digests[kept:], strict=False):
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
