"""Sandboxed Python kernel: cold start, warm-pool hand-over and warm round trip.

    python tools/bench/_kernel_bench.py [N]

* cold start: from nothing to a kernel (inside bubblewrap, limits applied, output caps
  installed) that has answered ``kernel_info`` — what a run's first ``python`` call pays
  without a warm pool;
* pool hand-over: ``KernelPool.acquire`` for a fresh run while a warm kernel waits (the
  rename of its slot directory), i.e. what the first call pays with the default pool;
* warm round trip: ``execute("1+1")`` on a running kernel, through the same path the tool
  uses (IOPub collection, reply drain).

Medians over N samples. ``sandboxed`` is 1.0 when bubblewrap isolated the kernels, 0.0 when
the run fell back to resource limits only.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

from agentkit.sandbox import KernelPool, SandboxConfig, SandboxKernel, probe_bwrap


async def bench_kernel(n: int = 20) -> dict[str, float]:
    """Median seconds of a cold start, a warm-pool hand-over and a warm ``1+1`` round trip."""
    status = await anyio.to_thread.run_sync(probe_bwrap)
    bwrap = status if status.available else None
    config = SandboxConfig()
    root = Path(tempfile.mkdtemp(prefix="agentkit-kbench-"))
    try:
        cold: list[float] = []
        for i in range(n):
            kernel = SandboxKernel(config, root / f"cold-{i}", bwrap=bwrap)
            started = time.perf_counter()
            await kernel.start()
            cold.append(time.perf_counter() - started)
            await kernel.aclose()

        handover: list[float] = []
        pool = KernelPool(config, size=1, slot_root=root / "pool")
        try:
            for i in range(max(1, n // 4)):
                await pool.prewarm()
                started = time.perf_counter()
                kernel = await pool.acquire(root / f"pooled-{i}")
                handover.append(time.perf_counter() - started)
                await kernel.aclose()
        finally:
            await pool.aclose()

        kernel = SandboxKernel(config, root / "warm", bwrap=bwrap)
        await kernel.start()
        try:
            await kernel.execute("1+1")
            warm: list[float] = []
            for _ in range(max(n, 50)):
                started = time.perf_counter()
                result = await kernel.execute("1+1")
                warm.append(time.perf_counter() - started)
                if result.cell.result != "2":
                    raise RuntimeError(f"unexpected result {result.cell.result!r}")
        finally:
            await kernel.aclose()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "cold_start_s": statistics.median(cold),
        "pool_handover_s": statistics.median(handover),
        "warm_roundtrip_s": statistics.median(warm),
        "sandboxed": 1.0 if bwrap is not None else 0.0,
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    figures = anyio.run(bench_kernel, n)
    mode = "bubblewrap" if figures["sandboxed"] else "FALLBACK (rlimits only, no bubblewrap)"
    print(f"python sandbox kernel ({mode}), medians over {n} samples")
    print(f"  cold start        {figures['cold_start_s'] * 1000:8.1f} ms")
    print(f"  pool hand-over    {figures['pool_handover_s'] * 1000:8.1f} ms")
    print(f"  warm 1+1 round    {figures['warm_roundtrip_s'] * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
