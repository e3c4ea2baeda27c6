"""Runs for the viewer's tests, driven by the real loop against the fake provider over
loopback (the real openai SDK, real SQLite): a long run with prunes, summaries and plan
revisions; a heavy run with delegating trajectories; a run held in progress; hostile text; a
run with a fork and a fork of the fork."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agentkit import Agent, RetryPolicy, tool
from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.ensembles.heavy import AGGREGATE_SYSTEM, SELECT_SYSTEM
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.report import store_report, write_report
from agentkit.store import Source, SQLiteStore
from agentkit.testing import FakeProvider, FakeRequest, ScriptedModel, Turn, call

HOSTILE = (
    '</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    '<a href="javascript:window.__pwned = 3">click</a><svg onload="window.__pwned = 4"></svg>'
    "<style>body{display:none}</style><!-- -->]]>"
)


@tool
async def add(n: int) -> str:
    """Add n to the running total."""
    return f"added {n}; " + "the ledger line for this number reads fine. " * 6


def llm(fake: FakeProvider) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(
        provider="moonshot", base_url=fake.base_url, api_key="sk-test", retry=RetryPolicy(initial_backoff=0.001)
    )


def long_responder(steps: int) -> Callable[[FakeRequest], Any]:
    """``steps`` tool-call turns (a plan revision at the middle), then an answer."""
    served = [0]

    def respond(req: FakeRequest) -> Turn:
        system = req.messages[0]["content"]
        if system == SUMMARY_SYSTEM:
            return Turn(content="- Added the numbers so far one at a time; the ledger reads fine.")
        if not req.tools:
            return Turn(content="1. Add the numbers one at a time.\n2. Report the total.")
        served[0] += 1
        n = served[0]
        if n == steps // 2:
            return Turn(
                reasoning="Halfway: the plan holds, mark the first part done.",
                tool_calls=[call("update_plan", plan="1. (half done) Add the numbers.\n2. Report.", reason="halfway")],
            )
        if n <= steps:
            thinking = f"Step {n}: add {n} next. " + "Keep the running total in mind and check the ledger. " * 4
            return Turn(reasoning=thinking, tool_calls=[call("add", n=n)])
        return Turn(reasoning="All added.", content=f"Added the numbers 1 to {steps}.")

    return respond


async def long_run(store: SQLiteStore, steps: int = 300) -> str:
    with FakeProvider(long_responder(steps), keep_requests=False) as fake:
        async with Agent(
            llm=llm(fake),
            tools=[add],
            store=store,
            max_steps=steps + 5,
            context_window=12_000,
            max_tokens=2048,
            keep_tool_results=8,
        ) as agent:
            result = await agent.run(f"Add the numbers from 1 to {steps} with the add tool.")
    assert result.status == "finished", result
    return result.run_id


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: the atlas says Paris [source S0a1b2c3d]"


def heavy_responder() -> Callable[[FakeRequest], Any]:
    def respond(req: FakeRequest) -> Turn:
        system = req.messages[0]["content"]
        if system == AGGREGATE_SYSTEM:
            return Turn(content="Paris. Most trajectories agreed; one named Lyon.")
        if system == SELECT_SYSTEM:
            return Turn(content="1\nIt cites the atlas.")
        seed = int(req.body.get("seed") or 0)
        if not req.tools:
            return Turn(content="1. Look it up.\n2. Answer.")
        tools = [m for m in req.messages if m["role"] == "tool"]
        if not tools:
            return Turn(reasoning="Look it up first.", tool_calls=[call("lookup", term=f"capital of France #{seed}")])
        lead = "capital of France" in str(req.messages[1]["content"])  # a trajectory, not its sub-agent
        if len(tools) == 1 and seed == 0 and lead:
            return Turn(reasoning="Hand the check to a sub-agent.", tool_calls=[call("delegate", question="Confirm.")])
        return Turn(content="The answer is Lyon." if seed == 2 else "The answer is Paris.")

    return respond


async def heavy_run(store: SQLiteStore, n: int = 3) -> str:
    with FakeProvider(heavy_responder()) as fake:
        async with Agent(
            llm=llm(fake), tools=[lookup], store=store, heavy=n, aggregate="reflective", delegate=True
        ) as agent:
            result = await agent.run("What is the capital of France?")
    assert result.status == "finished", result
    return result.run_id


class Held:
    """A run that stops at its ``hold_at``-th execution request until released: in progress,
    its driver alive and holding its lease."""

    def __init__(self, hold_at: int = 3) -> None:
        self.hold_at = hold_at
        self.waiting = threading.Event()
        self.release = threading.Event()

    def respond(self, req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Count.\n2. Answer.")
        n = sum(1 for m in req.messages if m.get("tool_calls")) + 1
        if n == self.hold_at:
            self.waiting.set()
            assert self.release.wait(120), "the test never released the held run"
        if n <= self.hold_at:
            return Turn(reasoning=f"step {n}", tool_calls=[call("add", n=n)])
        return Turn(content="Counted.")


async def hostile_run(store: SQLiteStore, tmp: Path) -> str:
    """Model, tool and page text that tries to run script, in every place the page shows text."""

    @tool
    async def web(query: str) -> str:
        """Search."""
        return f"{HOSTILE} [source Sbadbadba] {HOSTILE}"

    def respond(req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content=f"1. {HOSTILE}")
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(reasoning=HOSTILE, content=HOSTILE, tool_calls=[call("web", query=HOSTILE)])
        return Turn(reasoning=HOSTILE, content=f"{HOSTILE} [Sbadbadba]")

    with FakeProvider(respond) as fake:
        async with Agent(llm=llm(fake), tools=[web], store=store, workdir=tmp / "runs") as agent:
            result = await agent.run(HOSTILE)
    await store.add_source(
        result.run_id, Source(id="Sbadbadba", url="javascript:window.__pwned=5", title=HOSTILE, kind="page")
    )
    writer = ScriptedModel(
        [Turn(content=orjson.dumps([HOSTILE]).decode()), Turn(content=f"Paris is big {HOSTILE} [Sbadbadba].")]
    )
    report = await write_report(store, result.run_id, writer, title=HOSTILE)
    await store_report(store, result.run_id, report)
    return result.run_id


@dataclass(frozen=True)
class Forked:
    """A run, a fork of it and a fork of that fork (each with its own model)."""

    parent: str
    fork: str
    grandchild: str


def fork_responder(req: FakeRequest) -> Turn:
    """Five look-ups, then an answer; every turn names the model that made it."""
    model = str(req.body["model"])
    done = sum(1 for m in req.messages if m["role"] == "tool")
    if done < 5:
        return Turn(reasoning=f"{model} thinks about step {done + 1}", tool_calls=[call("lookup", term=f"t{done + 1}")])
    return Turn(reasoning=f"{model} is done", content=f"answer by {model}")


async def forked_runs(store: SQLiteStore) -> Forked:
    """A parent run (model-a), a fork of it at step 2 (model-b, its own instructions) and a
    fork of that fork at step 4 (model-c)."""
    with FakeProvider(fork_responder) as fake:
        model = OpenAICompatibleModel(
            "model-a", "moonshot", base_url=fake.base_url, api_key="sk-test", retry=RetryPolicy(initial_backoff=0.001)
        )
        async with Agent(llm=model, tools=[lookup], store=store, plan=False) as agent:
            parent = await agent.run("Look five terms up.")
            fork = await agent.fork(parent.run_id, 2, model="model-b", instructions=f"Be brief. {HOSTILE}")
            grandchild = await agent.fork(fork.run_id, 4, model="model-c")
        assert fake.errors == []
    for result in (parent, fork, grandchild):
        assert result.status == "finished", result
    return Forked(parent.run_id, fork.run_id, grandchild.run_id)
