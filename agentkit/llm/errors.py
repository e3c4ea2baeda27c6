"""Errors raised by the model client. Messages are written for the person running the agent."""

from __future__ import annotations


class ModelError(Exception):
    """The model call failed and will not be retried."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class ModelRetriesExhausted(ModelError):
    """Every retry in the budget failed (rate limits, server errors, dropped streams)."""


class ContextLengthExceeded(ModelError):
    """The provider rejected the request as longer than the model's context window."""


class AuthenticationFailed(ModelError):
    """The provider rejected the API key."""


class StreamIncomplete(Exception):
    """A stream ended before ``[DONE]`` or a finish reason (retryable)."""


_CONTEXT_MARKERS = (
    "context length",
    "context_length",
    "maximum context",
    "context window",
    "too many tokens",
    "exceeds the model",
    "prompt is too long",
    "input is too long",
)


def looks_like_context_overflow(message: str) -> bool:
    low = message.lower()
    return any(marker in low for marker in _CONTEXT_MARKERS)
