"""One async client for every OpenAI-compatible chat-completions endpoint.

The openai SDK provides the HTTP client, SSE decoding and error types. The request body is
encoded once with orjson and posted as bytes: the SDK's ``chat.completions.create`` walks
the whole history against its type annotations on every call, which costs O(history) CPU
per step for a history the framework built itself.
"""

from __future__ import annotations

import inspect
import os
import random
import time
from collections.abc import Awaitable
from typing import Any

import anyio
import httpx2
import openai
import orjson
from openai import AsyncOpenAI, AsyncStream
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay

from agentkit.llm._stream import StreamAssembler, assign_tool_call_ids
from agentkit.llm.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    ModelError,
    ModelRetriesExhausted,
    StreamIncomplete,
    looks_like_context_overflow,
)
from agentkit.llm.profiles import Prices, ProviderProfile, get_profile
from agentkit.llm.types import AssistantTurn, DeltaHandler, ModelRequest, StreamDelta

_JSON_HEADERS = {"Content-Type": "application/json"}


class RetryPolicy(BaseModel):
    """How hard to try before giving up on a model call."""

    max_attempts: int = 8
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    max_total_seconds: float = 900.0
    max_retry_after: float = 120.0


class ConfigurationError(ValueError):
    """The client cannot be built as configured (missing key, missing base URL)."""


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            continue
    return None


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, StreamIncomplete | openai.APIConnectionError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_error_message(exc)}"
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection error ({type(cause).__name__ if cause else 'unknown'}: {cause or exc})"
    return f"{type(exc).__name__}: {exc}"


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return exc.message


