"""Small windows with default settings (no max_tokens): the real openai SDK over loopback
against the fake provider enforcing its window. Every run must finish, never send a request
over the window, and send the latest tool-call turn's reasoning back verbatim every time."""

from __future__ import annotations

import random

import pytest
from context_live import Reader, check_requests, page

from agentkit import Agent, RetryPolicy, tool
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store.events import BudgetDecision
from agentkit.testing import FakeProvider

pytestmark = pytest.mark.anyio


def client(fake: FakeProvider, provider: str = "moonshot") -> OpenAICompatibleModel:
    return OpenAICompatibleModel(
        provider=provider, base_url=fake.base_url, api_key="k", retry=RetryPolicy(initial_backoff=0.001)
    )


async def test_32k_window_150_large_results() -> None:
    """Results of ~3-6k tokens each: the view is pruned every few steps, hard."""

    @tool
    def read(n: int) -> str:
        """Read page n."""
        return page(n, random.Random(-n).randrange(1500, 3000))

    reader = Reader(pages=150, note_every=25)
    with FakeProvider(reader, context_window=32_768) as fake:
        agent = Agent(llm=client(fake), tools=[read], context_window=32_768)
        result = await agent.run("Read pages 1..150 and report the key of every 25th page.")
        await agent.aclose()
    assert result.status == "finished", result.error
    assert result.answer == reader.expected_answer()
    check_requests(fake, reader)
    assert min(int(r.max_output or 0) for r in fake.requests) >= 4096  # the floor: room for a reply


async def test_8k_server_with_defaults() -> None:
    @tool
    def read(n: int) -> str:
        """Read page n."""
        return page(n, 250)

    reader = Reader(pages=40, note_every=10)
    with FakeProvider(reader, context_window=8192) as fake:
        agent = Agent(llm=client(fake, "custom"), tools=[read], context_window=8192)
        result = await agent.run("Read pages 1..40 and report the key of every 10th page.")
        await agent.aclose()
    assert result.status == "finished", result.error
    assert result.answer == reader.expected_answer()
    check_requests(fake, reader)


@pytest.mark.slow
async def test_1000_steps_in_a_32k_window() -> None:
    @tool
    def read(n: int) -> str:
        """Read page n."""
        return page(n, 40)

    reader = Reader(pages=1000, note_every=100, thoughts=4)
    with FakeProvider(reader, context_window=32_768) as fake:
        agent = Agent(llm=client(fake), tools=[read], context_window=32_768, max_steps=1100)
        result = await agent.run("Read pages 1..1000 and report the key of every 100th page.")
        await agent.aclose()
    assert result.status == "finished", result.error
    assert result.answer == reader.expected_answer()
    check_requests(fake, reader)
    events = [e.event for e in await agent.store.events(result.run_id)]
    prunes = [e for e in events if isinstance(e, BudgetDecision) and e.action == "prune"]
    assert len(prunes) < 1000 / 5  # batches: the prompt cache keeps hitting between them


async def test_undeclared_window_is_learned_from_the_overflow_answer() -> None:
    """No window declared (the profile says 262k); the server has 16k and says so in its 400.
    Needs ``ContextLengthExceeded.limit`` from the client (the overflow text is Moonshot's).
    ``plan=False``: the planning call is made outside ``model_turn`` (see the report)."""

    @tool
    def read(n: int) -> str:
        """Read page n."""
        return page(n, 600)

    reader = Reader(pages=40, note_every=10)
    with FakeProvider(reader, context_window=16_384) as fake:
        agent = Agent(llm=client(fake), tools=[read], plan=False)
        result = await agent.run("Read pages 1..40 and report the key of every 10th page.")
        await agent.aclose()
        overflows = list(fake.errors)
        fake.errors.clear()
    assert result.status == "finished", result.error
    assert result.answer == reader.expected_answer()
    assert len(overflows) == 1 and "16384" in overflows[0]  # learned once, then never over again
    assert len(fake.requests) == len(fake.prompt_tokens) + 1
    del fake.requests[0]  # the refused one: the first request asks for 32,768 output tokens
    check_requests(fake, reader)
    events = [e.event for e in await agent.store.events(result.run_id)]
    assert any(isinstance(e, BudgetDecision) and e.action == "window" and e.detail["window"] == 16_384 for e in events)


async def test_undeclared_window_is_learned_from_the_planning_call() -> None:
    """With planning on, the first request (the plan, outside the turn view) is the one the 16k
    server refuses: it learns the window there, and no later request is over it."""

    @tool
    def read(n: int) -> str:
        """Read page n."""
        return page(n, 600)

    reader = Reader(pages=20, note_every=10)
    with FakeProvider(reader, context_window=16_384) as fake:
        agent = Agent(llm=client(fake), tools=[read])
        result = await agent.run("Read pages 1..20 and report the key of every 10th page.")
        await agent.aclose()
        overflows = list(fake.errors)
    assert result.status == "finished", result.error
    assert result.answer == reader.expected_answer() and result.plan
    assert len(overflows) == 1 and "16384" in overflows[0]
    assert result.context_window == 16_384
