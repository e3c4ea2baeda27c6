"""How many of the newest turns keep their reasoning when a prune elides it.

The default keeps two (a bookkeeping call such as ``note`` or ``update_plan`` often follows
the turn that planned the work, and the model continues from that turn's reasoning); the
setting ``keep_reasoning`` is honoured. Found by tools/mutants.py (``elide-keep-one``).
"""

from __future__ import annotations

import pytest

from agentkit.context.builder import ELIDED_REASONING, ContextBuilder, current_cut
from agentkit.context.policy import BatchPrune
from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.store.events import AssistantMessage, BudgetDecision, RunStarted, ToolResultEvent
from agentkit.store.fold import RunState

pytestmark = pytest.mark.anyio
TURNS = 30


def long_run() -> RunState:
    state = RunState(run_id="r")
    state.apply(RunStarted(task="t", config={}))
    for i in range(TURNS):
        calls = [ToolCall(id=f"c{i}", name="read", arguments="{}")]
        state.apply(AssistantMessage(step=i + 1, turn=AssistantTurn(reasoning=f"thought {i} " * 60, tool_calls=calls)))
        state.apply(ToolResultEvent(step=i + 1, call_id=f"c{i}", name="read", text="x " * 400))
    return state


async def prune(builder: ContextBuilder, state: RunState) -> list[str]:
    """The reasoning each shown tool-call turn carries after a hard prune."""

    async def summarise(*args: object) -> tuple[str, dict[str, object]]:
        return "- earlier pages", {}

    async def commit(decision: BudgetDecision) -> None:
        state.apply(decision)

    view = await builder.prepare(state, summarise=summarise, commit=commit, hard=True)
    return [str(m["reasoning_content"]) for m in view.messages if m.get("tool_calls")]


@pytest.mark.parametrize("keep", [None, 1, 3])
async def test_the_newest_turns_keep_their_reasoning_as_many_as_configured(keep: int | None) -> None:
    state = long_run()
    policy = BatchPrune() if keep is None else BatchPrune(keep_reasoning=keep)
    kept = 2 if keep is None else keep
    builder = ContextBuilder(system_prompt="s", reasoning_field="reasoning_content", window=16_384, policy=policy)
    shown = await prune(builder, state)
    assert current_cut(state).elide_before == TURNS - kept
    assert shown[-kept:] == [f"thought {i} " * 60 for i in range(TURNS - kept, TURNS)]
    assert shown[:-kept] and all(r == ELIDED_REASONING for r in shown[:-kept])


async def test_the_builder_default_policy_keeps_two() -> None:
    state = long_run()
    builder = ContextBuilder(system_prompt="s", reasoning_field="reasoning_content", window=16_384)
    shown = await prune(builder, state)
    assert shown[-2:] == [f"thought {i} " * 60 for i in (TURNS - 2, TURNS - 1)]
    assert shown[-3] == ELIDED_REASONING
