"""Context budgeting against the fake provider with a 32k window that answers 400 on overflow."""

from __future__ import annotations

import random
import re

import pytest

from agentkit import Agent, RetryPolicy, tool
from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store.events import BudgetDecision, ToolResultEvent
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

pytestmark = pytest.mark.anyio
READS = 160
WINDOW = 32_768


def page(n: int) -> str:
    rng = random.Random(n)
    words = " ".join(f"t{rng.randrange(10**5)}" for _ in range(1500))
    return f"page {n}: {words}"


def responder(req: FakeRequest) -> Turn:
    messages = req.messages
    if messages[0]["content"] == SUMMARY_SYSTEM:
        steps = re.findall(r"## Step (\d+)", messages[-1]["content"])
        return Turn(content=f"- read pages through step {steps[-1] if steps else '?'}; nothing else found")
    if not req.tools:
        return Turn(content="1. Read pages one by one.\n2. Note every 25th page's key.\n3. Report the keys.")
    text = req.text()
    seen = [int(n) for n in re.findall(r"page (\d+):", text)]
    last = max(seen, default=0)
    prev = messages[-1]
    if last and last % 25 == 0 and f"key {last}=" not in text and prev.get("role") == "tool":
        return Turn(reasoning="note it", tool_calls=[call("note", text=f"key {last}={last * 7}")])
    if last < READS:
        return Turn(reasoning=f"Page {last} read; next is {last + 1}. " * 20, tool_calls=[call("read", n=last + 1)])
    keys = sorted(set(re.findall(r"key (\d+)=(\d+)", text)), key=lambda kv: int(kv[0]))
    return Turn(content="keys: " + ", ".join(f"{k}={v}" for k, v in keys))


async def test_long_run_with_large_results_stays_inside_a_32k_window() -> None:
    @tool
    def read(n: int) -> str:
        """Read page n."""
        return page(n)

    with FakeProvider(responder, context_window=WINDOW, keep_requests=True) as fake:
        llm = OpenAICompatibleModel(
            provider="moonshot", base_url=fake.base_url, api_key="k", retry=RetryPolicy(initial_backoff=0.001)
        )
        agent = Agent(llm=llm, tools=[read], max_steps=400, max_tokens=4096, context_window=WINDOW)
        result = await agent.run("Read pages 1..160 and report the keys of every 25th page.")
        await agent.aclose()
        assert fake.errors == []  # never a 400: no request over the window
        assert max(fake.prompt_tokens) <= WINDOW - 4096
        last = fake.requests[-1].text()
    expected = ", ".join(f"{k}={k * 7}" for k in range(25, READS + 1, 25))
    assert result.status == "finished", result.error
    assert result.answer == f"keys: {expected}"
    for k in range(25, READS + 1, 25):  # pinned notes are still visible at the end
        assert f"key {k}={k * 7}" in last
    events = [e.event for e in await agent.store.events(result.run_id)]
    reads = [e for e in events if isinstance(e, ToolResultEvent) and e.name == "read"]
    assert len(reads) == READS
    prunes = [e for e in events if isinstance(e, BudgetDecision) and e.action == "prune"]
    assert 0 < len(prunes) < READS / 2  # batches, not every step
