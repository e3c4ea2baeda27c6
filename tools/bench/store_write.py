"""Store write throughput, SQLite against PostgreSQL: what one durable append of a ~10 KB
event costs, how many events a second one writer commits one by one, and how many in
``append_many`` batches or from several concurrent writers.

    python tools/bench/store_write.py [--n 500] [--payload-kb 10] [--batches 10,100] [--writers 8]

PostgreSQL runs on a throwaway cluster this script starts (``initdb`` in a temporary
directory, loopback TCP, stopped at the end: ``agentkit.testing.postgres_server``) with the
server's durable defaults (``fsync = on``); it is measured twice, with
``synchronous_commit = on`` (each commit waits for its WAL flush, as SQLite ``FULL`` does)
and ``off`` (the WAL is flushed within ~0.2 s, like SQLite ``NORMAL``'s WAL without a sync
per commit: a crash of the server may lose the last commits, never corrupt). Each event is a
tool result with unique text, so every one also goes through the blob table.

Figures are wall-clock on this machine (shared CPUs make them noisy); the server runs on
the same host, so PostgreSQL pays a loopback round trip per statement, not a network's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import anyio

from agentkit.store import RunInfo, SQLiteStore, Store, ToolResultEvent, TraceEvent
from agentkit.store.postgres import PostgresStore
from agentkit.store.sqlite import Synchronous
from agentkit.testing.postgres_server import PostgresServer, find_bin_dir

StoreMaker = Callable[[str], Store]


def _event(run: str, i: int, payload_kb: int) -> TraceEvent:
    filler = "lorem ipsum dolor sit amet, " * (payload_kb * 1024 // 28 + 1)
    return ToolResultEvent(step=i, call_id=f"{run}-{i}", name="fetch", text=f"{run}:{i}:" + filler[: payload_kb * 1024])


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _measure(make: StoreMaker, n: int, payload_kb: int, batches: list[int], writers: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    async with make("single") as store:
        await store.create_run(RunInfo(id="single", task="bench"))
        events = [_event("single", i, payload_kb) for i in range(n)]
        costs: list[float] = []
        begin = time.perf_counter()
        for event in events:
            start = time.perf_counter()
            await store.append("single", event)
            costs.append((time.perf_counter() - start) * 1000)
        figures["append_per_s"] = n / (time.perf_counter() - begin)
        figures["median_ms"] = statistics.median(costs)
        figures["p95_ms"] = _percentile(costs, 0.95)
        for size in batches:
            run = f"batch{size}"
            await store.create_run(RunInfo(id=run, task="bench"))
            chunks = [[_event(run, i + j, payload_kb) for j in range(size)] for i in range(0, n, size)]
            begin = time.perf_counter()
            for chunk in chunks:
                await store.append_many(run, chunk)
            figures[f"batch{size}_per_s"] = sum(map(len, chunks)) / (time.perf_counter() - begin)
        per_writer = max(1, n // writers)
        for w in range(writers):
            await store.create_run(RunInfo(id=f"w{w}", task="bench"))
        loads = {w: [_event(f"w{w}", i, payload_kb) for i in range(per_writer)] for w in range(writers)}

        async def writer(w: int) -> None:
            for event in loads[w]:
                await store.append(f"w{w}", event)

        begin = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for w in range(writers):
                tg.start_soon(writer, w)
        figures["concurrent_per_s"] = writers * per_writer / (time.perf_counter() - begin)
    return figures


def _print(name: str, f: dict[str, float], batches: list[int], writers: int) -> None:
    batched = "  ".join(f"append_many({b}) {f[f'batch{b}_per_s']:8.0f}/s" for b in batches)
    print(
        f"  {name:<34} median {f['median_ms']:6.2f} ms  p95 {f['p95_ms']:6.2f} ms  "
        f"one by one {f['append_per_s']:6.0f}/s  {batched}  {writers} writers {f['concurrent_per_s']:6.0f}/s"
    )


async def _sqlite(n: int, payload_kb: int, batches: list[int], writers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="agentkit-store-write-") as tmp:
        for mode in ("NORMAL", "FULL"):
            make = partial(_sqlite_store, Path(tmp) / f"{mode}.db", mode)
            _print(
                f"SQLite synchronous={mode}", await _measure(make, n, payload_kb, batches, writers), batches, writers
            )


def _sqlite_store(path: Path, mode: Synchronous, _run: str) -> Store:
    return SQLiteStore(path, synchronous=mode)


def _postgres_store(url: str, pool_size: int, _run: str) -> Store:
    return PostgresStore(url, pool_size=pool_size)


async def _postgres(url: str, n: int, payload_kb: int, batches: list[int], writers: int) -> None:
    for commit in ("on", "off"):
        make = partial(_postgres_store, f"{url}?schema=bench_{commit}&options=-csynchronous_commit%3D{commit}", writers)
        figures = await _measure(make, n, payload_kb, batches, writers)
        _print(f"PostgreSQL synchronous_commit={commit}", figures, batches, writers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="events per measurement")
    parser.add_argument("--payload-kb", type=int, default=10)
    parser.add_argument("--batches", default="10,100", help="append_many batch sizes")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (tasks, one run each)")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    print(f"Store writes: {args.n} events of {args.payload_kb} KB each (unique text, via the blob table)")
    anyio.run(_sqlite, args.n, args.payload_kb, batches, args.writers)
    if find_bin_dir() is None:
        print("  PostgreSQL: not measured (no server binaries: apt-get install postgresql)")
        return
    with PostgresServer() as server:
        url = server.create_database("bench")
        anyio.run(_postgres, url, args.n, args.payload_kb, batches, args.writers)


if __name__ == "__main__":
    main()
