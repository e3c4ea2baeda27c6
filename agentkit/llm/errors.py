"""Errors raised by the model client, and the retries it makes on the way. Messages are
written for the person running the agent.

``complete()`` raises only :class:`ModelError` subclasses. A context overflow is recognised
from the provider's own wording (the texts below are the real ones, with their sources), and
the window and the request size are read from it when the text states them.

Each retry is reported as a :class:`RetryNotice` to the observer set with
:func:`observing_retries` (a context variable: the client knows no loop, the caller decides
what a retry means to it, e.g. the agent turns it into a live event).
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


class ConfigurationError(ValueError):
    """The client cannot be built as configured (missing key, missing base URL, missing extra)."""


class ModelError(Exception):
    """The model call failed and will not be retried."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class ModelRetriesExhausted(ModelError):
    """Every retry in the budget failed (rate limits, server errors, dropped streams)."""


class ContextLengthExceeded(ModelError):
    """The provider rejected the request as longer than the model's context window.

    ``limit`` is the server's window and ``requested`` the size of the request (prompt plus
    requested output where the server counts it so), both in tokens, when the text says them.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        limit: int | None = None,
        requested: int | None = None,
    ) -> None:
        super().__init__(message, status=status, attempts=attempts)
        self.limit = limit
        self.requested = requested


class AuthenticationFailed(ModelError):
    """The provider rejected the API key."""


class ConnectionFailed(ModelError):
    """Nothing accepts connections at the endpoint (connection refused), or its host name does
    not resolve: a wrong ``base_url`` or a server that is down. Retried a few times within a
    second or two, not for minutes: neither is an overload that waiting cures."""


class ModelNotFound(ModelError):
    """The host does not serve the model id (a withdrawn or misspelt id, or one the key may not
    use): never retried. ``detail`` is the host's own answer; ``served`` the nearest ids it
    lists, when it lists them."""

    def __init__(
        self,
        message: str,
        *,
        model: str = "",
        detail: str = "",
        served: list[str] | None = None,
        status: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, status=status, attempts=attempts)
        self.model = model
        self.detail = detail
        self.served = served or []


class StreamIncomplete(Exception):
    """A stream broke before a finish reason, or the provider reported a transient error (retryable)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# Wording of real overflow answers. Sources: Moonshot (kimi-cli#2011), OpenAI and DeepSeek
# ("This model's maximum context length is N tokens. However, you requested M tokens ..."),
# OpenRouter ("This endpoint's maximum context length is N tokens. However, you requested about M
# tokens"), vLLM (serving: "... your request has N input tokens",
# "'max_tokens' ... is too large: X. This model's maximum context length is N tokens and your
# request has M input tokens", renderer: "... you requested X output tokens and your prompt
# contains at least M input tokens, for a total of at least T tokens", engine: "The decoder prompt
# (length M) is longer than the maximum model length of N"), llama.cpp server ("request (M tokens)
# exceeds the available context size (N tokens), try increasing it", type
# exceed_context_size_error with n_prompt_tokens/n_ctx; older "the request exceeds the available
# context size"; "input (M tokens) is larger than the max context size (N tokens)"),
# llama-cpp-python ("Requested tokens (M) exceed context window of N", rewritten by its server to
# the OpenAI text), Together ("The input (M tokens) is longer than the model's context length (N
# tokens)"; TGI-style "`inputs` tokens + `max_new_tokens` must be <= N"), Ollama ("prompt too
# long; exceeded max context length by K tokens"), Anthropic-style gateways ("prompt is too long:
# M tokens > N maximum"), Gemini ("input token count (M) exceeds the maximum number of tokens
# allowed (N)"), xAI ("maximum prompt length is N but the request contains M tokens").
# Not an overflow: OpenRouter's in-stream "Token limit reached" after finish_reason "length",
# recorded with a 43-token prompt and max_completion_tokens=10 (the output budget ran out;
# tests/fixtures/recorded/openrouter/stream_error_token_limit.sse).
_OVERFLOW = re.compile(
    "|".join(
        [
            r"exceeded model token limit",
            r"maximum context length",
            r"context[ _]length[ _]exceeded",
            r"model_context_window_exceeded",
            r"exceed_context_size_error",
            r"exceeds? (?:the )?(?:available )?context (?:size|window)",
            r"exceeds? the model'?s (?:maximum )?context",
            r"is larger than the max context size",
            r"longer than the maximum model length",
            r"longer than the model'?s context length",
            r"`inputs` tokens \+ `max_new_tokens` must be",
            r"exceeded (?:max )?context length",
            r"prompt is too long",
            r"input is too long",
            r"input token count.{0,40}exceeds the maximum",
            r"maximum prompt length is",
            r"reduce the length of the messages",
            r"too many tokens",
            r"request entity too large",
        ]
    ),
    re.IGNORECASE,
)
# A request over a per-minute token budget is a rate limit, not a window (Groq: "Request too large
# for model ... on tokens per minute (TPM): Limit 10000, Requested 21247").
_NOT_OVERFLOW = re.compile(r"rate.?limit|per minute|\bTPM\b|too many requests|throttl|quota", re.IGNORECASE)

