"""Swarm wall time, CPU and memory: one lead delegates N sub-agents in one turn (one delegate
call with N subtasks); each sub-agent makes 2 tool calls and answers (3 model calls), the
lead makes 2. The fake provider runs in its own process with LATENCY s per call.

    python tools/bench/swarm.py [--n 300] [--latency 0.25] [--repeat 3] [--store sqlite|memory]

It prints the wall time of 1 and of N sub-agents with the concurrency limit at N (the goal:
within 1.3x one sub-agent's), the client's CPU per sub-agent (all its threads: the HTTP
stack, the loop, the store's writer) and the fake provider's, the memory each sub-agent adds
(Python heap by tracemalloc, in a separate pass since tracing slows the run; and RSS), and
the machine's load. A wide swarm's wall time is at least the chain of latencies (5 calls)
plus the client's CPU for all N sub-agents on one core, less what overlaps the latencies:
on a loaded machine, and with a short latency, the CPU shows.
``--narrow`` adds a run at the default concurrency (16: N/16 waves).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fake_provider_process, median

from agentkit import Agent, RetryPolicy, tool
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store import SQLiteStore
from agentkit.store.base import Store
from agentkit.testing import FakeRequest, Turn, call

TOOL_CALLS = 2
CALLS = TOOL_CALLS + 1


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


@dataclass
class Sample:
    wall: float
    cpu: float
    """The client process's CPU (every thread), seconds."""
    server_cpu: float
    answer: str


class Bench:
    def __init__(self, base_url: str, server_pid: int | None, store: str, scratch: Path) -> None:
        self.base_url, self.server_pid, self.store_kind, self.scratch = base_url, server_pid, store, scratch
        self._runs = 0

    def _store(self) -> Store | None:
        if self.store_kind == "memory":
            return None
        self._runs += 1
        return SQLiteStore(self.scratch / f"run{self._runs}" / "agentkit.db")

    async def lead(self, n: int, concurrency: int) -> Sample:
        llm = OpenAICompatibleModel(
            provider="moonshot", base_url=self.base_url, api_key="bench", retry=RetryPolicy(initial_backoff=0.01)
        )
        settings = {"swarm": {"concurrency": concurrency, "max_children": max(n, 1), "max_per_turn": max(n, 1)}}
        store = self._store()
        cpu, server = process_cpu(), server_cpu(self.server_pid)
        start = time.perf_counter()
        async with Agent(
            llm=llm, tools=[read_page], plan=False, delegate=True, settings=settings, store=store
        ) as agent:
            result = await agent.run(f"Delegate {n} parts.")
        wall = time.perf_counter() - start
        await llm.aclose()  # the agent leaves a client it was given open; its connections go with it
        if store is not None:
            await store.aclose()
        return Sample(wall, process_cpu() - cpu, server_cpu(self.server_pid) - server, result.answer)

    async def timed(self, n: int, concurrency: int, repeat: int) -> list[Sample]:
        return [await self.lead(n, concurrency) for _ in range(repeat)]

    async def heap_per_child(self, n: int) -> float:
        """Peak Python heap of a swarm of n over that of a swarm of 1, per extra sub-agent (KiB)."""
        peaks = []
        for size in (1, n):
            gc.collect()
            tracemalloc.start()
            await self.lead(size, size)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        return (peaks[1] - peaks[0]) / (n - 1) / 1024


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(pid: int | None) -> float:
    """The fake provider process's CPU so far (seconds), from /proc; 0 where there is none."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pid() -> int | None:
    """The fake provider: this process's only child."""
    try:
        pids = [
            p for t in os.listdir("/proc/self/task") for p in Path(f"/proc/self/task/{t}/children").read_text().split()
        ]
    except OSError:
        return None
    return int(pids[0]) if len(pids) == 1 else None


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def med(samples: list[Sample], attr: str) -> float:
    return median([getattr(s, attr) for s in samples])


async def main_async(n: int, latency: float, repeat: int, store: str, narrow: bool) -> None:
    with fake_provider_process("swarm:make", latency=latency) as base_url, tempfile.TemporaryDirectory() as scratch:
        bench = Bench(base_url, child_pid(), store, Path(scratch))
        print(f"each sub-agent: {CALLS} model calls + {TOOL_CALLS} tool calls; lead: 2 calls; {latency} s per call")
        print(f"store: {store}; medians of {repeat} runs, after a first swarm of {n} (imports, connections)")
        print(f"before: {load()}")
        rss_before = rss_mb()
        first = await bench.lead(n, n)
        rss_after = rss_mb()
        one = await bench.timed(1, 1, repeat)
        wall1 = med(one, "wall")
        print(f"1 sub-agent:               wall {wall1:5.2f} s, client CPU {med(one, 'cpu'):5.2f} s")
        wide = await bench.timed(n, n, repeat)
        walln = med(wide, "wall")
        print(
            f"{n} sub-agents (conc. {n}): wall {walln:5.2f} s = {walln / wall1:.2f}x one "
            f"({wide[-1].answer!r}); goal <= 1.3x; runs: " + ", ".join(f"{s.wall:.2f}" for s in wide)
        )
        cpu_n, cpu_1 = med(wide, "cpu"), med(one, "cpu")
        per = (cpu_n - cpu_1) / max(1, n - 1) * 1000
        print(
            f"   client CPU {cpu_n:5.2f} s ({per:.1f} ms per sub-agent, {per / CALLS:.1f} ms per model call); "
            f"fake provider CPU {med(wide, 'server_cpu'):5.2f} s"
        )
        floor = max(5 * latency, 2 * latency + cpu_n)
        print(
            f"   its floor on one idle core: the lead's 2 latencies + that CPU (or 5 latencies) "
            f"= {floor:5.2f} s = {floor / wall1:.2f}x one"
        )
        print(f"   (the first swarm, opening its connections: {first.wall:5.2f} s = {first.wall / wall1:.2f}x)")
        if narrow:
            slow = await bench.timed(n, 16, repeat)
            waves = -(-n // 16)
            print(
                f"{n} sub-agents (conc. 16):  wall {med(slow, 'wall'):5.2f} s = {med(slow, 'wall') / wall1:.2f}x one "
                f"({waves} waves of 16)"
            )
        heap = await bench.heap_per_child(n)
        print(f"memory per sub-agent: {heap:.0f} KiB peak Python heap (tracemalloc, {n} vs 1)")
        grew = rss_after - rss_before
        print(f"peak RSS grew {grew:.1f} MB during the first swarm of {n} (~{grew * 1024 / n:.0f} KiB each)")
        print(f"peak RSS of the process: {rss_mb():.0f} MB")
        print(f"after: {load()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--narrow", action="store_true", help="also run the swarm at concurrency 16")
    args = parser.parse_args()
    anyio.run(main_async, args.n, args.latency, args.repeat, args.store, args.narrow)
