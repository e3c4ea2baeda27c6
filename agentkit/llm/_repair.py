"""Repair what engines get wrong: leaked special tokens, tool calls in text, broken JSON."""

from __future__ import annotations

import re
from typing import Any

import orjson
from json_repair import repair_json

from agentkit.llm.types import ToolCall

# K2 / ChatML style control tokens that some engines leak into text.
_SPECIAL_TOKEN = re.compile(r"<\|[a-z_]{2,40}\|>|</?think>")
_K2_SECTION = re.compile(r"<\|tool_calls_section_begin\|>(.*?)(?:<\|tool_calls_section_end\|>|$)", re.S)
_K2_CALL = re.compile(
    r"<\|tool_call_begin\|>\s*(?P<id>[\w.\-]+(?::\d+)?)\s*"
    r"<\|tool_call_argument_begin\|>\s*(?P<args>.*?)\s*<\|tool_call_end\|>",
    re.S,
)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


TRUNCATED_ARGUMENTS = (
    "the arguments were cut off: the reply reached its output token limit (finish_reason: length) "
    "while this call was being written, so it was not run; call the tool again with complete, "
    "shorter arguments"
)


def strip_special_tokens(text: str) -> str:
    return _SPECIAL_TOKEN.sub("", text)


def extract_text_tool_calls(content: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Find K2 tool-call sections leaked into ``content``.

    Returns the content without them and a list of ``(id, name, arguments)``.
    """
    if "<|tool_call" not in content:
        return content, []
    calls: list[tuple[str, str, str]] = []
    for section in _K2_SECTION.finditer(content):
        for m in _K2_CALL.finditer(section.group(1)):
            raw_id = m.group("id")
            name = raw_id.split(":", 1)[0].removeprefix("functions.")
            calls.append((raw_id, name, m.group("args")))
    return _K2_SECTION.sub("", content).strip(), calls


def parse_arguments(raw: str, *, truncated: bool = False) -> tuple[dict[str, Any] | None, str | None, bool]:
    """Parse tool-call arguments. Returns ``(parsed, error, repaired)``.

    Safe repairs only: leaked tokens, code fences, trailing commas, quotes. Text that was cut
    off (``truncated``: the output stopped at ``max_tokens`` while it was being written, or it
    is not closed) is reported rather than parsed or guessed at, even when what arrived happens
    to be valid JSON, because a half-written argument such as code must never run.
    """
    if truncated:
        return None, TRUNCATED_ARGUMENTS, False
    text = raw.strip()
    if not text:
        return {}, None, False
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        first_error = str(exc)
    else:
        if isinstance(value, dict):
            return value, None, False
        return None, f"arguments must be a JSON object, got {type(value).__name__}", False
    cleaned = strip_special_tokens(text).strip()
    fence = _FENCE.match(cleaned)
    if fence:
        cleaned = fence.group(1).strip()
    if not cleaned.endswith("}"):
        return None, f"arguments are not valid JSON (cut off?): {first_error}", False
    try:
        repaired = repair_json(cleaned, return_objects=True, skip_json_loads=False)
    except Exception as exc:  # json_repair is total in practice; stay safe anyway
        return None, f"arguments are not valid JSON: {first_error} ({exc})", False
    if isinstance(repaired, dict) and repaired:
        return repaired, None, True
    return None, f"arguments are not valid JSON: {first_error}", False


def make_tool_call(call_id: str, name: str, raw: str, *, truncated: bool = False) -> ToolCall:
    parsed, error, repaired = parse_arguments(raw, truncated=truncated)
    return ToolCall(
        id=call_id,
        name=strip_special_tokens(name).strip(),
        arguments=raw,
        parsed=parsed,
        parse_error=error,
        repaired=repaired,
    )
