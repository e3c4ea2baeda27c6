"""The messages of a model call, read two ways to compare them: from the request the fake
provider received (chat-completions format), and from a chat span's
``gen_ai.input.messages`` (the GenAI conventions' shapes, the system message first).
Each message becomes (role, text, reasoning, tool calls, the call it answers)."""

from __future__ import annotations

import json
from typing import Any

Seen = tuple[str, str, str, tuple[tuple[Any, ...], ...], str | None]


def sent(messages: list[dict[str, Any]]) -> list[Seen]:
    out: list[Seen] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            text = content
        else:
            text = "".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
        reasoning = m.get("reasoning_content") or m.get("reasoning") or ""
        calls = tuple(
            (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in m.get("tool_calls") or []
        )
        out.append((m["role"], text, reasoning, calls, m.get("tool_call_id")))
    return out


def recorded(attributes: Any) -> list[Seen]:
    # a chat-completions call carries its instructions in the history: the conventions record
    # them in gen_ai.input.messages (a system message), never in gen_ai.system_instructions
    assert "gen_ai.system_instructions" not in attributes
    out: list[Seen] = []
    for m in json.loads(attributes["gen_ai.input.messages"]):
        parts = m["parts"]
        if m["role"] == "tool":
            (part,) = parts
            assert part["type"] == "tool_call_response"
            out.append(("tool", part["response"], "", (), part["id"]))
            continue
        text = "".join(p["content"] for p in parts if p["type"] == "text")
        reasoning = "".join(p["content"] for p in parts if p["type"] == "reasoning")
        calls = tuple((p["id"], p["name"], p["arguments"]) for p in parts if p["type"] == "tool_call")
        out.append((m["role"], text, reasoning, calls, None))
    return out
