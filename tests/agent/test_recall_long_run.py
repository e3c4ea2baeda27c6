"""Issue #24's done-means: a 300-step run against the strict fake provider (real openai SDK,
real HTTP, real SQLite store), whose early tool results the context budget hid, gets a fact
from step 5 back through ``recall``; the recall result is counted by the budget like any
other tool result."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentkit import Agent, tool
from agentkit.context.tokens import TokenEstimator
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store import SQLiteStore, ToolResultEvent
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.tools.recall import DEFAULT_MAX_TOKENS, RecallTool

pytestmark = pytest.mark.anyio

OBSERVATIONS = 296  # steps 1-296 observe, 297 recalls, 298 answers: within max_steps=300
CODE = "PLUM-4471"


@tool
def observe(n: int) -> str:
    """Record observation n."""
    if n == 5:
        return f"Observation 5: the vault code is {CODE}, painted on the blue door."
    return f"Observation {n}: the corridor was quiet; nothing about doors or codes. " + f"n{n} " * 40


def _last_observation(req: FakeRequest) -> int:
    """The n of the latest ``observe`` call in the request (0 before the first)."""
    for m in reversed(req.messages):
        for c in m.get("tool_calls") or []:
            if c["function"]["name"] == "observe":
                return int(orjson.loads(c["function"]["arguments"])["n"])
    return 0


class Model:
    """The scripted model: observes, then needs step 5's fact, which the budget hid."""

    def __init__(self) -> None:
        self.before_recall: FakeRequest | None = None
        self.final: FakeRequest | None = None

    def __call__(self, req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Observe 296 times.\n2. Report the vault code.")
        results = [m for m in req.messages if m["role"] == "tool"]
        done = _last_observation(req)  # not the results in view: the budget may summarise old turns
        if done < OBSERVATIONS:
            return Turn(reasoning=f"observing {done + 1}", tool_calls=[call("observe", n=done + 1)])
        if self.before_recall is None:
            self.before_recall = req
            return Turn(reasoning="I need the code from early on", tool_calls=[call("recall", query="vault code")])
        self.final = req
        found = re.search(r"PLUM-\d+", str(results[-1]["content"]))
        return Turn(reasoning="recalled", content=f"The vault code is {found.group() if found else 'unknown'}.")


async def test_a_fact_from_step_5_comes_back_through_recall_after_300_steps(tmp_path: Path) -> None:
    model = Model()
    turns: dict[int, int] = {}
    with FakeProvider(model) as fake:
        llm = OpenAICompatibleModel(provider="moonshot", base_url=fake.base_url, api_key="sk-test")
        async with SQLiteStore(tmp_path / "agentkit.db") as store:
            agent = Agent(
                llm=llm,
                store=store,
                tools=[observe, RecallTool()],
                max_steps=300,
                on_event=lambda e: turns.__setitem__(e.step, e.context_tokens) if e.kind == "turn_started" else None,
            )
            result = await agent.run("Observe, then report the vault code.")
            await agent.aclose()
            events = [e.event for e in await store.events(result.run_id)]
        assert fake.errors == []  # the strict service accepted every request
    assert result.status == "finished", result.error
    assert result.answer == f"The vault code is {CODE}."
    assert result.steps == OBSERVATIONS + 2

    # Before recall: step 5's result was hidden by the budget, and its notice named recall.
    assert model.before_recall is not None and model.final is not None
    tool_messages: list[dict[str, Any]] = [m for m in model.before_recall.messages if m["role"] == "tool"]
    fifth = str(tool_messages[4]["content"])
    assert fifth.startswith("[observe result hidden to save context") and 'recall("words from it")' in fifth
    assert CODE not in orjson.dumps(model.before_recall.messages).decode()

    # The recall result: the step-5 passage, named by its step, within the tool's cap.
    (recalled,) = [e for e in events if isinstance(e, ToolResultEvent) and e.name == "recall"]
    assert recalled.step == OBSERVATIONS + 1 and not recalled.is_error
    assert f"[step 5 · observe result] Observation 5: the vault code is {CODE}" in recalled.text
    assert TokenEstimator().estimate(len(recalled.text.encode())) <= DEFAULT_MAX_TOKENS

    # The budget counts it: it is in the view sent, and the view's estimate covers that view.
    final_messages = model.final.messages
    last = final_messages[-1]
    assert (last["role"], last["tool_call_id"], last["content"]) == ("tool", recalled.call_id, recalled.text)
    sent = sum(len(orjson.dumps(m)) for m in final_messages)
    assert turns[OBSERVATIONS + 2] >= sent // 4  # >= 0.25 tokens per byte: the estimator's floor
