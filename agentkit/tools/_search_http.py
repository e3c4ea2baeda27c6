"""The request every HTTP search backend makes: JSON over httpx2, retried when it may help.

A rate limit (HTTP 429, waiting what its Retry-After says when that is short enough), a
server error (5xx) or a timeout is retried with ``tenacity`` up to ``attempts`` times; then the
tool fails over to the next backend. A refused key (401/403, or 402 for an account out of
credit) is not retried: it is an :class:`AuthFailure`. Messages never carry a secret: any
key a backend holds is masked out of every text it raises.
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any, ClassVar

import anyio
import httpx2
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from agentkit.net._http import USER_AGENT, LoopLocal
from agentkit.tools._search_base import (
    BackendFailure,
    RateLimited,
    SearchBackend,
    TransientFailure,
)

_DETAIL_CHARS = 200


class HttpSearchBackend(SearchBackend):
    """A backend answering JSON at ``base_url``. Subclasses implement ``search`` with
    :meth:`request_json`."""

    service: ClassVar[str] = "search"
    """How messages name the service's responses ("the response is not <service> JSON")."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 20.0,
        min_interval_s: float = 0.0,
        attempts: int = 3,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 30.0,
        follow_redirects: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.follow_redirects = follow_redirects
        self._clients = LoopLocal(self._make_client)

    def _make_client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            timeout=httpx2.Timeout(self.timeout_s),
            follow_redirects=self.follow_redirects,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    @property
    def identity(self) -> str:
        return f"{self.name} {self.base_url}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    async def aclose(self) -> None:
        await self._clients.aclose()

    # -- what subclasses may refine ---------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message (API keys)."""
        return ()

    def _refused(self, status: int, detail: str) -> BackendFailure:
        """The failure for HTTP 401, 402 and 403."""
        return BackendFailure(f"HTTP {status}{detail}")

    # -- the request ------------------------------------------------------------------------

    def clean(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "***")
        return text

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The parsed JSON answer of ``method base_url+path``, retried as the module says."""
        url = self.base_url + path
        attempt_no = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._retryable),
            sleep=anyio.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_no = attempt.retry_state.attempt_number
                    return await self._once(method, url, params=params, json=json, headers=headers)
        except RateLimited as exc:
            if attempt_no > 1:
                raise RateLimited(f"{exc} ({attempt_no} attempts)", exc.retry_after) from None
            raise
        except TransientFailure as exc:
            if attempt_no > 1:
                raise TransientFailure(f"{exc} ({attempt_no} attempts)") from None
            raise
        raise BackendFailure("no response")  # pragma: no cover - the loop returns or raises

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):
            return exc.retry_after is None or exc.retry_after <= self.max_retry_after_s
        return isinstance(exc, TransientFailure)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after
        # exponential, with jitter so that peers sharing a limit do not retry in step
        return float(self.backoff_s * 2 ** (state.attempt_number - 1) * (0.5 + random.random() / 2))

    async def _once(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None,
        json: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> Any:
        client = self._clients.get()
        try:
            with anyio.fail_after(self.timeout_s):
                response = await client.request(method, url, params=params, json=json, headers=headers)
        except TimeoutError:
            raise TransientFailure(f"timed out after {self.timeout_s:g} s") from None
        except httpx2.TimeoutException as exc:
            raise TransientFailure(f"timed out ({type(exc).__name__})") from None
        except httpx2.HTTPError as exc:
            raise BackendFailure(self.clean(f"{type(exc).__name__}: {exc}")) from None
        status = response.status_code
        if status == 429:
            retry_after = retry_after_s(response.headers.get("retry-after"))
            shown = f", Retry-After {retry_after:g} s" if retry_after is not None else ""
            raise RateLimited(f"rate limited (HTTP 429{shown})", retry_after)
        if status in (401, 402, 403):
            raise self._refused(status, self._detail(response))
        if status >= 500:
            raise TransientFailure(f"HTTP {status}")
        if not 200 <= status < 300:
            raise BackendFailure(f"HTTP {status}{self._detail(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise BackendFailure(self.clean(f"the response is not {self.service} JSON: {exc}")) from None

    def _detail(self, response: httpx2.Response) -> str:
        """A short reason from an error body (``{"error": ...}``, ``{"detail": ...}``...)."""
        try:
            data = response.json()
        except ValueError:
            return ""
        reason: Any = data
        for _ in range(3):
            if isinstance(reason, dict):
                reason = next((reason[k] for k in ("error", "detail", "message") if reason.get(k)), None)
        if not isinstance(reason, str) or not reason.strip():
            return ""
        text = " ".join(self.clean(reason).split())
        return f": {text[:_DETAIL_CHARS]}"


def retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds from either form (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
