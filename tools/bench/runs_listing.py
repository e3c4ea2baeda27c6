"""What ``agentkit runs`` pays to show each run as a reader should see it
(:func:`agentkit.store.status.shown_status`: the status from the lease and the trace, the
counters from the trace when the row lags).

    python tools/bench/runs_listing.py [--runs 1000] [--killed 100] [--steps 30] [--repeats 5]

A SQLite store of ``--runs`` runs of ``--steps`` steps each (a turn with a fetch call and a
2 KB result per step); ``--killed`` of them were left ``running`` by a killed driver (their
rows never saw a step). Printed: the median time to list every row as stored, and as shown
(only the killed runs' traces and leases are read; an ended row is shown as it is).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from agentkit.store import RunInfo, SQLiteStore
from agentkit.store.events import (
    AssistantMessage,
    RunFinished,
    RunStarted,
    RunStatus,
    ToolResultEvent,
    TraceEvent,
)
from agentkit.store.status import shown_status
from agentkit.vocabulary import AssistantTurn, ToolCall, Usage


async def build(db: Path, runs: int, killed: int, steps: int) -> None:
    every = max(1, runs // killed) if killed else runs + 1
    async with SQLiteStore(db) as store:
        for i in range(runs):
            run_id, dead = f"r{i:05d}", i % every == 0 and i // every < killed
            status: RunStatus = "running" if dead else "finished"
            await store.create_run(RunInfo(id=run_id, task="a task " * 30, status=status, steps=0 if dead else steps))
            events: list[TraceEvent] = [RunStarted(task="a task " * 30)]
            for k in range(1, steps + 1):
                fetch = ToolCall(id=f"c{k}", name="fetch", arguments=f'{{"url": "http://example.org/{k}"}}')
                usage = Usage(prompt_tokens=1000 * k, completion_tokens=50, calls=1)
                turn = AssistantTurn(reasoning="r" * 500, tool_calls=[fetch], usage=usage, cost_usd=0.001)
                events += [
                    AssistantMessage(step=k, turn=turn),
                    ToolResultEvent(step=k, call_id=f"c{k}", name="fetch", text="x" * 2000),
                ]
            if not dead:
                events.append(RunFinished(status="finished", answer="an answer"))
            await store.append_many(run_id, events)


async def listing(db: Path, runs: int, shown: bool) -> tuple[float, list[RunInfo]]:
    async with SQLiteStore(db, readonly=True) as store:
        start = time.perf_counter()
        rows = await store.list_runs(limit=runs)
        if shown:
            rows = [await shown_status(store, r) for r in rows]
        return time.perf_counter() - start, rows


async def main_async(runs: int, killed: int, steps: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.db"
        await build(db, runs, killed, steps)
        for shown in (False, True):
            timings: list[float] = []
            rows: list[RunInfo] = []
            for _ in range(repeats):
                seconds, rows = await listing(db, runs, shown)
                timings.append(seconds)
            interrupted = [r for r in rows if r.status == "interrupted"]
            what = "as shown " if shown else "as stored"
            print(
                f"{len(rows)} runs {what}: {statistics.median(timings) * 1000:.0f} ms (median of {repeats}; "
                f"{len(interrupted)} interrupted, their steps {sorted({r.steps for r in interrupted}) or '-'})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--killed", type=int, default=100)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    anyio.run(main_async, args.runs, args.killed, args.steps, args.repeats)


if __name__ == "__main__":
    main()
