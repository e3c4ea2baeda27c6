"""The eval runner's wall time against the ideal, in one process and on a local Ray cluster.

    python tools/bench/eval.py [--tasks 500] [--concurrency 64] [--latency 0.5]
                               [--ray-tasks 100] [--ray-concurrency 8] [--ray-cpus 0.25] [--no-ray]

Each task is a scripted research run of 4 model calls (plan, two ``note`` tool turns, the
answer) against the fake provider in its own process, every call answered after
``--latency`` seconds. The ideal wall time is tasks x calls x latency / concurrency: what a
runner that adds nothing would take. Printed: wall time and its ratio to the ideal (goal
within 1.2x in-process), the eval's own CPU time, peak memory per concurrent run (the
process's peak RSS above its baseline, over the concurrency), and the store's write rate
during the eval (events committed per second). For the store's raw write throughput,
SQLite against PostgreSQL, see tools/bench/store_write.py.

On Ray every attempt is a Ray task in a worker process that opens the store by URL, builds
its model client and agent, and closes them: a fixed cost per attempt on top of the calls,
and as many worker processes as attempts in flight (``--ray-cpus`` each), so the Ray figures
are measured at a concurrency this machine can hold. Ray runs on PostgreSQL (a throwaway
cluster started here) when its binaries are installed, else on a SQLite file.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fake_provider_process

from agentkit.testing import FakeRequest, Turn, call

CALLS = 4
"""Model calls per task: plan, two tool turns, the answer."""


def responder() -> Any:
    """For the fake provider's process: plan, two notes, then the answer (twice the number)."""

    def answer(req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Note the number twice.\n2. Answer.")
        turns = sum(1 for m in req.messages if m.get("role") == "assistant" and m.get("tool_calls"))
        if turns < CALLS - 2:
            return Turn(tool_calls=[call("note", text=f"step {turns}")])
        found = re.search(r"What is (\d+) doubled\?", req.text())
        return Turn(content=str(2 * int(found.group(1))) if found else "?")

    return answer


def write_suite(folder: Path, tasks: int) -> Path:
    path = folder / "bench.jsonl"
    lines = (
        json.dumps({"id": f"q{i}", "question": f"What is {i} doubled?", "answer": str(2 * i)}) for i in range(tasks)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def count_events(store_url: str, run_ids: list[str]) -> int:
    from agentkit.store import open_store

    store = open_store(store_url)
    try:
        return sum([len(await store.events(r)) for r in run_ids])
    finally:
        await store.aclose()


class Clock:
    """Progress hooks that time the eval's phases: setup, attempts, results and summary."""

    def __init__(self) -> None:
        self.first = self.last = 0.0

    def begin(self, total: int, done: Any) -> None:
        return

    def started(self, spec: Any) -> None:
        self.first = self.first or time.perf_counter()

    def ended(self, row: Any) -> None:
        self.last = time.perf_counter()


def run_once(
    base_url: str, suite: Path, store: str, workdir: Path, *, concurrency: int, ray: str | None, ray_cpus: float
) -> dict[str, Any]:
    from agentkit.eval.runner import run_eval
    from agentkit.eval.suites import load_suite
    from agentkit.task import EVAL_TASK, Task

    config = Task.from_mapping(
        {"task": EVAL_TASK, "model": {"provider": "custom", "base_url": base_url}, "tools": ["note"]}
    )
    loaded = load_suite(suite)
    cpu0, rss0 = cpu_s(), peak_rss_mb()
    clock = Clock()
    start = time.perf_counter()
    outcome = anyio.run(
        lambda: run_eval(
            loaded,
            config,
            store=store,
            workdir=workdir / "runs",
            out_dir=workdir / "out",
            concurrency=concurrency,
            ray=ray,
            ray_cpus=ray_cpus,
            progress=clock,
        )
    )
    end = time.perf_counter()
    wall = end - start
    events = anyio.run(count_events, store, [r.run_id for r in outcome.rows])
    return {
        "wall": wall,
        "cpu": cpu_s() - cpu0,
        "rss_delta_mb": peak_rss_mb() - rss0,
        "rss_peak_mb": peak_rss_mb(),
        "correct": outcome.summary.correct,
        "graded": outcome.summary.graded,
        "events": events,
        "setup": clock.first - start,
        "attempts": clock.last - clock.first,
        "finish": end - clock.last,
    }


def report(title: str, tasks: int, concurrency: int, latency: float, r: dict[str, Any], memory: bool) -> None:
    ideal = tasks * CALLS * latency / concurrency
    print(f"\n{title}: {tasks} tasks x {CALLS} calls x {latency:g} s latency, concurrency {concurrency}")
    print(f"  wall {r['wall']:.1f} s vs ideal {ideal:.1f} s: {r['wall'] / ideal:.2f}x")
    phases = f"setup {r['setup']:.1f} s, attempts {r['attempts']:.1f} s ({r['attempts'] / ideal:.2f}x ideal)"
    print(f"  {phases}, results and summary {r['finish']:.1f} s")
    print(f"  graded {r['graded']}/{tasks}, correct {r['correct']}")
    print(f"  driver CPU {r['cpu']:.1f} s ({1000 * r['cpu'] / tasks:.0f} ms per task)")
    if memory:
        per_run = r["rss_delta_mb"] / concurrency
        rss = f"peak RSS {r['rss_peak_mb']:.0f} MB, +{r['rss_delta_mb']:.0f} MB during the eval"
        print(f"  {rss}: {per_run:.2f} MB per concurrent run")
    print(f"  store: {r['events']} events in {r['wall']:.1f} s = {r['events'] / r['wall']:.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--ray-tasks", type=int, default=100)
    parser.add_argument("--ray-concurrency", type=int, default=8)
    parser.add_argument("--ray-cpus", type=float, default=0.25)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with fake_provider_process("eval:responder", latency=args.latency) as url:
            suite = write_suite(folder, args.tasks)
            store, workdir = str(folder / "eval.db"), folder / "local"
            local = run_once(url, suite, store, workdir, concurrency=args.concurrency, ray=None, ray_cpus=1)
        report("in-process (SQLite)", args.tasks, args.concurrency, args.latency, local, memory=True)
        fake = resource.getrusage(resource.RUSAGE_CHILDREN)  # the fake provider's process, ended now
        print(f"  the fake provider's own CPU: {fake.ru_utime + fake.ru_stime:.1f} s (a process of its own)")
        if not args.no_ray:
            (folder / "ray").mkdir()
            run_ray(args, folder)


def run_ray(args: argparse.Namespace, folder: Path) -> None:
    ray_suite = write_suite(folder / "ray", args.ray_tasks)
    with fake_provider_process("eval:responder", latency=args.latency) as url, _ray_store(folder) as (store, kind):
        import ray

        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        try:
            remote = run_once(
                url,
                ray_suite,
                store,
                folder / "ray",
                concurrency=args.ray_concurrency,
                ray="local",
                ray_cpus=args.ray_cpus,
            )
        finally:
            ray.shutdown()
    title = f"local Ray, 2 CPUs, {args.ray_cpus:g} CPU per attempt ({kind})"
    report(title, args.ray_tasks, args.ray_concurrency, args.latency, remote, memory=False)


class _ray_store:
    """A PostgreSQL database on a throwaway cluster when the binaries exist, else a SQLite file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.server: Any = None

    def __enter__(self) -> tuple[str, str]:
        from agentkit.testing.postgres_server import FAST_SETTINGS, PostgresServer, find_bin_dir

        if find_bin_dir() is None:
            return str(self.folder / "ray.db"), "SQLite"
        self.server = PostgresServer(settings=FAST_SETTINGS)
        self.server.start()
        return self.server.create_database("bench"), "PostgreSQL, fsync off"

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()


if __name__ == "__main__":
    main()
