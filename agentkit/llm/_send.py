"""One request to ``/chat/completions``, streamed or plain, assembled into a turn.

Bodies are posted as pre-encoded bytes over a :class:`~agentkit.llm._wire.Wire` and answers
are read as raw dicts (no SDK model validation). Whatever the provider does wrong comes out
as a client error: a retryable :class:`StreamIncomplete` (broken stream, transient error
reported mid-response, unreadable body) or a final :class:`ModelError` (an overflow, a rejected request).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import openai

from agentkit.llm._failures import body_error
from agentkit.llm._stream import StreamAssembler
from agentkit.llm._wire import Wire, json_loads
from agentkit.llm.errors import ModelError, StreamIncomplete
from agentkit.llm.types import AssistantTurn, DeltaHandler, StreamDelta


async def emit(handler: DeltaHandler, delta: StreamDelta) -> None:
    result = handler(delta)
    if inspect.isawaitable(result):
        await result


async def send_stream(
    wire: Wire,
    payload: bytes,
    headers: dict[str, str],
    provider: str,
    on_delta: DeltaHandler | None,
) -> AssistantTurn | None:
    """Stream one answer. ``None`` when the server answered 200 and then sent no event at all
    (local servers do this when the request fails): only a plain request shows why."""
    assembler = StreamAssembler()
    try:
        async with wire.stream(payload, headers) as stream:
            async for chunk in stream:
                if not isinstance(chunk, dict):
                    continue
                deltas = assembler.feed(chunk)
                if on_delta is not None:
                    for delta in deltas:
                        await emit(on_delta, delta)
    except (openai.APIStatusError, openai.APIConnectionError):
        raise
    except openai.APIError as exc:  # the SDK raises this for an ``error`` object in a 200 stream
        raise body_error(exc.body, provider, after_length=assembler.finish_reason == "length") from exc
    except json.JSONDecodeError as exc:
        raise StreamIncomplete(f"{provider} sent an event that is not JSON: {exc}") from exc
    if assembler.finish_reason is None:
        if assembler.chunks == 0:
            return None
        raise StreamIncomplete("stream ended before a finish reason")
    if assembler.finish_reason == "error":
        raise StreamIncomplete(f"{provider} ended the stream with finish_reason 'error'")
    return assembler.finish()


async def send_plain(
    wire: Wire,
    payload: bytes,
    headers: dict[str, str],
    provider: str,
    *,
    after_empty_stream: bool = False,
) -> AssistantTurn:
    """One non-streaming request. ``after_empty_stream``: this request asks why a stream came
    back empty, so an answer that says nothing either is final, not retried."""
    response = await wire.post(payload, headers)
    body = response.body
    data: Any = None
    try:
        data = json_loads(body) if body.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("error"):
        raise body_error(data["error"], provider)
    if isinstance(data, dict) and data.get("choices"):
        assembler = StreamAssembler()
        assembler.feed_message(data)
        if assembler.finish_reason == "error":
            raise StreamIncomplete(f"{provider} ended the response with finish_reason 'error'")
        return assembler.finish()
    shown = body[:300].decode("utf-8", "replace") if body.strip() else "an empty body"
    if after_empty_stream:
        raise ModelError(
            f"{provider} answered HTTP 200 with an empty stream, and with {shown} when asked without "
            "streaming: the server failed without saying why (its own log should)",
            status=response.status,
        )
    raise StreamIncomplete(f"{provider} answered HTTP {response.status} without choices: {shown}")