_N = r"(\d[\d,]*)"
# (pattern, group holding the window, groups whose sum is the request size)
_COUNTS: list[tuple[re.Pattern[str], int | None, tuple[int, ...]]] = [
    (re.compile(rf"token limit:?\s*{_N}\s*\(requested:?\s*{_N}\)", re.I), 1, (2,)),
    (re.compile(rf"request \({_N} tokens\) exceeds (?:the available )?context size \({_N} tokens\)", re.I), 2, (1,)),
    (re.compile(rf"input \({_N} tokens\) is larger than the max context size \({_N} tokens\)", re.I), 2, (1,)),
    (re.compile(rf"requested tokens \({_N}\) exceed context window of {_N}", re.I), 2, (1,)),
    (re.compile(rf"prompt \(length {_N}\) is longer than the maximum model length of {_N}", re.I), 2, (1,)),
    (re.compile(rf"input \({_N} tokens\) is longer than the model'?s context length \({_N} tokens\)", re.I), 2, (1,)),
    (re.compile(rf"must be <= {_N}\. Given: {_N} `inputs` tokens and {_N} `max_new_tokens`", re.I), 1, (2, 3)),
    (re.compile(rf"prompt is too long: {_N} tokens > {_N} maximum", re.I), 2, (1,)),
    (re.compile(rf"input token count \({_N}\) exceeds the maximum number of tokens allowed \({_N}\)", re.I), 2, (1,)),
    (re.compile(rf"maximum prompt length is {_N} but the request contains {_N} tokens", re.I), 1, (2,)),
    (re.compile(rf"for a total of at least {_N} tokens", re.I), None, (1,)),
    (re.compile(rf"you requested (?:about )?{_N} tokens", re.I), None, (1,)),
    (re.compile(rf"your messages resulted in {_N} tokens", re.I), None, (1,)),
    (re.compile(rf"is too large: {_N}\..{{0,80}}?your request has {_N} input tokens", re.I | re.S), None, (1, 2)),
    (re.compile(rf"your request has {_N} input tokens", re.I), None, (1,)),
    (re.compile(rf"prompt contains at least {_N} input tokens", re.I), None, (1,)),
    (re.compile(rf"maximum (?:context|model) length (?:is|of) {_N}", re.I), 1, ()),
]


