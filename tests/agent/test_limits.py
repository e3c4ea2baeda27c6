"""Run limits: cost, tokens and time stop the run with the best answer so far."""

from __future__ import annotations

import anyio
import pytest

from agentkit import Agent, tool
from agentkit.store.events import UserMessage
from agentkit.testing import ScriptedModel, Turn, call

pytestmark = pytest.mark.anyio


@tool
async def work(n: int) -> str:
    """Do a unit of work."""
    await anyio.sleep(0.05)
    return f"unit {n} done " + "x" * 2000


def busy(n: int) -> list[object]:
    return [Turn(content=f"interim answer {i}", reasoning="r " * 200, tool_calls=[call("work", n=i)]) for i in range(n)]


@pytest.mark.parametrize(
    ("kwargs", "limit"),
    [
        ({"max_cost_usd": 0.01}, "max_cost_usd"),  # a few steps at kimi-k3 prices
        ({"max_run_tokens": 4000}, "max_tokens"),
        ({"max_seconds": 0.4}, "max_seconds"),
    ],
)
async def test_limits_stop_with_the_best_answer(kwargs: dict[str, float], limit: str) -> None:
    agent = Agent(llm=ScriptedModel(busy(200)), tools=[work], plan=False, **kwargs)  # type: ignore[arg-type]
    result = await agent.run("work until stopped")
    assert result.status == "stopped"
    assert (result.stop_reason or "").startswith(limit)
    assert result.answer.startswith("interim answer")
    events = [e.event for e in await agent.store.events(result.run_id)]
    assert any(isinstance(e, UserMessage) and e.kind == "wrap_up" for e in events)


async def test_cost_is_reported_with_cache_hits_priced_apart() -> None:
    agent = Agent(
        llm=ScriptedModel([Turn(tool_calls=[call("work", n=1)]), Turn(content="ok")]), tools=[work], plan=False
    )
    result = await agent.run("x")
    u = result.usage
    assert u.calls == 2 and u.prompt_tokens > 0 and result.cost_usd > 0
    row = await agent.store.get_run(result.run_id)
    assert row.cost_usd == pytest.approx(result.cost_usd) and row.usage == u


async def test_cache_hits_are_priced_apart_over_real_http() -> None:
    """The fake reports prefix-cache hits as Moonshot does; hits cost a quarter of misses."""
    from agentkit.llm.client import OpenAICompatibleModel
    from agentkit.llm.profiles import Prices
    from agentkit.testing import FakeProvider

    prices = Prices(input_miss=0.60, input_hit=0.15, output=2.50)
    script = [Turn(tool_calls=[call("work", n=i)]) for i in range(4)] + [Turn(content="ok")]
    with FakeProvider(script) as fake:
        llm = OpenAICompatibleModel("kimi-k2-thinking", "custom", base_url=fake.base_url, prices=prices)
        async with Agent(llm=llm, tools=[work], plan=False) as agent:
            result = await agent.run("x")
        served_cached = sum(fake.cached_tokens)
    u = result.usage
    assert u.cached_tokens == served_cached > u.prompt_tokens / 2  # most of each prompt was a cache hit
    expected = ((u.prompt_tokens - u.cached_tokens) * 0.60 + u.cached_tokens * 0.15 + u.completion_tokens * 2.50) / 1e6
    assert result.cost_usd == pytest.approx(expected)


async def test_the_cost_cap_holds_when_every_reply_uses_all_its_output_tokens() -> None:
    """The worst case fit_to_budget plans for: each reply is exactly ``max_tokens`` long (the
    fake's usage reports them as completion tokens), so the last call's prompt and its whole
    output must both fit the money left. A cap that forgot the prompt's cost would overshoot
    by it (here by ~$0.56 of $5)."""
    from agentkit.llm.client import OpenAICompatibleModel
    from agentkit.llm.profiles import Prices
    from agentkit.testing import FakeProvider, FakeRequest, count_tokens

    prices = Prices(input_miss=100.0, input_hit=25.0, output=400.0)

    def every_token(req: FakeRequest) -> Turn:
        n = int(req.body["max_tokens"])
        text = " ".join(["w"] * n)
        assert count_tokens(text) == n
        return Turn(content=text, completion_tokens=n, tool_calls=[call("work", n=req.index)])

    with FakeProvider(every_token) as fake:
        llm = OpenAICompatibleModel("m", "custom", base_url=fake.base_url, prices=prices)
        async with Agent(llm=llm, tools=[work], plan=False, max_cost_usd=5.0, max_tokens=4000) as agent:
            result = await agent.run("work until the money is spent")
        sent = [r.body["max_tokens"] for r in fake.requests]
    assert result.status == "stopped" and (result.stop_reason or "").startswith("max_cost_usd")
    assert result.usage.completion_tokens == sum(sent)  # every reply used all it was given
    assert sent[0] == 4000 and 256 <= sent[-1] < 4000  # the last call was fitted, not refused
    assert result.cost_usd <= 5.0
