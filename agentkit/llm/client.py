"""One async client for every OpenAI-compatible chat-completions endpoint.

The openai SDK provides the HTTP client, SSE decoding and error types. The request body is
encoded once with orjson and posted as bytes: the SDK's ``chat.completions.create`` walks
the whole history against its type annotations on every call, which costs O(history) CPU
per step for a history the framework built itself. Answers are read as raw dicts.

:meth:`OpenAICompatibleModel.complete` raises only :class:`ModelError` subclasses.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Awaitable
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
import openai
import orjson
from openai import AsyncOpenAI
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay

from agentkit._redact import register_secret, register_secret_env
from agentkit.llm._failures import (
    connection_refused,
    describe,
    name_unresolved,
    retry_reason,
    status_error,
    status_retryable,
)
from agentkit.llm._probe import listing_window, nearest_ids, props_window, served_ids
from agentkit.llm._request import RequestRules
from agentkit.llm._send import emit, send_plain, send_stream
from agentkit.llm._stream import assign_tool_call_ids
from agentkit.llm._vertex import GoogleAccessToken, require_google_auth, vertex_base_url
from agentkit.llm._wire import CONNECT_TIMEOUT_S, sdk_http_client, wire_for
from agentkit.llm.errors import (
    ConfigurationError,
    ConnectionFailed,
    ModelError,
    ModelNotFound,
    ModelRetriesExhausted,
    RetryNotice,
    StreamIncomplete,
    report_retry,
)
from agentkit.llm.profiles import PROFILES, Prices, ProviderProfile, get_profile
from agentkit.llm.types import AssistantTurn, DeltaHandler, ModelRequest, StreamDelta, sent_settings

__all__ = ["ConfigurationError", "OpenAICompatibleModel", "RetryPolicy"]

_JSON_HEADERS = {"Content-Type": "application/json"}
_PROBE_TIMEOUT_S = 5.0
_REFUSED_MAX_WAIT_S = 1.0
_LISTING_TIMEOUT_S = 1.5
"""How long a refused model id waits for the host's model listing to name the nearest ids."""