# Wording of real "no such model" answers (tests/fixtures/recorded/): Moonshot ("Not found the model
# kimi-k2.5 or Permission denied", 404 resource_not_found_error), OpenAI-style hosts and Together
# (code model_not_found: "The model `X` does not exist or you do not have access to it", "Unable to
# access model X"), OpenRouter ("X is not a valid model ID", 400; "No endpoints found for X.", 404),
# vLLM ("The model `X` does not exist."), Ollama ('model "X" not found, try pulling it first').
_MODEL_MISSING = re.compile(
    "|".join(
        [
            r"not found the model",
            r"model_not_found",
            r"the model `?[^`\s]+`? does not exist",
            r"unable to access model ",
            r"is not a valid model id",
            r"no endpoints found for (?!that)",
            r"model \S+ not found",
            r"model '[^']+' not found",
            r'model "[^"]+" not found',
        ]
    ),
    re.IGNORECASE,
)


def looks_like_model_not_found(message: str, code: object = None) -> bool:
    """Whether a host's error says it does not serve the requested model id."""
    return code == "model_not_found" or bool(_MODEL_MISSING.search(message))


def looks_like_context_overflow(message: str) -> bool:
    """Whether a provider's error text says the request is longer than the context window."""
    return bool(_OVERFLOW.search(message)) and not _NOT_OVERFLOW.search(message)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def parse_context_overflow(message: str) -> tuple[int | None, int | None]:
    """``(limit, requested)`` as stated in an overflow text; ``None`` where it says nothing."""
    limit: int | None = None
    requested: int | None = None
    for pattern, limit_group, requested_groups in _COUNTS:
        wants_limit = limit is None and limit_group is not None
        wants_requested = requested is None and bool(requested_groups)
        if not (wants_limit or wants_requested):
            continue
        match = pattern.search(message)
        if match is None:
            continue
        if wants_limit and limit_group is not None:
            limit = _number(match.group(limit_group))
        if wants_requested:
            requested = sum(_number(match.group(g)) for g in requested_groups)
        if limit is not None and requested is not None:
            break
    return limit, requested


def context_overflow(
    message: str,
    *,
    status: int | None = None,
    attempts: int = 1,
    limit: int | None = None,
    requested: int | None = None,
) -> ContextLengthExceeded:
    """A :class:`ContextLengthExceeded` with the window and request size read from ``message``."""
    parsed_limit, parsed_requested = parse_context_overflow(message)
    return ContextLengthExceeded(
        message,
        status=status,
        attempts=attempts,
        limit=limit if limit is not None else parsed_limit,
        requested=requested if requested is not None else parsed_requested,
    )


@dataclass(frozen=True)
class RetryNotice:
    """The client is about to retry a model call: attempt ``attempt`` failed for ``reason`` and
    the next one starts in ``delay_s`` seconds; ``retries`` is how many retries the policy allows
    for this kind of failure."""

    attempt: int
    retries: int
    delay_s: float
    reason: str
    """Short: ``429 rate limited``, ``503 server error``, ``timed out``, ``connection refused``."""
    detail: str = ""
    """The failure in full, as the final error would state it."""

    def describe(self) -> str:
        return f"retry {self.attempt}/{self.retries} in {seconds(self.delay_s)} s: {self.reason}"


def seconds(delay: float) -> str:
    """A delay as people read it: ``0.4``, ``4``, ``12`` (tenths only under ten seconds)."""
    shown = f"{delay:.1f}" if delay < 10 else f"{delay:.0f}"
    return shown.removesuffix(".0")


RetryObserver = Callable[[RetryNotice], Awaitable[None] | None]
_retry_observer: ContextVar[RetryObserver | None] = ContextVar("agentkit_retry_observer", default=None)


@contextmanager
def observing_retries(observer: RetryObserver | None) -> Iterator[None]:
    """Model calls made inside this block (in this task) report their retries to ``observer``."""
    token = _retry_observer.set(observer)
    try:
        yield
    finally:
        _retry_observer.reset(token)


async def report_retry(notice: RetryNotice) -> None:
    """Tell the current observer, if any; a broken observer must not fail the call."""
    observer = _retry_observer.get()
    if observer is None:
        return
    try:
        result = observer(notice)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logging.getLogger("agentkit").exception("retry observer failed")
