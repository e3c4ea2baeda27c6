"""Span attributes from what the trace recorded: a request's settings as sent, token usage,
a tool call's progress reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from opentelemetry.util.types import AttributeValue

from agentkit.vocabulary import AssistantTurn, Usage

Attributes = dict[str, AttributeValue]
REQUEST_PREFIX = "agentkit.request."
"""Settings a request sent that the conventions have no attribute for (``thinking``,
``reasoning_effort``, ``tool_choice``, ``tools`` by name...): ``agentkit.request.<field>``."""
PROGRESS_MESSAGE = "agentkit.progress.message"

_NUMBERS: dict[str, tuple[str, type[int] | type[float]]] = {
    "temperature": ("gen_ai.request.temperature", float),
    "top_p": ("gen_ai.request.top_p", float),
    "top_k": ("gen_ai.request.top_k", float),
    "frequency_penalty": ("gen_ai.request.frequency_penalty", float),
    "presence_penalty": ("gen_ai.request.presence_penalty", float),
    "seed": ("gen_ai.request.seed", int),
    "max_tokens": ("gen_ai.request.max_tokens", int),
}
"""Body fields the GenAI conventions name (as OpenAI's chat-completions API spells them)."""
_OUTPUT_TYPES = {"json_schema": "json", "json_object": "json", "text": "text"}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def request_attributes(sent: Mapping[str, Any], scrub: Callable[[str], str]) -> Attributes:
    """The ``gen_ai.request.*`` attributes of a request body's settings, only those it sent
    (:attr:`agentkit.vocabulary.AssistantTurn.request`); the settings the conventions do not
    name as ``agentkit.request.<field>`` (strings masked, objects as JSON)."""
    attrs: Attributes = {}
    for key, value in sent.items():
        if key in _NUMBERS:
            name, kind = _NUMBERS[key]
            number = _number(value)
            if number is not None:
                attrs[name] = kind(number)
        elif key == "model" and isinstance(value, str) and value:
            attrs["gen_ai.request.model"] = value
        elif key == "stream":
            if value is True:
                attrs["gen_ai.request.stream"] = True
        elif key == "n" and _number(value) is not None:
            if value != 1:
                attrs["gen_ai.request.choice.count"] = int(value)
        elif key == "stop" and isinstance(value, str | list):
            stops = [value] if isinstance(value, str) else value
            attrs["gen_ai.request.stop_sequences"] = [scrub(str(s)) for s in stops]
        else:
            if key == "response_format" and isinstance(value, dict) and value.get("type") in _OUTPUT_TYPES:
                attrs["gen_ai.output.type"] = _OUTPUT_TYPES[value["type"]]
            if key == "max_completion_tokens" and _number(value) is not None and "max_tokens" not in sent:
                attrs["gen_ai.request.max_tokens"] = int(value)
            shown = _shown(value, scrub)
            if shown is not None:
                attrs[REQUEST_PREFIX + key] = shown
    return attrs


def _shown(value: Any, scrub: Callable[[str], str]) -> AttributeValue | None:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [scrub(v) for v in value]
    if value is None:
        return None
    return scrub(orjson.dumps(value, default=str).decode())


def summary_turn(detail: Mapping[str, Any]) -> AssistantTurn:
    """The context builder's summary call, from its decision's detail: usage and cost, and the
    call's model, response id and request settings where they were recorded (``call``)."""
    call = detail.get("call")
    call = call if isinstance(call, dict) else {}
    response_id, request = call.get("response_id"), call.get("request")
    return AssistantTurn(
        usage=Usage.model_validate(detail["usage"]),
        cost_usd=float(detail.get("cost_usd") or 0.0),
        model=str(call.get("model") or ""),
        response_id=response_id if isinstance(response_id, str) else None,
        request=request if isinstance(request, dict) else None,
    )


def usage_attributes(usage: Usage) -> Attributes:
    return {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cached_tokens,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning_tokens,
    }


def minus(a: Usage, b: Usage) -> Usage:
    return Usage(
        prompt_tokens=max(0, a.prompt_tokens - b.prompt_tokens),
        completion_tokens=max(0, a.completion_tokens - b.completion_tokens),
        cached_tokens=max(0, a.cached_tokens - b.cached_tokens),
        reasoning_tokens=max(0, a.reasoning_tokens - b.reasoning_tokens),
        calls=max(0, a.calls - b.calls),
    )


def progress_reports(recorded: object) -> list[tuple[float, Attributes]]:
    """A call's progress reports as the tool recorded them in its result's ``meta["progress"]``
    (``{at_s, progress, total?, message?}``): when, after the call began, and the span event's
    attributes. Anything not of that shape is skipped (a tool's meta is not trusted)."""
    out: list[tuple[float, Attributes]] = []
    for item in recorded if isinstance(recorded, list) else []:
        if not isinstance(item, dict):
            continue
        at_s, done, total = _number(item.get("at_s")), _number(item.get("progress")), _number(item.get("total"))
        if at_s is None or done is None:
            continue
        attrs: Attributes = {"agentkit.progress": done}
        if total is not None:
            attrs["agentkit.progress.total"] = total
        message = item.get("message")
        if isinstance(message, str) and message:
            attrs[PROGRESS_MESSAGE] = message[:200]
        out.append((max(0.0, at_s), attrs))
    return out
