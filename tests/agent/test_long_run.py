"""300 sequential tool calls through the real openai SDK against the fake provider over
loopback, with every fault kind injected along the way."""

from __future__ import annotations

import pytest

from agentkit import Agent, RetryPolicy, tool
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store.events import ToolResultEvent
from agentkit.testing import (
    Delay,
    DropStream,
    FakeProvider,
    FakeRequest,
    FakeToolCall,
    RateLimited,
    ServerError,
    TruncateStream,
    Turn,
    call,
)

pytestmark = pytest.mark.anyio

N = 300
FAULTS = {
    7: RateLimited(0.01),
    41: ServerError(500),
    77: DropStream(4),
    113: TruncateStream(3),
    150: ServerError(503),
    188: Delay(0.05),
    222: RateLimited(0.02),
    260: DropStream(2),
}
MALFORMED = {30, 99, 205, 290}  # steps whose arguments arrive broken


def responder() -> object:
    injected: set[int] = set()
    broken: set[int] = set()

    def respond(req: FakeRequest) -> object:
        if not req.tools:
            return Turn(content="1. Add the numbers 1..300 one call at a time.\n2. Report the total.")
        results = [m["content"] for m in req.messages if m["role"] == "tool"]
        # Old results are hidden by the context policy; the latest good one is always visible.
        good = [r for r in results if r.startswith("total=")]
        done = int(good[-1].split("n=")[1]) if good else 0
        step = len(results)
        if step in FAULTS and step not in injected:
            injected.add(step)
            return FAULTS[step]
        if done < N:
            if step in MALFORMED and step not in broken:
                broken.add(step)
                return Turn(reasoning=f"adding {done + 1}", tool_calls=[FakeToolCall("add", '{"n": ')])
            return Turn(reasoning=f"adding {done + 1}", tool_calls=[call("add", n=done + 1)])
        total = good[-1].split()[0].removeprefix("total=")
        return Turn(reasoning="all added", content=f"The total is {total}.")

    return respond


async def test_300_tool_calls_with_every_fault_kind() -> None:
    total = 0

    @tool
    async def add(n: int) -> str:
        """Add n to the running total."""
        nonlocal total
        total += n
        return f"total={total} n={n}"

    with FakeProvider(responder(), keep_requests=False) as fake:  # type: ignore[arg-type]
        llm = OpenAICompatibleModel(
            provider="moonshot",
            base_url=fake.base_url,
            api_key="sk-test",
            retry=RetryPolicy(initial_backoff=0.001, max_backoff=0.01),
        )
        restarts: list[int] = []
        agent = Agent(
            llm=llm,
            tools=[add],
            max_steps=N + 20,
            on_event=lambda e: restarts.append(e.attempt) if e.kind == "stream_restarted" else None,
        )
        result = await agent.run("Add the numbers from 1 to 300 with the add tool.")
        await agent.aclose()
        assert fake.errors == []  # no 400: reasoning and tool messages always sent back
        served = set(fake.faults_served)
    assert {"RateLimited", "ServerError", "DropStream", "TruncateStream", "Delay"} <= served
    assert restarts and set(restarts) == {2}  # live views were told to drop the broken streams' text
    assert result.status == "finished", result.error
    assert result.answer == f"The total is {N * (N + 1) // 2}."
    events = [e.event for e in await agent.store.events(result.run_id)]
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    ok = [e for e in results if not e.is_error]
    assert len(ok) == N and len(results) == N + len(MALFORMED)
    assert all("Could not parse the arguments" in e.text for e in results if e.is_error)
    assert ok[-1].text == f"total={N * (N + 1) // 2} n={N}"
