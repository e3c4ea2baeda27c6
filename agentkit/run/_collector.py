"""The cyclic garbage collector's pauses, kept short while runs are driven.

A long run holds a growing heap (its trace, the message view, the HTTP client), and CPython's
full collections walk all of it: on a 1,000-step run they came every few hundred steps and
took 55-110 ms each, where a step's own work is a few milliseconds (tools/bench/overhead.py).
When the first run in the process starts being driven, ``gc.freeze()`` moves the heap there
is (modules, the application's objects) out of the collector's sight; then every
:data:`EVERY` steps (of all runs in the process) a full collection takes the cycles those
steps left (it walks only what they kept: under a millisecond) and what survived is frozen
too. Frozen objects are still freed by reference counting; only a cycle that forms among
them later waits: when the last run in the process ends, everything is unfrozen and the next
full collection takes those, so nothing is held past the runs. Nothing happens where the
collector is disabled.

A young collection and a freeze after every step (what this did before) cost about as much
(0.13 ms of collections a step on tools/bench/overhead.py, against 0.11 ms: the automatic
young collections now run during the steps), but a full collection also takes the cycles a
step's automatic collections had moved to the oldest generation, which a young collection
never examined before they were frozen.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

EVERY = 10
"""Steps between two collections of what the steps kept."""

_lock = threading.Lock()
_driven = 0
_steps = 0


@contextmanager
def paced_collector() -> Iterator[None]:
    """While this is entered (one per run being driven), :func:`step_done` may freeze."""
    global _driven, _steps
    with _lock:
        _driven += 1
        if _driven == 1 and gc.isenabled():
            gc.freeze()  # what there is before the runs: no collection need walk it while they go on
            _steps = 0
    try:
        yield
    finally:
        with _lock:
            _driven -= 1
            if _driven == 0:
                gc.unfreeze()


def step_done() -> None:
    """A step ended: every :data:`EVERY` steps, collect the cycles the steps left and freeze
    what survived (see the module docstring)."""
    global _steps
    if _driven and gc.isenabled():
        _steps += 1
        if _steps >= EVERY:
            _steps = 0
            gc.collect()
            gc.freeze()


__all__ = ["paced_collector", "step_done"]