class OpenAICompatibleModel:
    """Streaming chat-completions client with retries, repair, usage and cost.

    ``concurrency`` caps requests in flight (share one instance between trajectories to
    share the limit); a 429 with ``Retry-After`` pauses every request of this instance.
    """

    def __init__(
        self,
        model: str | None = None,
        provider: str | ProviderProfile = "moonshot",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        stream: bool = True,
        retry: RetryPolicy | None = None,
        timeout: float = 600.0,
        concurrency: int | anyio.CapacityLimiter | None = None,
        prices: Prices | None = None,
        http_client: httpx2.AsyncClient | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self._profile = provider if isinstance(provider, ProviderProfile) else get_profile(provider)
        self._model = self._profile.resolve_model(model)
        url = base_url or self._profile.base_url
        if not url:
            raise ConfigurationError(f"provider {self._profile.name!r} needs a base_url")
        key_env = api_key_env or self._profile.api_key_env
        key = api_key or (os.environ.get(key_env) if key_env else None)
        if not key:
            if self._profile.api_key_required:
                raise ConfigurationError(
                    f"no API key for provider {self._profile.name!r}: set {key_env} or pass api_key="
                )
            key = "EMPTY"
        self._client = AsyncOpenAI(
            base_url=url,
            api_key=key,
            max_retries=0,
            timeout=httpx2.Timeout(timeout, connect=15.0),
            http_client=http_client,
        )
        self._stream = stream
        self._retry = retry or RetryPolicy()
        self._prices = prices or self._profile.prices_for(self._model)
        self._extra_body = extra_body or {}
        if isinstance(concurrency, int):
            concurrency = anyio.CapacityLimiter(concurrency)
        self._limiter = concurrency
        self._paused_until = 0.0
        self.base_url = url

    @property
    def profile(self) -> ProviderProfile:
        return self._profile

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def prices(self) -> Prices:
        return self._prices

    async def aclose(self) -> None:
        await self._client.close()

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        profile = self._profile
        body: dict[str, Any] = {"model": self._model, "messages": request.messages}
        if request.tools:
            body["tools"] = request.tools
            if request.tool_choice == "none" and profile.supports_tool_choice_none:
                body["tool_choice"] = "none"
        temperature = request.temperature
        if temperature is None:
            temperature = profile.default_temperature
        if temperature is not None:
            low, high = profile.temperature_range
            body["temperature"] = min(max(temperature, low), high)
        body["max_tokens"] = request.max_tokens or profile.default_max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        if self._stream:
            body["stream"] = True
            if profile.supports_stream_usage:
                body["stream_options"] = {"include_usage": True}
        body.update(self._extra_body)
        return body

    async def complete(self, request: ModelRequest, *, on_delta: DeltaHandler | None = None) -> AssistantTurn:
        payload = orjson.dumps(self.build_body(request))
        policy = self._retry
        attempts = 0

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            n = state.attempt_number
            backoff = float(min(policy.max_backoff, policy.initial_backoff * 2 ** (n - 1)))
            backoff = backoff / 2 + random.uniform(0, backoff / 2)
            hinted = _retry_after(exc) if exc else None
            if hinted is not None:
                hinted = min(hinted, policy.max_retry_after)
                self._paused_until = max(self._paused_until, time.monotonic() + hinted)
                return hinted
            return backoff

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_total_seconds),
            wait=wait,
            retry=retry_if_exception(_is_retryable),
            reraise=True,
            sleep=anyio.sleep,
        )
        streamed = _DeltaCounter(on_delta) if on_delta is not None else None
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if streamed is not None and streamed.count:  # a retry after a partial stream
                        streamed.count = 0
                        await _emit(streamed.handler, StreamDelta(kind="restart", attempt=attempts))
                    turn = await self._attempt(payload, streamed)
        except openai.APIStatusError as exc:
            raise self._final_error(exc, attempts) from exc
        except (StreamIncomplete, openai.APIConnectionError) as exc:
            raise ModelRetriesExhausted(
                f"model call failed after {attempts} attempt(s): {_describe(exc)}", attempts=attempts
            ) from exc
        turn = assign_tool_call_ids(turn, self._profile.tool_call_id_style, request.tool_call_index)
        usage = turn.usage
        cost = self._prices.cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens)
        return turn.model_copy(update={"cost_usd": cost, "attempts": attempts, "model": self._model})

    def _final_error(self, exc: openai.APIStatusError, attempts: int) -> ModelError:
        message = _error_message(exc)
        status = exc.status_code
        if _is_retryable(exc):
            return ModelRetriesExhausted(
                f"model call failed after {attempts} attempt(s): {_describe(exc)}",
                status=status,
                attempts=attempts,
            )
        if status == 400 and looks_like_context_overflow(message):
            return ContextLengthExceeded(message, status=status, attempts=attempts)
        if status in (401, 403):
            return AuthenticationFailed(
                f"{self._profile.name} rejected the API key (HTTP {status}): {message}",
                status=status,
                attempts=attempts,
            )
        return ModelError(f"{self._profile.name} answered HTTP {status}: {message}", status=status, attempts=attempts)

    async def _attempt(self, payload: bytes, on_delta: DeltaHandler | None) -> AssistantTurn:
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            await anyio.sleep(pause)
        if self._limiter is None:
            return await self._send(payload, on_delta)
        async with self._limiter:
            return await self._send(payload, on_delta)

    async def _send(self, payload: bytes, on_delta: DeltaHandler | None) -> AssistantTurn:
        assembler = StreamAssembler()
        options: Any = {"headers": _JSON_HEADERS}
        if not self._stream:
            data = await self._client.post("/chat/completions", content=payload, cast_to=object, options=options)
            if not isinstance(data, dict):
                raise StreamIncomplete(f"unexpected response body: {str(data)[:200]}")
            assembler.feed_message(data)
            if assembler.finish_reason is None and not data.get("choices"):
                raise StreamIncomplete("response had no choices")
            return assembler.finish()
        stream = await self._client.post(
            "/chat/completions",
            content=payload,
            cast_to=object,
            options=options,
            stream=True,
            stream_cls=AsyncStream[object],
        )
        async with stream:
            async for chunk in stream:
                if not isinstance(chunk, dict):
                    continue
                deltas = assembler.feed(chunk)
                if on_delta is not None:
                    for delta in deltas:
                        await _emit(on_delta, delta)
        if assembler.finish_reason is None:
            raise StreamIncomplete("stream ended before a finish reason")
        return assembler.finish()


class _DeltaCounter:
    """Forwards deltas and counts them, so a retry knows whether a live view saw a partial turn."""

    def __init__(self, handler: DeltaHandler) -> None:
        self.handler, self.count = handler, 0

    def __call__(self, delta: StreamDelta) -> Awaitable[None] | None:
        self.count += 1
        return self.handler(delta)


async def _emit(handler: DeltaHandler, delta: StreamDelta) -> None:
    result = handler(delta)
    if inspect.isawaitable(result):
        await result
