"""What ``recall`` costs: search latency and index size per 1,000 events, SQLite and PostgreSQL
(and the memory store's scan), and what keeping the index adds to each durable append.

    python tools/bench/recall.py [--events 1000] [--queries 200] [--runs 10]

The trace is a synthetic research run, one step = 3 events: an assistant turn (~600 characters
of reasoning and a tool call), its tool result (~4,000 characters) and, every 5th step, a
fetched page registered as a source (~20,000 characters of text in the blob table) and a
note. The words follow a Zipf law over a 5,000-word vocabulary, so queries mix common and
rare words, as real text does. ``--runs`` runs of this size go in the store; each query
searches one of them (the store's other runs must not slow it down).

Figures:

* **search**: ``Store.search_text(run, query, k=5)`` per query (median, p95), and the whole
  ``recall`` tool call (scope resolution, search, formatting).
* **index size**: bytes of the index per 1,000 events (SQLite: ``recall_docs`` and the FTS5
  shadow tables, from ``dbstat``; PostgreSQL: ``pg_total_relation_size`` of ``recall_docs``,
  its GIN and btree indexes included), beside the trace's own size.
* **write cost**: median and p95 milliseconds per ``append_many`` of one step's events with
  the index kept and with indexing switched off (its two functions replaced by no-ops for
  the measurement), and the same for registering a source.
  The wall-clock append includes the worker-thread hand-off, which on an oversubscribed
  machine grows with any CPU work in the thread; so the SQLite indexing work itself is also
  timed alone, in the thread that does it (terms made, rows inserted, commit).
* **back-fill** (SQLite): opening a store made before the index, which indexes it once.

PostgreSQL runs on a throwaway cluster this script starts (``agentkit.testing.postgres_server``)
with the server's durable defaults. Wall-clock on a shared machine: noisy.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from agentkit.store import (
    AssistantMessage,
    MemoryStore,
    NoteAdded,
    RunInfo,
    Source,
    SQLiteStore,
    Store,
    ToolResultEvent,
    TraceEvent,
    _pg_search,
    _sqlite_search,
)
from agentkit.testing.postgres_server import PostgresServer, find_bin_dir
from agentkit.tools import ToolContext
from agentkit.tools.recall import RecallArgs, RecallTool
from agentkit.vocabulary import AssistantTurn, ToolCall

VOCABULARY = 5000


class Corpus:
    """Deterministic pseudo-text with Zipf-distributed words."""

    def __init__(self, seed: int = 24) -> None:
        self.rng = random.Random(seed)
        syllables = ["ka", "lo", "mi", "ren", "sa", "tor", "vi", "ne", "qua", "del", "fi", "gor", "um", "zel", "pra"]
        words: dict[str, None] = {}
        while len(words) < VOCABULARY:
            words["".join(self.rng.choices(syllables, k=self.rng.randint(2, 4)))] = None
        self.words = list(words)
        self.weights = [1 / (i + 1) for i in range(VOCABULARY)]

    def text(self, chars: int) -> str:
        out: list[str] = []
        size = 0
        while size < chars:
            chunk = self.rng.choices(self.words, self.weights, k=64)
            out += chunk
            size += sum(len(w) + 1 for w in chunk)
        return " ".join(out)[:chars]

    def query(self) -> str:
        n = self.rng.randint(1, 3)
        common = self.rng.choices(self.words[:200], k=n - 1)
        rare = self.rng.choice(self.words[200:2000])
        return " ".join([*common, rare])


def step_events(corpus: Corpus, step: int) -> list[TraceEvent]:
    call = ToolCall(id=f"fetch:{step}", name="fetch", arguments=f'{{"url": "https://example.org/{step}"}}')
    turn = AssistantTurn(reasoning=corpus.text(600), tool_calls=[call])
    events: list[TraceEvent] = [AssistantMessage(step=step, turn=turn)]
    text = corpus.text(4000)
    events.append(ToolResultEvent(step=step, call_id=call.id, name="fetch", text=text, sources=[f"S{step}"]))
    if step % 5 == 0:
        events.append(NoteAdded(text=corpus.text(200)))
    return events


async def fill(store: Store, run_id: str, corpus: Corpus, events: int) -> tuple[list[float], list[float]]:
    """Append ``events`` events (one step per ``append_many``); ms per step and per source."""
    await store.create_run(RunInfo(id=run_id, task=corpus.text(120)))
    steps, sources = [], []
    written, step = 0, 0
    while written < events:
        step += 1
        batch = step_events(corpus, step)
        start = time.perf_counter()
        await store.append_many(run_id, batch)
        steps.append((time.perf_counter() - start) * 1000)
        written += len(batch)
        if step % 5 == 0:
            key = await store.put_blob(corpus.text(20_000).encode())
            start = time.perf_counter()
            await store.add_source(run_id, Source(id=f"S{step}", url=f"https://example.org/{step}", content_hash=key))
            sources.append((time.perf_counter() - start) * 1000)
    return steps, sources


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(values: Sequence[float]) -> str:
    return f"median {statistics.median(values):6.2f} ms  p95 {pct(values, 0.95):6.2f} ms"


@contextmanager
def indexing_off() -> Iterator[None]:
    """Both backends' indexing as no-ops (the measurement of what it adds)."""
    saved = [
        (_sqlite_search, "prepare", _sqlite_search.prepare),
        (_sqlite_search, "index_source", _sqlite_search.index_source),
        (_pg_search, "prepare", _pg_search.prepare),
        (_pg_search, "index_source", _pg_search.index_source),
    ]

    async def no_source(*_args: Any) -> None:
        return None

    _sqlite_search.prepare = lambda events: _sqlite_search.Prepared([])  # type: ignore[assignment]
    _sqlite_search.index_source = lambda *_args: None  # type: ignore[assignment]
    _pg_search.prepare = lambda events: []  # type: ignore[assignment]
    _pg_search.index_source = no_source  # type: ignore[assignment]
    try:
        yield
    finally:
        for module, name, fn in saved:
            setattr(module, name, fn)


