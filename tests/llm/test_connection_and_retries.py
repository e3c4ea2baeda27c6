"""Connection failures and retry reports: a refused connection, or a host name that does not
resolve, fails in seconds naming the URL or the host; every retry the client makes is reported
(attempt, delay, reason) to whoever observes it.

Real sockets on loopback: a port bound and not listening refuses connections (ECONNREFUSED).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import ConnectionFailed, RetryNotice, observing_retries
from agentkit.llm.types import ModelRequest
from agentkit.testing import Delay, FakeProvider, RateLimited, ServerError, Turn

pytestmark = pytest.mark.anyio
Q = [{"role": "user", "content": "question"}]


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound (nobody else gets it) and never listens: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


async def test_a_refused_connection_fails_in_a_few_fast_attempts_naming_the_url(
    refused_url: str, via: dict[str, Any]
) -> None:
    seen: list[RetryNotice] = []
    m = OpenAICompatibleModel("m", "custom", base_url=refused_url, **via)  # the default retry policy
    try:
        with observing_retries(seen.append), pytest.raises(ConnectionFailed) as caught:
            await m.complete(ModelRequest(messages=Q))
    finally:
        await m.aclose()
    assert str(caught.value) == f"cannot connect to {refused_url}: connection refused"
    assert 1 <= caught.value.attempts <= 3
    # a refused connection is not an overload: the planned waits add up to seconds, not minutes
    assert len(seen) == caught.value.attempts - 1
    assert sum(n.delay_s for n in seen) <= 2.0
    assert all(n.reason == "connection refused" for n in seen)


async def test_every_retry_is_reported_with_its_reason_and_delay(via: dict[str, Any]) -> None:
    policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=6)
    seen: list[RetryNotice] = []
    with FakeProvider([RateLimited(0.02), ServerError(503), Turn(content="ok")]) as fake:
        m = OpenAICompatibleModel(provider="custom", base_url=fake.base_url, retry=policy, **via)
        with observing_retries(seen.append):
            out = await m.complete(ModelRequest(messages=Q))
        await m.aclose()
    assert out.attempts == 3
    assert [(n.attempt, n.retries) for n in seen] == [(1, 5), (2, 5)]
    assert seen[0].reason == "429 rate limited" and seen[0].delay_s == pytest.approx(0.02)
    assert seen[1].reason == "503 server error"
    assert "HTTP 503" in seen[1].detail
    assert seen[0].describe() == "retry 1/5 in 0 s: 429 rate limited"


async def test_an_async_observer_is_awaited_and_a_broken_one_does_not_fail_the_call() -> None:
    policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=3)
    seen: list[int] = []

    async def record(notice: RetryNotice) -> None:
        seen.append(notice.attempt)

    def broken(notice: RetryNotice) -> None:
        raise RuntimeError("a display bug")

    with FakeProvider([ServerError(500), Turn(content="ok"), ServerError(500), Turn(content="ok")]) as fake:
        m = OpenAICompatibleModel(provider="custom", base_url=fake.base_url, retry=policy)
        with observing_retries(record):
            assert (await m.complete(ModelRequest(messages=Q))).content == "ok"
        with observing_retries(broken):
            assert (await m.complete(ModelRequest(messages=Q))).content == "ok"
        await m.aclose()
    assert seen == [1]


async def test_an_unresolvable_host_is_retried_twice_then_fails_naming_the_host(via: dict[str, Any]) -> None:
    """A name that does not resolve is a misspelt host far more often than a resolver's hiccup:
    two quick retries, then one line naming the host, not the eight retries of an overload."""
    url = "http://agentkit-test.invalid/v1"  # .invalid never resolves (RFC 6761), offline or not
    policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.01)  # max_attempts stays 8
    seen: list[RetryNotice] = []
    m = OpenAICompatibleModel("m", "custom", base_url=url, retry=policy, **via)
    try:
        with observing_retries(seen.append), pytest.raises(ConnectionFailed) as caught:
            await m.complete(ModelRequest(messages=Q))
    finally:
        await m.aclose()
    assert caught.value.attempts == policy.unresolved_attempts == 3 and len(seen) == 2
    assert str(caught.value) == (
        f"cannot connect to {url}: the host name 'agentkit-test.invalid' does not resolve (3 attempt(s))"
    )
    assert [(n.attempt, n.retries, n.reason) for n in seen] == [
        (1, 2, "host name not resolved"),
        (2, 2, "host name not resolved"),
    ]


async def test_a_timeout_keeps_the_retry_policy_and_each_retry_is_reported(via: dict[str, Any]) -> None:
    policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=3)
    seen: list[RetryNotice] = []
    with FakeProvider([Delay(1.0), Turn(content="late"), Turn(content="on time")]) as fake:
        url = fake.base_url
        m = OpenAICompatibleModel(provider="custom", base_url=url, retry=policy, timeout=0.3, **via)
        with observing_retries(seen.append):
            out = await m.complete(ModelRequest(messages=Q))
        await m.aclose()
    assert out.content == "on time" and out.attempts == 2
    assert [(n.attempt, n.retries, n.reason) for n in seen] == [(1, 2, "timed out")]
    assert f"request to {url} timed out" in seen[0].detail
