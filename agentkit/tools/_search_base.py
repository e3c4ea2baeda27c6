"""What every ``web_search`` backend shares: the hit, the failures, the backend interface,
and the rate limiter and circuit breaker the tool wraps each backend in.

Failures tell the tool what to do next: :class:`SoftFailure` (answered, but "no results" in a
way that usually means trouble, or rate limited) and :class:`BackendFailure` fail over to the
next backend; :class:`AuthFailure` (the key was refused) also opens the backend's breaker at
once, since retrying a refused key cannot help.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio


@dataclass
class SearchHit:
    title: str
    url: str
    snippet: str
    text: str | None = None
    """The full document text, when the backend has it (the local corpus does)."""
    meta: dict[str, Any] = field(default_factory=dict)
    content_hash: str | None = None
    """The store blob holding ``text``, once it is stored (how a cached hit keeps its text)."""


class BackendFailure(Exception):
    """The backend could not answer (HTTP error, timeout, bad response)."""


class SoftFailure(BackendFailure):
    """The backend answered "no results" in a way that usually means it is failing."""


class TransientFailure(BackendFailure):
    """A failure worth retrying soon: a server error (5xx) or a timeout."""


class RateLimited(SoftFailure):
    """HTTP 429. ``retry_after`` is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthFailure(BackendFailure):
    """The service refused the API key (HTTP 401/403): a hard failure of this backend."""


class SearchBackend(abc.ABC):
    name: str = "backend"
    min_interval_s: float = 0.0
    """Minimum spacing between two requests to this backend."""

    @property
    def identity(self) -> str:
        """What makes two backends give the same answers (the search cache keys on it):
        the name, plus the endpoint or index where there is one. Never a secret."""
        return self.name

    @abc.abstractmethod
    async def search(self, query: str, max_results: int) -> list[SearchHit]: ...

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release connections."""


class RateLimiter:
    """Spaces calls at least ``min_interval_s`` apart; concurrent callers queue in order."""

    def __init__(self, min_interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._lock = anyio.Lock()
        self._next = 0.0

    async def wait(self) -> None:
        if self.min_interval_s <= 0:
            return
        async with self._lock:
            delay = self._next - self._clock()
            if delay > 0:
                await anyio.sleep(delay)
            self._next = self._clock() + self.min_interval_s


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``cooldown_s`` one trial call is
    let through (half-open): a success closes it, a failure opens it for another cooldown.
    :meth:`trip` opens it at once (a refused API key)."""

    def __init__(
        self, threshold: int = 3, cooldown_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.failures = 0
        self.reason = ""
        """Why it last opened (the last failure's message)."""
        self._opened_at = 0.0

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold and self.retry_in() > 0

    def retry_in(self) -> float:
        if self.failures < self.threshold:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self._clock())

    def allow(self) -> bool:
        return not self.is_open

    def record_success(self) -> None:
        self.failures = 0
        self.reason = ""

    def record_failure(self, reason: str = "") -> None:
        self.failures += 1
        self.reason = reason
        if self.failures >= self.threshold:
            self._opened_at = self._clock()

    def trip(self, reason: str) -> None:
        """Open now, whatever the count."""
        self.failures = max(self.failures + 1, self.threshold)
        self.reason = reason
        self._opened_at = self._clock()
