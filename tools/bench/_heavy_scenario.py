"""Heavy benchmark's scripted model: a plan, STEPS tool calls, an answer that depends on the seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentkit.ensembles.heavy import AGGREGATE_SYSTEM
from agentkit.testing import FakeRequest, Turn, call

STEPS = 10


def make() -> Callable[[FakeRequest], Any]:
    def respond(req: FakeRequest) -> Any:
        if req.messages[0]["content"] == AGGREGATE_SYSTEM:
            return Turn(content="42. Most trajectories agreed.")
        if not req.tools:
            return Turn(content="1. Read the pages.\n2. Answer.")
        done = sum(1 for m in req.messages if m["role"] == "tool")
        if done < STEPS:
            return Turn(reasoning="next", tool_calls=[call("read_page", n=done + 1)])
        seed = int(req.body.get("seed") or 0)
        return Turn(content="42" if seed % 4 else "41")

    return respond
