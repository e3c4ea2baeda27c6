"""The overhead benchmark's scripted model and its tool: N sequential calls, 4 KB results."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import orjson

from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.testing import FakeRequest, Turn, call

STEPS = int(os.environ.get("OVERHEAD_STEPS", "300"))
"""Steps of the scripted run (``overhead.py --steps`` sets it for the fake provider's process)."""


def pages_read(req: FakeRequest) -> int:
    """The highest page the history asked for (a summary names it: the turns before it may be
    condensed away, so counting tool messages would start the reading over)."""
    done = 0
    for m in req.messages:
        for c in m.get("tool_calls") or []:
            done = max(done, int(orjson.loads(c["function"]["arguments"] or "{}").get("n", 0)))
        if m.get("role") == "user" and isinstance(m.get("content"), str):  # a summary, or a transcript
            for n in _MENTIONED.findall(m["content"]):
                done = max(done, int(n[0] or n[1]))
    return done


_MENTIONED = re.compile(r'pages read: (\d+)|read_page\(\{"n":\s*(\d+)')


def make(steps: int = STEPS) -> Callable[[FakeRequest], Any]:
    def respond(req: FakeRequest) -> Any:
        done = pages_read(req)
        if req.messages and req.messages[0].get("content") == SUMMARY_SYSTEM:
            return Turn(content=f"- pages read: {done} (in order)")
        if done < steps:
            return Turn(reasoning=f"Read page {done + 1} next.", tool_calls=[call("read_page", n=done + 1)])
        if "final_answer" in req.tool_names:  # smolagents ends through a tool
            return Turn(reasoning="done", tool_calls=[call("final_answer", answer=f"read {done} pages")])
        return Turn(reasoning="done", content=f"read {done} pages")

    return respond
