"""The output room of each request, the reserve pruning keeps for it, and windows learned
during a run."""

from __future__ import annotations

import random

import pytest
from context_live import Reader, check_requests, page

from agentkit import Agent, RetryPolicy, tool
from agentkit.context.builder import (
    ELIDED_REASONING,
    ContextBudgetExceeded,
    ContextBuilder,
    current_cut,
    learned_window,
)
from agentkit.context.policy import BatchPrune
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.store.events import AssistantMessage, BudgetDecision, RunStarted, ToolResultEvent
from agentkit.store.fold import RunState
from agentkit.testing import FakeProvider

pytestmark = pytest.mark.anyio


def builder(window: int, max_tokens: int | None = None) -> ContextBuilder:
    return ContextBuilder(system_prompt="s", reasoning_field="reasoning_content", window=window, max_tokens=max_tokens)


def test_max_tokens_is_the_room_the_prompt_leaves_capped_and_floored() -> None:
    b = builder(32_768)
    assert b.reserve == 8192 and b.floor == 4096 and b.budget == 32_768 - 8192 - 1024
    assert b.answer_tokens(1_000) == 32_768 - 1_000 - 1024  # all the room there is
    assert b.answer_tokens(24_000) == 32_768 - 24_000 - 1024
    assert b.answer_tokens(30_000) == 4096  # the floor (prepare never sends such a view)
    assert builder(262_144).answer_tokens(1_000) == 32_768  # the profile's default caps it
    assert builder(262_144).reserve == 32_768
    configured = builder(32_768, max_tokens=2000)
    assert configured.answer_tokens(1_000) == 2000 and configured.floor == 2000  # never above the user's value
    small = builder(8192)
    assert small.reserve == 2048 and small.floor == 2048 and small.margin == 256


async def test_only_a_view_that_leaves_less_than_the_floor_fails() -> None:
    state = RunState(run_id="r")
    state.apply(RunStarted(task="t " * 30_000, config={}))  # ~26k tokens estimated

    async def never(*args: object) -> tuple[str, dict[str, object]]:
        raise AssertionError("nothing to summarise")

    async def commit(decision: BudgetDecision) -> None:
        state.apply(decision)

    view = await builder(32_768).prepare(state, summarise=never, commit=commit)  # over the budget, fits the floor
    assert 32_768 - view.tokens - 1024 >= 4096
    with pytest.raises(ContextBudgetExceeded, match="under the 2,048 a reply needs"):
        await builder(8192).prepare(state, summarise=never, commit=commit)


def test_a_stated_window_is_kept_for_the_rest_of_the_run() -> None:
    state = RunState(run_id="r")
    assert learned_window(state, 262_144) == 262_144
    state.apply(BudgetDecision(action="window", detail={"window": 16_384, "stated": True}))
    assert learned_window(state, 262_144) == 16_384
    assert learned_window(state, 8192) == 8192  # a smaller declared window wins
    b = builder(262_144)
    assert b.learn_window(16_384) and b.window == 16_384 and b.reserve == 4096
    assert not b.learn_window(65_536) and b.window == 16_384  # never grows back


async def test_the_latest_turn_keeps_its_reasoning_through_every_prune() -> None:
    """Unit view of the bug: a prune that elides reasoning used to elide every turn's,
    including the one whose results the model is about to read."""
    state = RunState(run_id="r")
    state.apply(RunStarted(task="t", config={}))
    for i in range(30):
        calls = [ToolCall(id=f"c{i}", name="read", arguments="{}")]
        state.apply(AssistantMessage(step=i + 1, turn=AssistantTurn(reasoning=f"thought {i} " * 60, tool_calls=calls)))
        state.apply(ToolResultEvent(step=i + 1, call_id=f"c{i}", name="read", text="x " * 400))

    async def summarise(*args: object) -> tuple[str, dict[str, object]]:
        return "- earlier pages", {}

    async def commit(decision: BudgetDecision) -> None:
        state.apply(decision)

    b = builder(16_384)
    b.policy = BatchPrune(keep_reasoning=1)
    view = await b.prepare(state, summarise=summarise, commit=commit, hard=True)
    assert current_cut(state).elide_before == 29
    calls = [m for m in view.messages if m.get("tool_calls")]
    assert calls[-1]["reasoning_content"] == "thought 29 " * 60
    assert all(m["reasoning_content"] == ELIDED_REASONING for m in calls[:-1])


async def test_a_server_that_sends_no_usage() -> None:
    """No usage in the stream: the loop must not calibrate on its own estimate (each call
    would raise the ratio by the margin, and the view would be pruned away)."""

    @tool
    def read(n: int) -> str:
        """Read page n."""
        return page(n, random.Random(-n).randrange(1500, 3000))

    reader = Reader(pages=60, note_every=20)
    with FakeProvider(reader, context_window=32_768, send_usage=False) as fake:
        llm = OpenAICompatibleModel(
            provider="moonshot", base_url=fake.base_url, api_key="k", retry=RetryPolicy(initial_backoff=0.001)
        )
        agent = Agent(llm=llm, tools=[read], context_window=32_768)
        result = await agent.run("Read pages 1..60 and report the key of every 20th page.")
        await agent.aclose()
    assert result.status == "finished", result.error
    assert result.answer == reader.expected_answer()
    check_requests(fake, reader)
