"""Heavy mode wall time and memory: 1, 4 and 8 trajectories of a scripted 10-step run with
0.25 s of provider latency per call (fake provider in its own process).

    python tools/bench/heavy.py
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fake_provider_process
from _overhead_clock import page_text

from agentkit import Agent, RetryPolicy, tool
from agentkit.llm.client import OpenAICompatibleModel

LATENCY = 0.25


@tool
def read_page(n: int) -> str:
    """Read page n."""
    return page_text(n)


async def one(base_url: str, n: int) -> tuple[float, float, str]:
    llm = OpenAICompatibleModel(
        provider="moonshot", base_url=base_url, api_key="bench", retry=RetryPolicy(initial_backoff=0.01)
    )
    tracemalloc.start()
    start = time.perf_counter()
    async with Agent(llm=llm, tools=[read_page], heavy=n) as agent:
        result = await agent.run("What is the answer?")
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return wall, peak / 2**20, result.answer


async def main_async() -> None:
    with fake_provider_process("_heavy_scenario:make", latency=LATENCY) as base_url:
        print(f"scripted run: plan + 10 tool calls + answer (12 calls), {LATENCY} s latency per call")
        base = None
        for n in (1, 4, 8):
            wall, heap, answer = await one(base_url, n)
            base = base or wall
            print(
                f"{n} trajector{'y' if n == 1 else 'ies'}: wall {wall:5.2f} s ({wall / base:.2f}x one), "
                f"peak Python heap {heap:5.1f} MB, answer {answer[:30]!r}"
            )
    print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    anyio.run(main_async)
