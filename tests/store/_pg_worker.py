"""A separate OS process using a PostgreSQL store (driven by test_postgres.py).

    python _pg_worker.py append URL RUN_ID COUNT TAG [--create] [--go FILE] [--big]
    python _pg_worker.py hold URL RUN_ID        # take the lease, print "leased", wait to be killed
    python _pg_worker.py try URL RUN_ID         # print is_leased, then "busy: ..." or "got"

``--go FILE`` prints ``ready`` and waits for FILE to exist before opening the store (a start
barrier); ``--create`` creates the run first; ``--big`` makes every other event a ~20 KB tool
result (stored through the blob table).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio

from agentkit.store import NoteAdded, RunBusy, RunInfo, ToolResultEvent, TraceEvent
from agentkit.store.postgres import PostgresStore


def event_for(tag: str, i: int, big: bool) -> TraceEvent:
    if big and i % 2:
        return ToolResultEvent(step=i, call_id=f"{tag}:{i}", name="fetch", text=f"{tag}:{i}|" + "x" * 20_000)
    return NoteAdded(text=f"{tag}:{i}")


async def append(args: argparse.Namespace) -> None:
    async with PostgresStore(args.url) as store:
        if args.create:
            await store.create_run(RunInfo(id=args.run_id, task=args.tag))
        for i in range(args.count):
            await store.append(args.run_id, event_for(args.tag, i, args.big))


async def hold(args: argparse.Namespace) -> None:
    async with PostgresStore(args.url) as store, store.lease(args.run_id):
        print("leased", flush=True)
        await anyio.sleep_forever()


async def attempt(args: argparse.Namespace) -> None:
    async with PostgresStore(args.url) as store:
        print(f"is_leased={await store.is_leased(args.run_id)}", flush=True)
        try:
            async with store.lease(args.run_id):
                print("got", flush=True)
        except RunBusy as busy:
            print(f"busy: {busy}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["append", "hold", "try"])
    parser.add_argument("url")
    parser.add_argument("run_id")
    parser.add_argument("count", type=int, nargs="?", default=0)
    parser.add_argument("tag", nargs="?", default="")
    parser.add_argument("--create", action="store_true")
    parser.add_argument("--go")
    parser.add_argument("--big", action="store_true")
    args = parser.parse_args()
    if args.go:
        print("ready", flush=True)  # imports done: the test releases all workers at once
        deadline = time.monotonic() + 30
        while not Path(args.go).exists() and time.monotonic() < deadline:
            time.sleep(0.002)
    anyio.run({"append": append, "hold": hold, "try": attempt}[args.mode], args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
