"""What a span may say in words: (opt-in) messages in the GenAI conventions' JSON shapes
(``gen_ai.input.messages``, ``gen_ai.output.messages``), masked by :class:`agentkit._redact.Redactor`
before they go on a span."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentkit.store.events import ToolResultEvent, UserMessage
from agentkit.vocabulary import AssistantTurn, ToolCall


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _arguments(call: ToolCall) -> Any:
    return call.parsed if call.parsed is not None else call.arguments


def output_messages(turn: AssistantTurn) -> list[dict[str, Any]]:
    """A model turn as ``gen_ai.output.messages`` (one choice)."""
    parts: list[dict[str, Any]] = []
    if turn.reasoning:
        parts.append({"type": "reasoning", "content": turn.reasoning})
    if turn.content:
        parts.append(_text(turn.content))
    for call in turn.tool_calls:
        parts.append({"type": "tool_call", "id": call.id, "name": call.name, "arguments": _arguments(call)})
    return [{"role": "assistant", "parts": parts, "finish_reason": turn.finish_reason or "stop"}]


def user_messages(task: str | None, notices: Iterable[UserMessage]) -> list[dict[str, Any]]:
    out = [{"role": "user", "parts": [_text(task)]}] if task is not None else []
    out += [{"role": "user", "parts": [_text(n.text)]} for n in notices]
    return out


def tool_messages(results: Iterable[ToolResultEvent]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": r.call_id, "response": r.text}]}
        for r in results
    ]


def tool_arguments(call: ToolCall | None) -> Any:
    return _arguments(call) if call is not None else None