async def searches(store: Store, runs: list[str], queries: list[str]) -> tuple[list[float], list[float], float]:
    """ms per search_text and per recall tool call, and the mean hits per search."""
    tool = RecallTool()
    direct, whole, hits = [], [], 0
    for i, query in enumerate(queries):
        run = runs[i % len(runs)]
        start = time.perf_counter()
        hits += len(await store.search_text([run], query, k=5))
        direct.append((time.perf_counter() - start) * 1000)
        ctx = ToolContext(run_id=run, call_id="c", step=1, store=store, workdir=Path("."))
        start = time.perf_counter()
        await tool.invoke(RecallArgs(query=query), ctx)
        whole.append((time.perf_counter() - start) * 1000)
    return direct, whole, hits / len(queries)


async def measure(
    name: str,
    make: Callable[[str], Store],
    args: argparse.Namespace,
    size_of: Callable[[Store], Awaitable[tuple[int, int]]] | None,
) -> None:
    corpus = Corpus()
    queries = [corpus.query() for _ in range(args.queries)]
    runs = [f"run{r}" for r in range(args.runs)]
    on_steps: list[float] = []
    on_sources: list[float] = []
    off_steps: list[float] = []
    off_sources: list[float] = []
    async with make("plain") as plain, make("indexed") as store:
        for r, run in enumerate(runs):  # alternately, so drifting machine load hits both alike
            with indexing_off():
                steps, sources = await fill(plain, run, Corpus(seed=r), args.events)
            off_steps += steps
            off_sources += sources
            steps, sources = await fill(store, run, Corpus(seed=r), args.events)
            on_steps += steps
            on_sources += sources
        direct, whole, mean_hits = await searches(store, runs, queries)
        print(f"{name}")
        print(f"  search_text(k=5)       {ms(direct)}   ({mean_hits:.1f} hits per query)")
        print(f"  recall tool call       {ms(whole)}")
        if size_of is not None:
            index, trace = await size_of(store)
            per = 1000 / (args.events * args.runs)
            sizes = f"{index * per / 1e6:6.2f} MB per 1,000 events  (the trace itself: {trace * per / 1e6:.2f} MB)"
            print(f"  index size             {sizes}")
        print(f"  append_many (a step)   indexed {ms(on_steps)}   not indexed {ms(off_steps)}")
        if on_sources:
            print(f"  add_source (20 KB)     indexed {ms(on_sources)}   not indexed {ms(off_sources)}")


