"""Swarm wall time and memory: one lead delegates N sub-agents in one turn (one delegate call
with N subtasks); each sub-agent makes 2 tool calls and answers (3 model calls), the lead
makes 2. The fake provider runs in its own process with LATENCY s per call.

    python tools/bench/swarm.py [--n 100] [--latency 0.25] [--repeat 3]

It prints the wall time of 1 and of N sub-agents with the concurrency limit at N (the goal:
within 1.5x one sub-agent's) and at the default (16), and the memory each sub-agent adds
(Python heap by tracemalloc, in a separate pass since tracing slows the run; and RSS). The
client's own CPU per model call (~3-4 ms, mostly the HTTP stack) is what the wide swarm adds
on top of the latency: on a loaded machine it shows.
"""

from __future__ import annotations

import argparse
import gc
import re
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fake_provider_process, median

from agentkit import Agent, RetryPolicy, tool
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.testing import FakeRequest, Turn, call

TOOL_CALLS = 2


def make() -> Callable[[FakeRequest], Any]:
    """The fake provider's script (``--responder swarm:make``)."""

    def respond(req: FakeRequest) -> Any:
        task = str(req.messages[1]["content"])
        done = [m for m in req.messages if m["role"] == "tool"]
        m = re.match(r"Part (\d+) of (\d+):", task)
        if m is not None:  # a sub-agent
            if len(done) < TOOL_CALLS:
                return Turn(reasoning="read on", tool_calls=[call("read_page", n=len(done) + 1)])
            return Turn(content=f"part {m.group(1)}: 42")
        if not done:  # the lead
            n = int(task.split()[1])
            subtasks = [{"question": f"Part {k} of {n}: read the pages.", "tools": ["read_page"]} for k in range(n)]
            return Turn(reasoning="split it", tool_calls=[call("delegate", subtasks=subtasks)])
        return Turn(content=f"{done[0]['content'].count(': 42')} parts answered")

    return respond


@tool
def read_page(n: int) -> str:
    """Read page n."""
    return f"page {n}: " + "lorem ipsum " * 50


async def lead(base_url: str, n: int, concurrency: int) -> tuple[float, str]:
    llm = OpenAICompatibleModel(
        provider="moonshot", base_url=base_url, api_key="bench", retry=RetryPolicy(initial_backoff=0.01)
    )
    settings = {"swarm": {"concurrency": concurrency, "max_children": max(n, 1), "max_per_turn": max(n, 1)}}
    start = time.perf_counter()
    async with Agent(llm=llm, tools=[read_page], plan=False, delegate=True, settings=settings) as agent:
        result = await agent.run(f"Delegate {n} parts.")
    return time.perf_counter() - start, result.answer


async def heap_per_child(base_url: str, n: int) -> float:
    """Peak Python heap of a swarm of n over that of a swarm of 1, per extra sub-agent (KiB)."""
    peaks = []
    for size in (1, n):
        gc.collect()
        tracemalloc.start()
        await lead(base_url, size, size)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return (peaks[1] - peaks[0]) / (n - 1) / 1024


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def timed(base_url: str, n: int, concurrency: int, repeat: int) -> tuple[float, str]:
    """The median wall time of ``repeat`` runs, and the last answer."""
    walls, answer = [], ""
    for _ in range(repeat):
        wall, answer = await lead(base_url, n, concurrency)
        walls.append(wall)
    return median(walls), answer


async def main_async(n: int, latency: float, repeat: int) -> None:
    with fake_provider_process("swarm:make", latency=latency) as base_url:
        calls = TOOL_CALLS + 1
        print(f"each sub-agent: {calls} model calls + {TOOL_CALLS} tool calls; lead: 2 calls; {latency} s per call")
        print(f"median of {repeat} runs each, after a first swarm of {n} (imports, {n} connections opened)")
        rss_before = rss_mb()
        first, _ = await lead(base_url, n, n)
        rss_after = rss_mb()
        one, _ = await timed(base_url, 1, 1, repeat)
        print(f"1 sub-agent:             wall {one:5.2f} s")
        wide, answer = await timed(base_url, n, n, repeat)
        print(f"{n} sub-agents (conc. {n}): wall {wide:5.2f} s = {wide / one:.2f}x one ({answer!r}); goal <= 1.5x")
        print(f"   (the first swarm, opening its connections: {first:5.2f} s = {first / one:.2f}x)")
        narrow, _ = await timed(base_url, n, 16, repeat)
        waves = -(-n // 16)
        print(f"{n} sub-agents (conc. 16):  wall {narrow:5.2f} s = {narrow / one:.2f}x one ({waves} waves of 16)")
        heap = await heap_per_child(base_url, n)
        print(f"memory per sub-agent: {heap:.0f} KiB peak Python heap (tracemalloc, {n} vs 1)")
        per = (rss_after - rss_before) * 1024 / n
        print(f"peak RSS grew {rss_after - rss_before:.1f} MB during the first swarm of {n} (~{per:.0f} KiB each)")
        print(f"peak RSS of the process: {rss_mb():.0f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    anyio.run(main_async, args.n, args.latency, args.repeat)
