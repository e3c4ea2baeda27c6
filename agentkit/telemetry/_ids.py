"""Trace and span ids derived from the trace, so every process that drives a run (the first,
a resume after a crash) names its spans the same way and a resumed run continues its trace."""

from __future__ import annotations

import hashlib


def _digest(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")
    return value or 1  # zero is the invalid id


def trace_id_of(root_run_id: str) -> int:
    """The trace of a run and everything under it (trajectories, sub-agents): 128 bits."""
    return _digest(f"agentkit/trace/{root_run_id}", 16)


def span_id_of(run_id: str, seq: int) -> int:
    """The span made from event ``seq`` of ``run_id``: 64 bits."""
    return _digest(f"agentkit/span/{run_id}/{seq}", 8)
