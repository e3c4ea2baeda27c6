"""The overhead benchmark's scripted model and its tool: N sequential calls, 4 KB results."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from agentkit.testing import FakeRequest, Turn, call

STEPS = int(os.environ.get("OVERHEAD_STEPS", "300"))
"""Steps of the scripted run (``overhead.py --steps`` sets it for the fake provider's process)."""


def make(steps: int = STEPS) -> Callable[[FakeRequest], Any]:
    def respond(req: FakeRequest) -> Any:
        done = sum(1 for m in req.messages if m.get("role") == "tool")
        if done < steps:
            return Turn(reasoning=f"Read page {done + 1} next.", tool_calls=[call("read_page", n=done + 1)])
        if "final_answer" in req.tool_names:  # smolagents ends through a tool
            return Turn(reasoning="done", tool_calls=[call("final_answer", answer=f"read {done} pages")])
        return Turn(reasoning="done", content=f"read {done} pages")

    return respond
