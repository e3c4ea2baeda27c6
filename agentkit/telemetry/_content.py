"""What a span may say in words (opt-in): messages in the GenAI conventions' JSON shapes
(``gen_ai.input.messages``, ``gen_ai.output.messages``; an agent's ``gen_ai.system_instructions``),
masked by :class:`agentkit._redact.Redactor` before they go on a span.

A call's input is the messages it sent, in order, as chat-completions messages (what the run
layer rebuilds from the fold), its ``system`` message first: a chat-completions request carries
its instructions in the history, and the conventions say instructions that are part of the
history are recorded in ``gen_ai.input.messages`` (``gen_ai.system_instructions`` is for APIs
that take them apart from it; here, the agent's on its ``invoke_agent`` span). Image parts
that name a stored blob (``agentkit-blob:KEY``) are ``uri`` parts: the bytes are not copied
into traces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from agentkit._redact import Redactor, mask_bytes
from agentkit.store.events import UserMessage
from agentkit.vocabulary import AssistantTurn, Message, ToolCall

REASONING_KEYS = ("reasoning_content", "reasoning")
"""Where a chat-completions assistant message carries its reasoning (Moonshot; others)."""
_MEDIA = {"image_url": "image", "video_url": "video"}


def text_part(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _arguments(call: ToolCall) -> Any:
    return call.parsed if call.parsed is not None else call.arguments


def output_messages(turn: AssistantTurn) -> list[dict[str, Any]]:
    """A model turn as ``gen_ai.output.messages`` (one choice)."""
    parts: list[dict[str, Any]] = []
    if turn.reasoning:
        parts.append({"type": "reasoning", "content": turn.reasoning})
    if turn.content:
        parts.append(text_part(turn.content))
    for call in turn.tool_calls:
        parts.append({"type": "tool_call", "id": call.id, "name": call.name, "arguments": _arguments(call)})
    return [{"role": "assistant", "parts": parts, "finish_reason": turn.finish_reason or "stop"}]


def user_messages(task: str | None, notices: Iterable[UserMessage]) -> list[dict[str, Any]]:
    out = [{"role": "user", "parts": [text_part(task)]}] if task is not None else []
    out += [{"role": "user", "parts": [text_part(n.text)]} for n in notices]
    return out


def tool_arguments(call: ToolCall | None) -> Any:
    return _arguments(call) if call is not None else None


def input_message(message: Message) -> dict[str, Any]:
    """One chat-completions message as an input message of the conventions."""
    role = str(message.get("role") or "user")
    if role == "tool":
        content = message.get("content")
        response = content if isinstance(content, str) else _joined_text(content)
        part = {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": response}
        return {"role": "tool", "parts": [part]}
    parts: list[dict[str, Any]] = []
    if role == "assistant":
        reasoning = next((v for k in REASONING_KEYS if isinstance(v := message.get(k), str) and v), None)
        if reasoning:
            parts.append({"type": "reasoning", "content": reasoning})
    parts += content_parts(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            part = {"type": "tool_call", "id": call.get("id"), "name": str(function.get("name") or "")}
            part["arguments"] = _parsed(function.get("arguments"))
            parts.append(part)
    return {"role": role, "parts": parts or [text_part("")]}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """A message's ``content`` (text, or a list of typed parts) as parts of the conventions."""
    if isinstance(content, str):
        return [text_part(content)] if content else []
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        kind = str(part.get("type") or "")
        if kind == "text":
            parts.append(text_part(str(part.get("text") or "")))
        elif kind in _MEDIA:
            holder = part.get(kind)
            url = holder.get("url") if isinstance(holder, dict) else holder
            parts.append(_media(_MEDIA[kind], str(url or "")))
        else:
            parts.append({"type": kind or "unknown"})  # a generic part: its kind, not its bytes
    return parts


def _media(modality: str, url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return {"type": "blob", "modality": modality, "mime_type": head or None, "content": data}
    return {"type": "uri", "modality": modality, "uri": url}


def _joined_text(content: Any) -> str:
    return "".join(p.get("content", "") for p in content_parts(content) if p.get("type") == "text")


def _parsed(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments


Encoded = dict[int, tuple[Message, str]]
"""Messages of a run's earlier calls, encoded: by the message object's id (the object is held,
so its id is not reused while it is here)."""


class Encoder:
    """Content as it goes on a span: JSON, masked (the registered secrets by value in their JSON
    forms, then the credential shapes :class:`Redactor` knows)."""

    def __init__(self, scrub: Redactor) -> None:
        self.scrub = scrub

    def json(self, value: Any) -> str:
        return self.scrub(mask_bytes(orjson.dumps(value, default=str)).decode())

    def inputs(self, messages: Sequence[Message], encoded: Encoded) -> str:
        """``gen_ai.input.messages`` of ``messages``, each message encoded once: the view reuses
        its message objects from call to call (only what changed is new), so a call costs the
        new messages, not the whole view again. ``encoded`` keeps those of this call only. A
        message's JSON masked alone is masked as in the whole array: no pattern runs past the
        quotes that close a message's strings."""
        parts: list[str] = []
        kept: Encoded = {}
        for message in messages:
            hit = encoded.get(id(message))
            if hit is None or hit[0] is not message:
                hit = (message, self.json(input_message(message)))
            kept[id(message)] = hit
            parts.append(hit[1])
        encoded.clear()
        encoded.update(kept)
        return "[" + ",".join(parts) + "]"
