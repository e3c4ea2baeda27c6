"""Assemble streamed (or whole) chat-completion chunks into one :class:`AssistantTurn`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentkit._text import clean_text
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


_CONCATENATED = ("text", "summary", "data")


def merge_reasoning_details(blocks: list[dict[str, Any]], fragments: Any) -> list[str]:
    """Fold streamed ``reasoning_details`` fragments into whole blocks; returns their new text.

    OpenRouter streams a block as fragments that repeat its ``type`` and ``index``: the text
    (or summary) in pieces with ``signature: null``, the signature once, near the end. Fragments
    of one type, index and id are one block; a fragment without an index continues the previous
    ``reasoning.text`` block (as OpenRouter's own AI SDK provider merges them). Fields are kept
    as sent; only ``text``, ``summary`` and ``data`` pieces are concatenated; another field is
    filled by the first fragment that has it (Anthropic's blocks open with ``"signature": ""``
    and get it in a later fragment), and a ``null`` never erases a value.
    """
    texts: list[str] = []
    if not isinstance(fragments, list):
        return texts
    for fragment in fragments:
        if not isinstance(fragment, dict):
            continue
        for key in ("text", "summary"):
            if isinstance(fragment.get(key), str) and fragment[key]:
                texts.append(fragment[key])
        target = _block_of(blocks, fragment)
        if target is None:
            blocks.append(dict(fragment))
            continue
        for key, value in fragment.items():
            if value is None:
                continue
            current = target.get(key)
            if key in _CONCATENATED and isinstance(value, str) and isinstance(current, str):
                target[key] = current + value
            elif current is None or current == "":
                target[key] = value
    return texts


def _block_of(blocks: list[dict[str, Any]], fragment: dict[str, Any]) -> dict[str, Any] | None:
    kind, index, ident = fragment.get("type"), fragment.get("index"), fragment.get("id")

    def same(block: dict[str, Any]) -> bool:
        other = block.get("id")
        return block.get("type") == kind and (ident is None or other is None or other == ident)

    if index is None:
        last: dict[str, Any] | None = blocks[-1] if blocks else None
        if last is not None and kind == "reasoning.text" and last.get("index") is None and same(last):
            return last
        return None
    matches = [block for block in blocks if block.get("index") == index and same(block)]
    return matches[-1] if matches else None


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    args: list[str] = field(default_factory=list)


@dataclass
class StreamAssembler:
    """Fold chunks into a turn; ``feed`` returns the deltas worth showing live."""

    reasoning: list[str] = field(default_factory=list)
    reasoning_details: list[dict[str, Any]] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str = ""
    response_id: str | None = None
    """The response's ``id`` (the first chunk that has one)."""
    chunks: int = 0

    def feed(self, chunk: dict[str, Any]) -> list[StreamDelta]:
        self.chunks += 1
        deltas: list[StreamDelta] = []
        usage = read_usage(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        if not self.model and isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        if self.response_id is None and isinstance(chunk.get("id"), str) and chunk["id"]:
            self.response_id = chunk["id"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = _reasoning_of(delta)
            detail_texts = merge_reasoning_details(self.reasoning_details, delta.get("reasoning_details"))
            if not text and detail_texts:  # blocks without the plain field: their text is the reasoning
                text = "".join(detail_texts)
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
        if isinstance(response.get("id"), str) and response["id"]:
            self.response_id = response["id"]
        choices = response.get("choices") or []
        if not choices:
            return
        choice = choices[0]
        message = choice.get("message") or {}
        detail_texts = merge_reasoning_details(self.reasoning_details, message.get("reasoning_details"))
        self.reasoning.append(_reasoning_of(message) or "".join(detail_texts))
        self.content.append(message.get("content") or "")
        for index, tc in enumerate(message.get("tool_calls") or ()):
            fn = tc.get("function") or {}
            self.calls[index] = _PartialCall(
                id=tc.get("id") or "", name=fn.get("name") or "", args=[fn.get("arguments") or ""]
            )
        self.finish_reason = choice.get("finish_reason")

    def finish(self) -> AssistantTurn:
        # Text becomes valid Unicode here, where it enters: "\ud800" is valid JSON that some
        # engines send, and a lone surrogate would break every later encoding of the history.
        content = clean_text("".join(self.content))
        raw = [
            (slot.id, clean_text(slot.name), clean_text("".join(slot.args))) for _, slot in sorted(self.calls.items())
        ]
        if not raw:
            content, raw = extract_text_tool_calls(content)
        # ``length``: output stopped at max_tokens. Only the last call can have been cut off
        # (a later call had started after the others); its arguments are never run.
        cut = self.finish_reason == "length"
        calls: list[ToolCall] = [
            make_tool_call(cid, name, args, truncated=cut and i == len(raw) - 1)
            for i, (cid, name, args) in enumerate(raw)
        ]
        return AssistantTurn(
            content=strip_special_tokens(content).strip(),
            reasoning=strip_special_tokens(clean_text("".join(self.reasoning))),
            reasoning_details=self.reasoning_details or None,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self.usage or Usage(calls=1),
            usage_reported=self.usage is not None,
            model=self.model,
            response_id=self.response_id,
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
