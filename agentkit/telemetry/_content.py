"""What a span may say in words: credentials masked in every string, and (opt-in) messages in
the GenAI conventions' JSON shapes (``gen_ai.input.messages``, ``gen_ai.output.messages``)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from agentkit._redact import MASK, SECRET_NAME, redact_url
from agentkit.store.events import ToolResultEvent, UserMessage
from agentkit.vocabulary import AssistantTurn, ToolCall

_MIN_SECRET = 8
"""Shorter values of secret-named variables are not masked (``1``, ``true``, ``none``)."""
_PATTERNS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    # (cheap hints, any of which must be in the lowercased text for the pattern to be tried; pattern)
    # Authorization: Bearer x / Proxy-Authorization: Basic y / "authorization": "..."
    (("authorization",), re.compile(r"(?i)(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)([^\r\n\"']+)")),
    (("bearer",), re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{6,})")),
    # api_key=..., "token": "...", password: ...
    (
        ("key", "token", "secret", "passw"),
        re.compile(
            r"(?i)(\b[\w-]*(?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|passwd)[\"']?\s*[:=]\s*[\"']?)"
            r"([^\s\"',;&}]{4,})"
        ),
    ),
    # well-known key shapes: OpenAI/OpenRouter/Anthropic/Moonshot sk-..., Google, GitHub, Hugging Face, Slack
    (
        ("sk-", "aiza", "gh", "hf_", "xox"),
        re.compile(
            r"()\b(sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|hf_[A-Za-z0-9]{30,}"
            r"|xox[abposr]-[A-Za-z0-9-]{10,})"
        ),
    ),
]
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")


class Scrubber:
    """Masks credentials in text: the values of secret-named environment variables (API keys
    live there), ``secrets`` given, Authorization headers and bearer tokens, secret-looking
    ``name=value`` pairs and well-known key shapes, and credentials inside URLs."""

    def __init__(self, secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        values = {v.strip() for k, v in env.items() if SECRET_NAME.search(k) and len(v.strip()) >= _MIN_SECRET}
        values.update(s for s in secrets if len(s) >= _MIN_SECRET)
        ordered = sorted(values, key=len, reverse=True)  # a key inside a longer value: the longer first
        self._values = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        lowered = text.lower()
        for hints, pattern in _PATTERNS:
            if any(h in lowered for h in hints):
                text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return _URL.sub(_url, text) if "://" in text else text

    def json(self, value: Any) -> str:
        """``value`` as a JSON string (how structured content goes on a span), scrubbed."""
        return self(orjson.dumps(value, default=str).decode())


def _url(match: re.Match[str]) -> str:
    url = match.group(0)
    try:
        parts = urlsplit(url)
        secret_query = any(SECRET_NAME.search(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    except ValueError:
        return url
    return redact_url(url) if "@" in parts.netloc or secret_query else url


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
