"""What ``agentkit view`` costs on a long run: a scripted 300-step run (prunes, summaries, a
plan revision), then the page generated from its store, several times.

    python tools/bench/view.py [--steps 300] [--repeat 3]

Prints the run's size (events, steps), the time to gather the view from the store, to draw
the two charts and to render the page (median of --repeat), and the page's size: total, the
charts' SVG, and gzipped.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from agentkit import Agent, RetryPolicy, tool
from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store import SQLiteStore
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.view import gather, render_page


@tool
async def add(n: int) -> str:
    """Add n to the running total."""
    return f"added {n}; " + "the ledger line for this number reads fine. " * 6


def responder(steps: int) -> Any:
    served = [0]

    def respond(req: FakeRequest) -> Turn:
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content="- Added the numbers so far one at a time; the ledger reads fine.")
        if not req.tools:
            return Turn(content="1. Add the numbers one at a time.\n2. Report the total.")
        served[0] += 1
        n = served[0]
        if n == steps // 2:
            return Turn(tool_calls=[call("update_plan", plan="1. (half done) Add.\n2. Report.", reason="halfway")])
        if n <= steps:
            thinking = f"Step {n}: add {n} next. " + "Keep the running total in mind and check the ledger. " * 4
            return Turn(reasoning=thinking, tool_calls=[call("add", n=n)])
        return Turn(content=f"Added the numbers 1 to {steps}.")

    return respond


async def build(store: SQLiteStore, steps: int) -> str:
    with FakeProvider(responder(steps), keep_requests=False) as fake:
        llm = OpenAICompatibleModel(
            provider="moonshot", base_url=fake.base_url, api_key="sk-bench", retry=RetryPolicy(initial_backoff=0.001)
        )
        async with Agent(
            llm=llm, tools=[add], store=store, max_steps=steps + 5, context_window=12_000, max_tokens=2048
        ) as agent:
            result = await agent.run(f"Add the numbers from 1 to {steps}.")
    return result.run_id


async def main(steps: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        try:
            started = time.perf_counter()
            run_id = await build(store, steps)
            built = time.perf_counter() - started
            events = len(await store.events(run_id))
            gathered, rendered = [], []
            page = ""
            for _ in range(repeat):
                t0 = time.perf_counter()
                view = await gather(store, run_id)
                t1 = time.perf_counter()
                page = render_page(view)
                t2 = time.perf_counter()
                gathered.append(t1 - t0)
                rendered.append(t2 - t1)
        finally:
            await store.aclose()
    svg = sum(len(m) for m in re.findall(r"<svg .*?</svg>", page, re.DOTALL))
    print(f"run: {len(view.steps)} steps, {events} events, built in {built:.1f} s")
    print(f"gather (store -> view model): {statistics.median(gathered) * 1000:.0f} ms")
    print(f"render (charts + HTML):       {statistics.median(rendered) * 1000:.0f} ms")
    total = statistics.median(g + r for g, r in zip(gathered, rendered, strict=True))
    print(f"total generation:             {total * 1000:.0f} ms")
    size, packed = len(page.encode()), len(gzip.compress(page.encode()))
    print(f"page: {size / 1024:.0f} KiB ({svg / 1024:.0f} KiB of chart SVG), {packed / 1024:.0f} KiB gzipped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    anyio.run(main, args.steps, args.repeat)
