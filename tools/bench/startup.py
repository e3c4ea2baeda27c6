"""CPU time of the `agentkit` command at start-up: what a user waits for before anything runs.

    python tools/bench/startup.py [--repeats 7]

Each command runs in a fresh process; its CPU time (user + system, read from
``resource.getrusage(RUSAGE_CHILDREN)`` around the child) is the figure, so other load on the
machine does not inflate it the way wall time would. Printed: the median and the spread over
the repeats, and which heavy modules the command loaded (``python -X importtime``).

- ``agentkit --help``: only typer and rich's console should load (target: under 0.5 s).
- ``agentkit runs --store EMPTY``: the store, never the model client.
- ``agentkit show X --store EMPTY``: the store and the trace events, never the model client
  (an unknown run id: the command reads the store and says so, exit 2).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HEAVY = ("openai", "httpx2", "pydantic", "agentkit.run.agent", "agentkit.store.sqlite", "rich.live", "yaml", "tenacity")


def cpu_of(argv: list[str]) -> float:
    """CPU seconds (user + system) one child process spent running ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, capture_output=True, check=False, env={**os.environ, "NO_COLOR": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def loaded(args: list[str]) -> list[str]:
    """The heavy modules the command imports (from ``-X importtime``'s report on stderr)."""
    code = f"import sys; sys.argv = ['agentkit', *{args!r}]; from agentkit.cli import main; main()"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=False)
    seen = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in seen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = str(Path(tmp) / "empty.db")
        subprocess.run(  # an empty agentkit store (runs and show are read-only: they never create one)
            [
                sys.executable,
                "-c",
                f"import anyio; from agentkit.store import SQLiteStore\n"
                f"async def make():\n    async with SQLiteStore({empty!r}):\n        pass\nanyio.run(make)",
            ],
            check=True,
        )
        commands = {
            "agentkit --help": ["--help"],
            "agentkit runs --store EMPTY": ["runs", "--store", empty],
            "agentkit show X --store EMPTY": ["show", "X", "--store", empty],
        }
        print(f"CPU seconds per command, median of {opts.repeats} fresh processes (min-max)")
        for label, args in commands.items():
            argv = [sys.executable, "-m", "agentkit", *args]
            cpu_of(argv)  # warm the file cache and the bytecode
            figures = [cpu_of(argv) for _ in range(opts.repeats)]
            print(
                f"  {label:<32} {statistics.median(figures):6.3f} s  ({min(figures):.3f}-{max(figures):.3f})"
                f"   loads: {', '.join(loaded(args)) or 'none of ' + ', '.join(HEAVY)}"
            )
        baseline = [cpu_of([sys.executable, "-c", "pass"]) for _ in range(opts.repeats)]
        print(f"  {'python -c pass (the floor)':<32} {statistics.median(baseline):6.3f} s")


if __name__ == "__main__":
    main()
