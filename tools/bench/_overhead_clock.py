"""Timing inside the benchmark's tool; imports nothing from agentkit so peers can use it."""

from __future__ import annotations

import random
import time

RESULT_BYTES = 4096
_WORDS = [f"w{random.Random(i).randrange(10**6)}" for i in range(5000)]


def page_text(n: int) -> str:
    """A distinct ~4 KB tool result per step (no two results share a prefix)."""
    rng = random.Random(n)
    out: list[str] = [f"page {n}:"]
    size = len(out[0])
    while size < RESULT_BYTES:
        word = rng.choice(_WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:RESULT_BYTES]


class StepClock:
    """Timestamps taken inside the tool: overhead of step k = CPU between the end of
    tool call k-1 and the start of tool call k (the framework's own work for one turn)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def tool(self, n: int) -> str:
        self.starts.append(time.process_time())
        text = page_text(n)
        self.ends.append(time.process_time())
        return text

    def per_step(self) -> list[float]:
        return [s - e for s, e in zip(self.starts[1:], self.ends[:-1], strict=False)]
