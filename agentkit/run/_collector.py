"""The cyclic garbage collector's pauses, kept short while runs are driven.

A long run holds a growing heap (its trace, the message view, the HTTP client), and CPython's
full collections walk all of it: on a 1,000-step run they came every few hundred steps and
took 55-110 ms each, where a step's own work is a few milliseconds (tools/bench/overhead.py).
While any run is being driven in the process, each step ends with a young collection
(generations 0 and 1: the step's short-lived cycles, sub-millisecond) and ``gc.freeze()``,
which moves what survived out of the collector's sight, so a full collection only walks
what the latest step kept. Frozen objects are still freed by reference counting; only a
cycle that forms among them later waits: when the last run in the process ends, everything
is unfrozen and the next full collection takes those, so nothing is held past the runs.
Nothing happens where the collector is disabled.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_driven = 0


@contextmanager
def paced_collector() -> Iterator[None]:
    """While this is entered (one per run being driven), :func:`step_done` may freeze."""
    global _driven
    with _lock:
        _driven += 1
    try:
        yield
    finally:
        with _lock:
            _driven -= 1
            if _driven == 0:
                gc.unfreeze()


def step_done() -> None:
    """A step ended: collect its young cycles and freeze what survived (see the module docstring)."""
    if _driven and gc.isenabled():
        gc.collect(1)
        gc.freeze()


__all__ = ["paced_collector", "step_done"]
