"""Appends to a SQLite store from a separate OS process (driven by test_sqlite.py).

    python _append_worker.py DB RUN_ID COUNT TAG [--create] [--go FILE] [--big] [--pause S]

``COUNT`` 0 appends forever (until killed). ``--go FILE`` prints ``ready`` and waits for FILE to
exist before opening the store (a start barrier); ``--create`` creates the run first; ``--big`` makes
every other event a ~20 KB tool result (stored through the blob table); ``--pause`` sleeps
between appends, as an agent does between steps.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import anyio

from agentkit.store import NoteAdded, RunInfo, SQLiteStore, ToolResultEvent, TraceEvent


def event_for(tag: str, i: int, big: bool) -> TraceEvent:
    if big and i % 2:
        return ToolResultEvent(step=i, call_id=f"{tag}:{i}", name="fetch", text=f"{tag}:{i}|" + "x" * 20_000)
    return NoteAdded(text=f"{tag}:{i}")


async def append(args: argparse.Namespace) -> None:
    async with SQLiteStore(args.db) as store:
        if args.create:
            await store.create_run(RunInfo(id=args.run_id, task=args.tag))
        counter = itertools.count() if args.count == 0 else iter(range(args.count))
        for i in counter:
            await store.append(args.run_id, event_for(args.tag, i, args.big))
            if args.pause:
                await anyio.sleep(args.pause)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("run_id")
    parser.add_argument("count", type=int)
    parser.add_argument("tag")
    parser.add_argument("--create", action="store_true")
    parser.add_argument("--go")
    parser.add_argument("--big", action="store_true")
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    if args.go:
        print("ready", flush=True)  # imports done: the test releases all workers at once
        deadline = time.monotonic() + 30
        while not Path(args.go).exists() and time.monotonic() < deadline:
            time.sleep(0.002)
    anyio.run(append, args)


if __name__ == "__main__":
    main()
