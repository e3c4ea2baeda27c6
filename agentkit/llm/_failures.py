"""Turn what a provider sends on failure into the client's errors.

An error arrives as an HTTP status with a JSON body, or as an ``error`` object inside a 200
response: OpenRouter sends one as an SSE ``data:`` event once a model has started (the openai
SDK raises a bare ``openai.APIError`` with ``body=data["error"]`` for it, see
``openai/_streaming.py``), or as the whole body of a plain 200 response. OpenRouter forwards the
upstream provider's own answer in ``error.metadata.raw`` and names it in ``provider_name``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx2
import openai
import orjson

from agentkit.llm.errors import (
    AuthenticationFailed,
    ModelError,
    ModelNotFound,
    StreamIncomplete,
    context_overflow,
    looks_like_context_overflow,
    looks_like_model_not_found,
)

_RAW_LIMIT = 2000
_TRANSIENT_CODES = ("rate_limit", "server_error", "overloaded", "timeout", "unavailable", "internal")
_TRANSIENT_WORDS = ("rate limit", "rate-limit", "overloaded", "temporarily unavailable", "try again later")


def error_message(body: object, fallback: str) -> str:
    """The readable message of an error body, with the upstream reason when one is forwarded."""
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, str) and err:
        return err
    if not isinstance(err, dict):
        return fallback
    message = err.get("message")
    text = message if isinstance(message, str) and message else fallback
    meta = err.get("metadata")
    if isinstance(meta, dict):
        raw = meta.get("raw")
        if raw is not None and not isinstance(raw, str):
            raw = orjson.dumps(raw).decode()
        provider = meta.get("provider_name")
        upstream = f"upstream {provider}" if isinstance(provider, str) and provider else "upstream"
        if isinstance(raw, str) and raw:
            text = f"{text} ({upstream}: {raw[:_RAW_LIMIT]})"
        elif upstream != "upstream":
            text = f"{text} ({upstream})"
    return text


def _counts(body: object) -> tuple[int | None, int | None]:
    """llama.cpp puts the window and the prompt size beside its overflow message."""
    err = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None, None
    n_ctx, n_prompt = err.get("n_ctx"), err.get("n_prompt_tokens")
    return (
        n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None,
        n_prompt if isinstance(n_prompt, int) and n_prompt > 0 else None,
    )


_EXHAUSTED = ("insufficient balance", "insufficient_quota", "exceeded_current_quota", "billing", "recharge")
"""An account out of money answers 429 too (Moonshot's ``exceeded_current_quota_error``), but
waiting never helps: retrying only delays the message (MoonshotAI/kimi-cli PR #1857)."""


def status_retryable(exc: openai.APIStatusError) -> bool:
    """Rate limits and server errors are retried; an overflow or an exhausted balance is not,
    whatever its status."""
    status = exc.status_code
    if not (status in (408, 409, 429) or status >= 500):
        return False
    message = error_message(exc.body, exc.message)
    body = str(exc.body).lower()
    if any(word in body or word in message.lower() for word in _EXHAUSTED):
        return False
    return not looks_like_context_overflow(message)


def _error_code(body: object) -> object:
    err = body.get("error", body) if isinstance(body, dict) else None
    return err.get("code") if isinstance(err, dict) else None


def status_error(exc: openai.APIStatusError, provider: str, model: str = "") -> ModelError:
    """The final error for an HTTP error answer that is not retried (``model``: the id asked for)."""
    message = error_message(exc.body, exc.message)
    status = exc.status_code
    if looks_like_context_overflow(message):
        limit, requested = _counts(exc.body)
        return context_overflow(message, status=status, limit=limit, requested=requested)
    if status != 401 and looks_like_model_not_found(message, _error_code(exc.body)):
        detail = f"HTTP {status}: {message}"
        return ModelNotFound(
            f"{provider} does not serve the model {model!r} ({detail})", model=model, detail=detail, status=status
        )
    if status in (401, 403):
        return AuthenticationFailed(f"{provider} rejected the API key (HTTP {status}): {message}", status=status)
    return ModelError(f"{provider} answered HTTP {status}: {message}", status=status)


def _transient(code: Any, message: str) -> bool:
    if isinstance(code, int) and not isinstance(code, bool):
        return code in (408, 429) or code >= 500
    if isinstance(code, str):
        if code.isdigit():
            return _transient(int(code), message)
        if any(word in code.lower() for word in _TRANSIENT_CODES):
            return True
    low = message.lower()
    return any(word in low for word in _TRANSIENT_WORDS)


def body_error(err: object, provider: str, *, after_length: bool = False) -> Exception:
    """The error for an ``error`` object inside a 200 answer (stream event or whole body).

    An overflow gives :class:`ContextLengthExceeded`; a rate limit or server error (code 429 or
    5xx, or words that say so) a retryable :class:`StreamIncomplete`; anything else a final
    :class:`ModelError`.
    """
    message = error_message({"error": err}, "the provider reported an error without a message")
    if after_length:
        message += " (after finish_reason 'length': the reply reached its max_tokens)"
    code = err.get("code") if isinstance(err, dict) else None
    status = code if isinstance(code, int) and not isinstance(code, bool) else None
    if looks_like_context_overflow(message):
        limit, requested = _counts({"error": err})
        return context_overflow(message, status=status, limit=limit, requested=requested)
    if _transient(code, message):
        return StreamIncomplete(f"{provider} reported an error mid-response: {message}", status=status)
    return ModelError(f"{provider} reported an error mid-response: {message}", status=status)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps (the SDK wraps httpx2, which wraps httpcore2, which
    wraps the socket's own error), at most a few levels deep."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def connection_refused(exc: BaseException) -> bool:
    """Whether nothing listened at the address (ECONNREFUSED), as opposed to a slow or lost
    connection or a name that did not resolve."""
    return isinstance(exc, openai.APIConnectionError) and any(
        isinstance(cause, ConnectionRefusedError) for cause in _causes(exc)
    )


def name_unresolved(exc: BaseException) -> bool:
    """Whether the host name of the address did not resolve (``socket.gaierror``)."""
    return isinstance(exc, openai.APIConnectionError) and any(
        isinstance(cause, socket.gaierror) for cause in _causes(exc)
    )


def _connect_problem(exc: openai.APIConnectionError) -> str | None:
    """What kept the client from connecting, or ``None`` when it connected and lost the line."""
    causes = list(_causes(exc))
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "host name not resolved"
    if any(isinstance(c, httpx2.ConnectError | aiohttp.ClientConnectorError) for c in causes):
        return "connection failed"
    return None


_STATUS_WORDS = {408: "request timeout", 409: "conflict", 429: "rate limited"}


def retry_reason(exc: BaseException) -> str:
    """A few words for a failure that is being retried: ``429 rate limited``, ``timed out``."""
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return f"{status} {_STATUS_WORDS.get(status, 'server error' if status >= 500 else 'error')}"
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return _connect_problem(exc) or "connection lost"
    if isinstance(exc, StreamIncomplete):
        text = str(exc)
        return text if len(text) <= 80 else text[:79] + "…"
    return type(exc).__name__


def describe(exc: BaseException, url: str) -> str:
    """One line for a retryable failure, as the last attempt saw it (``url``: the endpoint)."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {error_message(exc.body, exc.message)}"
    if isinstance(exc, openai.APITimeoutError):
        return f"request to {url} timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        problem = _connect_problem(exc)
        detail = f"{type(cause).__name__ if cause else 'unknown'}: {cause or exc}"
        if problem is None:
            return f"connection to {url} lost ({detail})"
        return f"cannot connect to {url}: {problem} ({detail})"
    if isinstance(exc, StreamIncomplete):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