def shown_url(url: str) -> str:
    """The endpoint as messages name it: without credentials in the URL or its query string."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class RetryPolicy(BaseModel):
    """How hard to try before giving up on a model call."""

    max_attempts: int = 8
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    max_total_seconds: float = 900.0
    max_retry_after: float = 120.0
    refused_attempts: int = 3
    """Attempts when the connection is refused (nothing listens at the URL), each retry within
    a second: that is a wrong URL or a server that is down, not an overload."""
    unresolved_attempts: int = 3
    """Attempts when the host name does not resolve, each retry within a second: a resolver's
    passing failure gets two more chances, a misspelt host fails in seconds naming it."""


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
    # A status error that reaches the retry loop is a retryable one: ``_attempt`` turns the
    # others into final ModelErrors.
    return isinstance(exc, StreamIncomplete | openai.APIConnectionError | openai.APIStatusError)


class OpenAICompatibleModel:
    """Streaming chat-completions client with retries, repair, usage and cost.

    ``concurrency`` caps requests in flight (share one instance between trajectories to
    share the limit); a 429 with ``Retry-After`` pauses every request of this instance.
    ``tool_choice`` is the default for requests that set none (``none`` on a request, the
    final turn, always wins, also over ``extra_body``).
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
        tool_choice: Literal["auto", "none"] | None = None,
        thinking: bool | None = None,
        vision: bool | None = None,
        video: bool | None = None,
        reasoning_effort: str | None = None,
        preserve_thinking: bool | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "provider": provider,
            "base_url": base_url,
            "api_key": api_key,
            "api_key_env": api_key_env,
            "stream": stream,
            "retry": retry,
            "timeout": timeout,
            "concurrency": concurrency,
            "prices": prices,
            "http_client": http_client,
            "extra_body": extra_body,
            "tool_choice": tool_choice,
            "thinking": thinking,
            "vision": vision,
            "reasoning_effort": reasoning_effort,
            "preserve_thinking": preserve_thinking,
        }
        """What this client was made with (:meth:`with_model` makes another like it)."""
        self._profile = provider if isinstance(provider, ProviderProfile) else get_profile(provider)
        self._model = self._profile.resolve_model(model)
        self._auth: GoogleAccessToken | None = None
        if self._profile.auth == "google_adc":
            require_google_auth()
            self._auth = GoogleAccessToken()
        url = base_url or self._profile.base_url or (vertex_base_url() if self._auth else None)
        if not url:
            raise ConfigurationError(f"provider {self._profile.name!r} needs a base_url")
        key_env = api_key_env or self._profile.api_key_env
        key = api_key or (os.environ.get(key_env) if key_env else None)
        # Masked wherever text leaves the process from now on, and so is any other provider's key.
        register_secret(key)
        register_secret_env(*(p.api_key_env for p in PROFILES.values()))
        if not key:
            if self._profile.api_key_required:
                raise ConfigurationError(
                    f"no API key for provider {self._profile.name!r}: set {key_env} or pass api_key="
                )
            key = "EMPTY"  # each request sends a fresh Google token instead when auth is google_adc
        self._client = AsyncOpenAI(
            base_url=url,
            api_key=key,
            max_retries=0,
            timeout=httpx2.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
            http_client=http_client if http_client is not None else sdk_http_client(),
        )
        self._wire = wire_for(self._client, given_http_client=http_client is not None, timeout=timeout)
        """How model calls travel (agentkit.llm._wire): aiohttp unless an http_client was given."""
        self._stream = stream
        self._retry = retry or RetryPolicy()
        self._prices = prices or self._profile.prices_for(self._model)
        self._extra_body = extra_body or {}
        self._tool_choice = tool_choice
        self.rules = RequestRules(
            self._model,
            self._profile,
            thinking=thinking,
            reasoning_effort=reasoning_effort,
            preserve_thinking=preserve_thinking,
        )
        """The request rules of the model and host (agentkit.llm._request); bad options fail here."""
        self.traits = self.rules.traits
        """What the model can do (vision, thinking switch) and the request rules it obeys."""
        self.vision = self.traits.vision if vision is None else vision
        """Images go to the model as image parts (its family's trait unless ``vision=`` says)."""
        self.video = self.traits.video if video is None else video
        """A task's videos go to the model as ``video_url`` parts (its family's trait unless
        ``video=`` says; :mod:`agentkit.context.videos`)."""
        if isinstance(concurrency, int):
            concurrency = anyio.CapacityLimiter(concurrency)
        self._limiter = concurrency
        self._paused_until = 0.0
        self.base_url = url
        self.endpoint = shown_url(url)
        """The endpoint as messages name it (no credentials)."""

    def with_model(self, model: str) -> OpenAICompatibleModel:
        """A client like this one (endpoint, key, options) for another model: a fork's."""
        options = dict(self._options)
        if options["prices"] is not None and model != self._model:
            options["prices"] = None  # the new model's own prices
        return OpenAICompatibleModel(model, **options)

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
        await self._wire.aclose()
        await self._client.close()

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        profile = self._profile
        body: dict[str, Any] = {"model": self._model, "messages": request.messages}
        choice = request.tool_choice or self._tool_choice
        if request.tools:
            body["tools"] = request.tools
            if choice == "auto" or (choice == "none" and profile.supports_tool_choice_none):
                body["tool_choice"] = choice
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
        if self._extra_body:
            body.update(self._extra_body)
            body["messages"] = request.messages
            if choice == "none":  # the final turn: no extra option may let the model call tools
                if request.tools and profile.supports_tool_choice_none:
                    body["tool_choice"] = "none"
                else:
                    body.pop("tool_choice", None)
        return self.rules.shape(body, request)

    def price_for(self, served: str) -> Prices:
        """Prices of the model the provider served: its own profile price when the profile lists
        one, else the requested model's (or the prices passed to the client)."""
        if served and served != self._model:
            price = self._profile.prices.get(served)
            if price is None:
                low = served.lower()
                price = next((p for name, p in self._profile.prices.items() if name.lower() == low), None)
            if price is not None:
                return price
        return self._prices

    async def complete(self, request: ModelRequest, *, on_delta: DeltaHandler | None = None) -> AssistantTurn:
        policy = self._retry
        attempts = 0

        def quick_attempts(exc: BaseException | None) -> int | None:
            """The attempts a failure to connect at all gets (``None``: the ordinary budget)."""
            if exc is None:
                return None
            if connection_refused(exc):
                return policy.refused_attempts
            if name_unresolved(exc):
                return policy.unresolved_attempts
            return None

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            n = state.attempt_number
            backoff = float(min(policy.max_backoff, policy.initial_backoff * 2 ** (n - 1)))
            backoff = backoff / 2 + random.uniform(0, backoff / 2)
            if quick_attempts(exc) is not None:
                return min(backoff, _REFUSED_MAX_WAIT_S)
            hinted = _retry_after(exc) if exc else None
            if hinted is not None:
                hinted = min(hinted, policy.max_retry_after)
                self._paused_until = max(self._paused_until, time.monotonic() + hinted)
                return hinted
            return backoff

        budget = stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_total_seconds)

        def stop(state: RetryCallState) -> bool:
            quick = quick_attempts(state.outcome.exception() if state.outcome else None)
            if quick is not None and state.attempt_number >= quick:
                return True
            return budget(state)

        async def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None:
                return
            allowed = quick_attempts(exc) or policy.max_attempts
            delay = state.next_action.sleep if state.next_action else 0.0
            await report_retry(
                RetryNotice(
                    attempt=state.attempt_number,
                    retries=max(allowed - 1, 1),
                    delay_s=delay,
                    reason=retry_reason(exc),
                    detail=describe(exc, self.endpoint),
                )
            )

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(_is_retryable),
            before_sleep=before_sleep,
            reraise=True,
            sleep=anyio.sleep,
        )
        streamed = _DeltaCounter(on_delta) if on_delta is not None else None
        try:
            body = self.build_body(request)
            payload = orjson.dumps(body)
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if streamed is not None and streamed.count:  # a retry after a partial stream
                        streamed.count = 0
                        await emit(streamed.handler, StreamDelta(kind="restart", attempt=attempts))
                    turn = await self._attempt(body, payload, streamed)
            turn = assign_tool_call_ids(turn, self._profile.tool_call_id_style, request.tool_call_index)
            turn = self.rules.received(turn, request)  # calls under the tools' own names
        except ModelNotFound as exc:
            raise await self._not_served(exc, max(attempts, 1)) from exc
        except ModelError as exc:
            exc.attempts = max(attempts, 1)
            raise
        except (openai.APIStatusError, openai.APIConnectionError, StreamIncomplete) as exc:
            if connection_refused(exc):
                raise ConnectionFailed(
                    f"cannot connect to {self.endpoint}: connection refused", attempts=attempts
                ) from exc
            if name_unresolved(exc):
                host = urlsplit(self.base_url).hostname or self.endpoint
                raise ConnectionFailed(
                    f"cannot connect to {self.endpoint}: the host name {host!r} does not resolve "
                    f"({attempts} attempt(s))",
                    attempts=attempts,
                ) from exc
            status = exc.status_code if isinstance(exc, openai.APIStatusError) else getattr(exc, "status", None)
            raise ModelRetriesExhausted(
                f"model call failed after {attempts} attempt(s): {describe(exc, self.endpoint)}",
                status=status,
                attempts=attempts,
            ) from exc
        except Exception as exc:  # the SDK or a server surprised us: still a ModelError for the loop
            raise ModelError(
                f"{self._profile.name} call failed: {type(exc).__name__}: {exc}", attempts=max(attempts, 1)
            ) from exc
        served = turn.model or self._model
        usage = turn.usage
        cost = self.price_for(served).cost(usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens)
        # ``request``: the settings this body was sent with (telemetry's gen_ai.request.*, kept in the trace)
        update = {"cost_usd": cost, "attempts": attempts, "model": served, "request": sent_settings(body)}
        return turn.model_copy(update=update)

    async def _wait_out_pause(self) -> None:
        """Sleep until a rate-limit pause (Retry-After) that any call of this client met is over."""
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            await anyio.sleep(pause)

    async def _attempt(self, body: dict[str, Any], payload: bytes, on_delta: DeltaHandler | None) -> AssistantTurn:
        try:
            if self._limiter is None:
                await self._wait_out_pause()
                return await self._send(body, payload, on_delta)
            async with self._limiter:
                # checked once a slot is ours: a 429 may have paused the client while we queued
                await self._wait_out_pause()
                return await self._send(body, payload, on_delta)
        except openai.APIStatusError as exc:
            if status_retryable(exc):
                raise
            raise status_error(exc, self._profile.name, self._model) from exc

    async def _headers(self) -> dict[str, str]:
        if self._auth is None:
            return _JSON_HEADERS
        return {**_JSON_HEADERS, "Authorization": f"Bearer {await self._auth.token()}"}

    async def _send(self, body: dict[str, Any], payload: bytes, on_delta: DeltaHandler | None) -> AssistantTurn:
        headers = await self._headers()
        name = self._profile.name
        if not self._stream:
            return await send_plain(self._wire, payload, headers, name)
        turn = await send_stream(self._wire, payload, headers, name, on_delta)
        if turn is not None:
            return turn
        # HTTP 200 and not one event: llama.cpp, llama-cpp-python and others answer a failed
        # streaming request so. Ask once without streaming to read the server's own error (an
        # overflow then says the window) instead of retrying the same silence.
        plain = orjson.dumps({k: v for k, v in body.items() if k not in ("stream", "stream_options")})
        try:
            return await send_plain(self._wire, plain, headers, name, after_empty_stream=True)
        except openai.APITimeoutError:
            raise
        except openai.APIConnectionError:
            # llama-cpp-python's server says keep-alive, ends the empty stream and then closes
            # the connection (tests/fixtures/recorded/llama-cpp-python): the pool had handed that
            # dying connection to this request. The failed one is dropped: ask on a fresh one.
            return await send_plain(self._wire, plain, headers, name, after_empty_stream=True)

    async def _not_served(self, exc: ModelNotFound, attempts: int) -> ModelNotFound:
        """One line naming the refused id and, where the host lists its models, the nearest
        ones it does serve (asked with a short timeout: a slow listing must not hold the error)."""
        listing: Any = None
        with anyio.move_on_after(_LISTING_TIMEOUT_S), contextlib.suppress(Exception):
            listing = await self._get_json("/models", await self._headers())
        ids = served_ids(listing)
        near = nearest_ids(self._model, ids)
        message = f"the model {self._model!r} is not served at {self.endpoint} ({exc.detail or exc})"
        if self._model in ids:
            message += f"; the host lists {self._model!r} among its models, so the API key may not have access to it"
        elif near:
            message += f"; nearest ids it serves: {', '.join(near)}"
        elif ids:
            message += f"; it serves {len(ids)} other model(s): see GET {self.endpoint}/models"
        return ModelNotFound(message, model=self._model, served=near, status=exc.status, attempts=attempts)

    async def probe_context_window(self) -> int | None:
        """The context window the server says it serves this model with (``GET /models``; for
        llama.cpp also ``GET /props``), or ``None`` when it does not say or does not answer."""
        try:
            with anyio.fail_after(2 * _PROBE_TIMEOUT_S + 1):
                headers = await self._headers()
                listing = await self._get_json("/models", headers)
                window, ask_props = listing_window(listing, self._model)
                if ask_props:
                    root = str(self._client.base_url).rstrip("/").removesuffix("/v1")
                    with contextlib.suppress(Exception):  # no /props: the trained window is what is known
                        window = props_window(await self._get_json(f"{root}/props", headers)) or window
                return window
        except Exception:  # any failure means "unknown": the caller falls back to the profile
            return None

    async def _get_json(self, path: str, headers: dict[str, str]) -> Any:
        response: httpx2.Response = await self._client.get(
            path, cast_to=httpx2.Response, options={"headers": headers, "timeout": _PROBE_TIMEOUT_S}
        )
        return orjson.loads(response.content)


class _DeltaCounter:
    """Forwards deltas and counts them, so a retry knows whether a live view saw a partial turn."""

    def __init__(self, handler: DeltaHandler) -> None:
        self.handler, self.count = handler, 0

    def __call__(self, delta: StreamDelta) -> Awaitable[None] | None:
        self.count += 1
        return self.handler(delta)
