"""Group commit for the SQLite store's writer: writes that queue while one transaction is
committing go together in the next.

Every write is a function run on the writer connection in a worker thread. Alone, it is its
own ``BEGIN IMMEDIATE`` ... ``COMMIT``, as it always was. When several wait (the runs of a
swarm or a heavy ensemble committing at once), one transaction takes them all, each in a
savepoint of its own. A commit's cost (the WAL frames of every page it touched: the events
table, its index, the full-text index's new segment, and the thread hop) is then paid once
per batch instead of once per write: ``tools/bench/store_write.py --writers 300`` measured
979 events/s (``synchronous=NORMAL``) and 1,055/s (``FULL``) from 300 concurrent writers,
against 564/s and 370/s one transaction each.

What one transaction per write promised still holds:

* **Order.** Writes run in the order they were called, on one connection.
* **Each caller gets its own outcome.** A write that fails is rolled back to its savepoint
  and its caller gets its error; the others commit. If ``BEGIN`` or ``COMMIT`` fails,
  nothing of the batch is committed and every write in it gets that error. If a failure
  ends the whole transaction (SQLite rolls back by itself on some full-disk and I/O errors),
  the writes that had succeeded before it are run again, one transaction each.
* **Cancellation never tears a write.** A write taken into a batch runs to the end, and its
  caller waits for it, shielded, and gets its result; one still queued when its caller is
  cancelled is dropped unwritten.
* **Nothing is believed before it is committed.** What a write learns (a run exists) goes to
  ``known`` only when its transaction commits.

The queue is per event loop (a store may be driven from more than one); the writer lock
serialises the batches of different loops.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio

MAX_BATCH = 500
"""Most writes one transaction takes (the rest go in the next): a batch's latency stays bounded."""


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write's transaction: ``BEGIN IMMEDIATE`` (the write lock taken first, so
    concurrent writers queue on ``busy_timeout`` instead of failing with a lock upgrade
    deadlock) ... ``COMMIT``; inside a batch's transaction, a savepoint."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT agentkit_write")
        try:
            yield
            conn.execute("RELEASE agentkit_write")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled the whole transaction back
                conn.execute("ROLLBACK TO agentkit_write")
                conn.execute("RELEASE agentkit_write")
            raise
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@dataclass(eq=False)
class Write:
    """One queued write and, once its batch has run, its outcome."""

    fn: Callable[[sqlite3.Connection], Any]
    alone: bool
    """Runs in a batch of its own (it manages its own transaction)."""
    batch: asyncio.Future[None] | None = None
    result: Any = None
    error: BaseException | None = None
    learned: frozenset[str] = frozenset()
    """Run ids this write found or created: believed once its transaction commits."""


class WriteQueue:
    """The writes one event loop has queued for one store, and the batch in flight."""

    def __init__(self, run: Callable[[list[Write]], None]) -> None:
        self._run = run
        self._queue: list[Write] = []
        self._inflight: asyncio.Future[None] | None = None

    async def write(self, fn: Callable[[sqlite3.Connection], Any], *, alone: bool = False) -> Any:
        w = Write(fn, alone)
        self._queue.append(w)
        try:
            while w.batch is None:
                if self._inflight is None or self._inflight.done():  # (its callback may not have run yet)
                    self._start()
                else:  # when the batch in flight ends, the first writer woken starts the next
                    await asyncio.wait((self._inflight,))  # (never cancels it; never raises its error)
        except BaseException:  # cancelled while queued
            if w.batch is None:
                self._queue.remove(w)  # it never reached the thread: dropped unwritten
                raise
            # taken into a batch as the cancellation came: like a write already in the thread,
            # it returns its result, and an anyio cancellation lands at the next checkpoint
        with anyio.CancelScope(shield=True):  # taken: it runs to the end, and its caller learns how
            await asyncio.wait((w.batch,))
        w.batch.result()  # the runner keeps every write's error: this raises only for a bug in it
        if w.error is not None:
            raise w.error
        return w.result

    def _start(self) -> None:
        """Take the queue, up to a write that must run alone, into one batch in a worker thread."""
        queue = self._queue[:MAX_BATCH]
        n = 1 if queue[0].alone else next((i for i, w in enumerate(queue) if w.alone), len(queue))
        batch, self._queue = self._queue[:n], self._queue[n:]
        future = asyncio.get_running_loop().run_in_executor(None, self._run, batch)
        for w in batch:
            w.batch = future
        self._inflight = future
        future.add_done_callback(self._ended)

    def _ended(self, future: asyncio.Future[None]) -> None:
        if self._inflight is future:
            self._inflight = None


def queue_for(
    queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteQueue], run: Callable[[list[Write]], None]
) -> WriteQueue:
    """This event loop's queue among ``queues`` (made on first use)."""
    loop = asyncio.get_running_loop()
    queue = queues.get(loop)
    if queue is None:
        queue = queues[loop] = WriteQueue(run)
    return queue


Fail = Callable[[BaseException], BaseException]


@dataclass
class Writer:
    """What a batch runs on, in the worker thread: the store's writer connection and lock,
    its error mapping, the runs it knows exist, and ``learning`` (the set its writes add the
    runs they find or create to, copied to each write's ``learned``)."""

    lock: threading.Lock
    connect: Callable[[], sqlite3.Connection]
    fail: Fail
    known: set[str]
    learning: set[str]

    def run_batch(self, writes: list[Write]) -> None:
        """Run ``writes``: one alone as its own transaction, several in one transaction of
        savepoints (see the module docstring)."""
        with self.lock:
            try:
                conn = self.connect()
            except Exception as exc:  # the store is closed, or cannot be opened: no write ran
                for w in writes:
                    w.error = self.fail(exc)  # one instance each: each caller's traceback is its own
                return
            try:
                if len(writes) == 1:
                    self._alone(conn, writes[0])
                else:
                    self._together(conn, writes)
            except BaseException:  # not an error of a write (those are kept): leave no transaction open
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _call(self, conn: sqlite3.Connection, w: Write) -> bool:
        self.learning.clear()
        try:
            w.result, w.error = w.fn(conn), None
        except Exception as exc:
            w.result, w.error = None, self.fail(exc)
        w.learned = frozenset(self.learning)
        return w.error is None

    def _alone(self, conn: sqlite3.Connection, w: Write) -> None:
        if self._call(conn, w):
            self.known |= w.learned

    def _together(self, conn: sqlite3.Connection, writes: list[Write]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for w in writes:
                w.error = self.fail(exc)
            return
        for i, w in enumerate(writes):
            if not self._call(conn, w) and not conn.in_transaction:
                # SQLite ended the whole transaction: what the writes before this one did is gone
                for again in [d for d in writes[:i] if d.error is None] + writes[i + 1 :]:
                    self._alone(conn, again)
                return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for w in writes:
                if w.error is None:
                    w.result, w.error = None, self.fail(exc)
            return
        for w in writes:
            if w.error is None:
                self.known |= w.learned
