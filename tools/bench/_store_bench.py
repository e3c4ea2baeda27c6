"""Cost of one durable append to the SQLite trace store, NORMAL vs FULL synchronous.

    python tools/bench/_store_bench.py [N] [PAYLOAD_KB]

Each append is a tool result of ``payload_kb`` KB (unique text, so every one goes through
the blob table) committed on its own, timed from the caller's ``await`` to its return:
the whole path an agent step pays (encode, hash, worker-thread hop, BEGIN IMMEDIATE,
insert, COMMIT with the mode's fsync policy).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from agentkit.store import RunInfo, SQLiteStore, ToolResultEvent
from agentkit.store.sqlite import Synchronous


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _one_mode(mode: Synchronous, n: int, payload_kb: int, directory: Path) -> dict[str, float]:
    filler = "lorem ipsum dolor sit amet, " * (payload_kb * 1024 // 28 + 1)
    costs: list[float] = []
    async with SQLiteStore(directory / f"bench-{mode.lower()}.db", synchronous=mode) as store:
        await store.create_run(RunInfo(id="bench", task="append benchmark"))
        for i in range(n):
            text = f"{i}:" + filler[: payload_kb * 1024]
            event = ToolResultEvent(step=i, call_id=f"c{i}", name="fetch", text=text)
            start = time.perf_counter()
            await store.append("bench", event)
            costs.append((time.perf_counter() - start) * 1000)
    costs.sort()
    return {
        "median_ms": round(statistics.median(costs), 3),
        "p95_ms": round(_percentile(costs, 0.95), 3),
        "max_ms": round(costs[-1], 3),
    }


async def bench_append(n: int = 2000, payload_kb: int = 10) -> dict[str, Any]:
    """Median and p95 milliseconds per durable append, for ``NORMAL`` and ``FULL``."""
    with tempfile.TemporaryDirectory(prefix="agentkit-store-bench-") as tmp:
        result: dict[str, Any] = {"n": n, "payload_kb": payload_kb}
        for mode in ("NORMAL", "FULL"):
            result[mode] = await _one_mode(mode, n, payload_kb, Path(tmp))
        return result


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 2000
    payload_kb = int(args[1]) if len(args) > 1 else 10
    result = anyio.run(bench_append, n, payload_kb)
    print(f"SQLite store, one durable append of a {payload_kb} KB tool result (n={n}):")
    for mode in ("NORMAL", "FULL"):
        r = result[mode]
        print(
            f"  synchronous={mode:<6}  median {r['median_ms']:.3f} ms   p95 {r['p95_ms']:.3f} ms"
            f"   max {r['max_ms']:.3f} ms"
        )


if __name__ == "__main__":
    main()
