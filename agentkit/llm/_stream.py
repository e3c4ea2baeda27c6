"""Assemble streamed (or whole) chat-completion chunks into one :class:`AssistantTurn`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentkit.llm._repair import extract_text_tool_calls, make_tool_call, strip_special_tokens
from agentkit.llm.types import AssistantTurn, StreamDelta, ToolCall, Usage

REASONING_KEYS = ("reasoning_content", "reasoning")


def read_usage(raw: Any) -> Usage | None:
    """Usage from either place providers put cached tokens (top level or prompt details)."""
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details") or {}
    cached = raw.get("cached_tokens")
    if cached is None and isinstance(details, dict):
        cached = details.get("cached_tokens")
    out_details = raw.get("completion_tokens_details") or {}
    reasoning = out_details.get("reasoning_tokens") if isinstance(out_details, dict) else None
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(cached or 0),
        reasoning_tokens=int(reasoning or 0),
        calls=1,
    )


def _reasoning_of(obj: dict[str, Any]) -> str:
    for key in REASONING_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    args: list[str] = field(default_factory=list)


@dataclass
class StreamAssembler:
    """Fold chunks into a turn; ``feed`` returns the deltas worth showing live."""

    reasoning: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str = ""

    def feed(self, chunk: dict[str, Any]) -> list[StreamDelta]:
        deltas: list[StreamDelta] = []
        usage = read_usage(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        if not self.model and isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = _reasoning_of(delta)
            if text:
                self.reasoning.append(text)
                deltas.append(StreamDelta(kind="reasoning", text=text))
            piece = delta.get("content")
            if isinstance(piece, str) and piece:
                self.content.append(piece)
                deltas.append(StreamDelta(kind="content", text=piece))
            for position, tc in enumerate(delta.get("tool_calls") or ()):
                index = tc.get("index", position)
                slot = self.calls.setdefault(index, _PartialCall())
                if tc.get("id"):
                    slot.id = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name") and not slot.name:
                    slot.name = fn["name"]
                    deltas.append(StreamDelta(kind="tool_call", tool_name=slot.name))
                if fn.get("arguments"):
                    slot.args.append(fn["arguments"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            usage = read_usage(choice.get("usage"))  # Moonshot puts usage in the last choice
            if usage is not None:
                self.usage = usage
        return deltas

    def feed_message(self, response: dict[str, Any]) -> None:
        """Non-streaming: take a whole ``chat.completion`` object."""
        usage = read_usage(response.get("usage"))
        if usage is not None:
            self.usage = usage
        self.model = response.get("model") or self.model
        choices = response.get("choices") or []
        if not choices:
            return
        choice = choices[0]
        message = choice.get("message") or {}
        self.reasoning.append(_reasoning_of(message))
        self.content.append(message.get("content") or "")
        for index, tc in enumerate(message.get("tool_calls") or ()):
            fn = tc.get("function") or {}
            self.calls[index] = _PartialCall(
                id=tc.get("id") or "", name=fn.get("name") or "", args=[fn.get("arguments") or ""]
            )
        self.finish_reason = choice.get("finish_reason")

    def finish(self) -> AssistantTurn:
        content = "".join(self.content)
        truncated = self.finish_reason == "length"
        calls: list[ToolCall] = [
            make_tool_call(slot.id, slot.name, "".join(slot.args), truncated=truncated)
            for _, slot in sorted(self.calls.items())
        ]
        if not calls:
            content, leaked = extract_text_tool_calls(content)
            calls = [make_tool_call(cid, name, args) for cid, name, args in leaked]
        return AssistantTurn(
            content=strip_special_tokens(content).strip(),
            reasoning=strip_special_tokens("".join(self.reasoning)),
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self.usage or Usage(calls=1),
            model=self.model,
        )


def assign_tool_call_ids(turn: AssistantTurn, style: str, first_index: int) -> AssistantTurn:
    """Give every call an id in the profile's style (``kimi``: ``functions.NAME:IDX``)."""
    fixed: list[ToolCall] = []
    seen: set[str] = set()
    changed = False
    for offset, call in enumerate(turn.tool_calls):
        index = first_index + offset
        if style == "kimi":
            new_id = f"functions.{call.name}:{index}"
        else:
            new_id = call.id if call.id and call.id not in seen else f"{call.name}:{index}"
        seen.add(new_id)
        changed |= new_id != call.id
        fixed.append(call.model_copy(update={"id": new_id}) if new_id != call.id else call)
    return turn.model_copy(update={"tool_calls": fixed}) if changed else turn