def sqlite_sizes(path: Path) -> Callable[[Store], Awaitable[tuple[int, int]]]:
    async def size(_store: Store) -> tuple[int, int]:
        conn = sqlite3.connect(path)
        try:
            rows = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        finally:
            conn.close()
        index = sum(v for k, v in rows.items() if k.startswith(("recall_", "sqlite_autoindex_recall")))
        trace = sum(v for k, v in rows.items() if k in ("events", "blobs", "sources"))
        return index, trace

    return size


async def backfill(path: Path, events: int) -> None:
    """Open a store made before the index: the first writer indexes it once."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP TABLE recall_fts; DROP TABLE recall_docs; DROP TABLE run_tags; PRAGMA user_version = 2; VACUUM;"
    )
    conn.close()
    start = time.perf_counter()
    async with SQLiteStore(path):
        pass
    took = time.perf_counter() - start
    print(f"  back-fill at first open {took * 1000 / events * 1000:6.0f} ms per 1,000 events")


def indexing_work(events: int) -> None:
    """The SQLite indexing work of one step, timed alone on a connection of its own."""
    with tempfile.TemporaryDirectory(prefix="agentkit-recall-work-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "w.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # the store's default
        conn.execute(_sqlite_search.DOCS_TABLE)
        conn.execute(_sqlite_search.FTS_TABLE)
        corpus, prep, write = Corpus(), [], []
        for step in range(1, events // 3 + 1):
            batch = step_events(corpus, step)
            start = time.perf_counter()
            prepared = _sqlite_search.prepare(batch)
            prep.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            _sqlite_search.index_events(conn, "run", step * 3, prepared)
            conn.execute("COMMIT")
            write.append((time.perf_counter() - start) * 1000)
        conn.close()
    print(f"  indexing work per step terms {ms(prep)}   index rows + commit {ms(write)}")


async def sqlite_bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="agentkit-recall-bench-") as tmp:
        path = Path(tmp) / "indexed.db"

        def make(name: str) -> Store:
            return SQLiteStore(Path(tmp) / f"{name}.db")

        await measure("SQLite (FTS5)", make, args, sqlite_sizes(path))
        indexing_work(args.events)
        await backfill(path, args.events * args.runs)


async def memory_bench(args: argparse.Namespace) -> None:
    store = MemoryStore()
    runs = [f"run{r}" for r in range(args.runs)]
    for run in runs:
        await fill(store, run, Corpus(seed=int(run.removeprefix("run"))), args.events)
    corpus = Corpus()
    queries = [corpus.query() for _ in range(args.queries)]
    first = time.perf_counter()
    await store.search_text(runs, "warm")  # chunks are made on the first search that reaches a run
    warm = time.perf_counter() - first
    direct, whole, mean_hits = await searches(store, runs, queries)
    print("Memory store (scan)")
    print(f"  first search (prepares {args.events * args.runs} events) {warm * 1000:.0f} ms")
    print(f"  search_text(k=5)       {ms(direct)}   ({mean_hits:.1f} hits per query)")
    print(f"  recall tool call       {ms(whole)}")


async def postgres_bench(url: str, args: argparse.Namespace) -> None:
    def make(name: str) -> Store:
        from agentkit.store.postgres import PostgresStore

        return PostgresStore(f"{url}?schema=bench_{name}")

    async def size(_store: Store) -> tuple[int, int]:
        import psycopg

        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute(
                "SELECT pg_total_relation_size('bench_indexed.recall_docs'), "
                "pg_total_relation_size('bench_indexed.events') + pg_total_relation_size('bench_indexed.blobs') "
                "+ pg_total_relation_size('bench_indexed.sources')"
            )
            row = await cur.fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

    await measure("PostgreSQL (tsvector + GIN)", make, args, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="events per run")
    parser.add_argument("--runs", type=int, default=10, help="runs in the store (each query searches one)")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print(f"recall: {args.runs} runs x {args.events} events, {args.queries} queries of 1-3 words")
    anyio.run(memory_bench, args)
    anyio.run(sqlite_bench, args)
    if find_bin_dir() is None:
        print("PostgreSQL: not measured (no server binaries: apt-get install postgresql)")
        return
    with PostgresServer() as server:
        anyio.run(postgres_bench, server.create_database("bench"), args)


if __name__ == "__main__":
    main()
