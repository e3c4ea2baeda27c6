"""A 429's ``Retry-After`` holds back every request of the client, not only the retry of the
call that got it. Found by tools/mutants.py (``retry-after-not-shared``).

Arrival times are taken by the fake as each request arrives; the client promises a lower
bound on the gap (it must wait at least that long), so the assertions do not race the clock.
"""

from __future__ import annotations

import time

import anyio
import pytest

from agentkit.llm.client import OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import ModelRetriesExhausted
from agentkit.llm.types import ModelRequest
from agentkit.testing import FakeProvider, FakeRequest, RateLimited, Turn
from agentkit.testing.script import Responder, ScriptItem

pytestmark = pytest.mark.anyio
Q = [{"role": "user", "content": "question"}]


def limited_first(pause: float, arrivals: list[float]) -> Responder:
    def respond(req: FakeRequest) -> ScriptItem:
        arrivals.append(time.monotonic())
        return RateLimited(pause) if req.index == 0 else Turn(content="ok")

    return respond


async def test_the_retry_waits_at_least_the_retry_after() -> None:
    arrivals: list[float] = []
    with FakeProvider(limited_first(0.4, arrivals)) as fake:
        m = OpenAICompatibleModel(provider="custom", base_url=fake.base_url, retry=RetryPolicy(initial_backoff=0.001))
        out = await m.complete(ModelRequest(messages=Q))
        await m.aclose()
    assert out.content == "ok" and out.attempts == 2
    assert arrivals[1] - arrivals[0] >= 0.4


async def test_a_retry_after_holds_back_the_next_call_of_the_same_client() -> None:
    arrivals: list[float] = []
    with FakeProvider(limited_first(0.5, arrivals)) as fake:
        m = OpenAICompatibleModel(provider="custom", base_url=fake.base_url, retry=RetryPolicy(max_attempts=1))
        with pytest.raises(ModelRetriesExhausted, match="HTTP 429"):
            await m.complete(ModelRequest(messages=Q))
        out = await m.complete(ModelRequest(messages=Q))  # the server asked for 0.5 s of quiet
        await m.aclose()
    assert out.content == "ok"
    assert arrivals[1] - arrivals[0] >= 0.5


async def test_a_retry_after_holds_back_calls_queued_on_the_concurrency_limit() -> None:
    arrivals: list[float] = []
    with FakeProvider(limited_first(1.0, arrivals)) as fake:
        m = OpenAICompatibleModel(
            provider="custom",
            base_url=fake.base_url,
            retry=RetryPolicy(initial_backoff=0.001, max_backoff=0.01),
            concurrency=1,
        )
        async with anyio.create_task_group() as tg:
            for _ in range(2):
                tg.start_soon(m.complete, ModelRequest(messages=Q))
        await m.aclose()
    assert len(arrivals) == 3
    assert all(t - arrivals[0] >= 1.0 for t in arrivals[1:])
