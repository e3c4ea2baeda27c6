"""Response bodies the fake provider sends, shaped after recorded real traffic.

Every text and shape here is taken from tests/fixtures/recorded/ (tests/llm/test_fake_agrees.py
compares them): Moonshot's error envelope and wording, vLLM's and SGLang's ``object: error``
bodies, llama.cpp's ``exceed_context_size_error``, OpenRouter's ``error`` chunk inside a 200
stream, and the usage blocks of Moonshot (usage inside the last choice, ``cached_tokens`` at its
top level) and of OpenAI-style servers (a usage chunk, ``prompt_tokens_details.cached_tokens``).
"""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson

ErrorStyle = Literal["moonshot", "vllm", "sglang", "llamacpp"]
UsageStyle = Literal["moonshot", "openai"]

MISSING_REASONING = "thinking is enabled but {field} is missing in assistant tool call message at index {index}"
"""Moonshot's 400 text (moonshot/missing_reasoning_400)."""

RATE_LIMITED = (
    "Your account org-fakeprovider<ak-fakeprovider> request reached organization max RPM: 3, "
    "please try again after {seconds:g} seconds"
)
"""Moonshot's 429 text (moonshot/rate_limit_429), with placeholder account ids."""

OVERLOADED = "The engine is currently overloaded, please try again later"
"""Moonshot's 429 text (moonshot/engine_overloaded_429), sent without Retry-After."""

QUOTA = (
    "Your account org-fakeprovider <ak-fakeprovider> is suspended due to insufficient balance, "
    "please recharge your account or check your plan and billing details"
)
"""Moonshot's 429 text (moonshot/quota_429), with placeholder account ids."""

ERROR_TYPES = {
    "rate_limit": "rate_limit_reached_error",
    "overloaded": "engine_overloaded_error",
    "quota": "exceeded_current_quota_error",
}


def error_body(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    """Moonshot's envelope: ``{"error": {"message": ..., "type": ...}}``."""
    return {"error": {"message": message, "type": kind}}


def overflow_exceeded(style: ErrorStyle, window: int, prompt: int, max_tokens: int) -> bool:
    """Whether the server would refuse: llama.cpp compares the prompt with its context, the
    others the prompt plus the requested output."""
    if style == "llamacpp":
        return prompt > window
    return prompt + max_tokens > window


def overflow_body(style: ErrorStyle, window: int, prompt: int, max_tokens: int) -> dict[str, Any]:
    """The 400 body a server of ``style`` answers when a request does not fit its window."""
    requested = prompt + max_tokens
    if style == "moonshot":
        text = f"Invalid request: Your request exceeded model token limit: {window} (requested: {requested})"
        return error_body(text)
    if style == "vllm":
        text = (
            f"This model's maximum context length is {window} tokens. However, you requested {requested} tokens "
            f"({prompt} in the messages, {max_tokens} in the completion). "
            "Please reduce the length of the messages or completion."
        )
        return {"object": "error", "message": text, "type": "BadRequestError", "param": None, "code": 400}
    if style == "sglang":
        text = f"The input ({prompt} tokens) is longer than the model's context length ({window} tokens)."
        return {"object": "error", "message": text, "type": "BadRequestError", "param": None, "code": 400}
    return {
        "error": {
            "code": 400,
            "message": "the request exceeds the available context size. try increasing the context size or "
            "enable context shift",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": prompt,
            "n_ctx": window,
        }
    }


def usage_block(style: UsageStyle, prompt: int, cached: int, completion: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if style == "moonshot":
        usage["cached_tokens"] = cached
    else:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage


def models_listing(model: str, window: int) -> dict[str, Any]:
    """vLLM's ``GET /v1/models`` answer, with the window as ``max_model_len``."""
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {
                "id": model,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": model,
                "parent": None,
                "max_model_len": window,
                "permission": [],
            }
        ],
    }


def chunk_base(request_id: str, model: str) -> dict[str, Any]:
    return {"id": request_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def stream_error_events(base: dict[str, Any], message: str, code: int, *, after_length: bool) -> list[bytes]:
    """OpenRouter's ending of a stream cut by the upstream (openrouter/stream_error_token_limit):
    optionally a chunk with ``finish_reason: length``, then a chunk whose top-level ``error``
    carries the reason (``choices`` still present, ``finish_reason`` null), then ``[DONE]``."""
    out: list[bytes] = []
    if after_length:
        choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": "length"}
        out.append(sse({**base, "choices": [{**choice, "native_finish_reason": "length", "logprobs": None}]}))
    delta = {"role": "assistant", "content": ""}
    choice = {"index": 0, "delta": delta, "finish_reason": None, "native_finish_reason": None, "logprobs": None}
    out.append(sse({**base, "error": {"code": code, "message": message}, "choices": [choice]}))
    out.append(DONE)
    return out
