"""A reader that continues from its latest reasoning, the way a thinking model does, and the
checks every long-run test makes on the requests the fake provider saw.

Each tool-call turn's reasoning carries the agent's place (``[at page N]``). The reader reads
its place from the latest tool-call turn in the request only: when that reasoning is elided it
has lost its place and starts over from page 1, as Kimi K2 Thinking does mid-episode.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.testing.script import FakeToolCall

PLACE = re.compile(r"\[at page (\d+)\]")
REASONING_FIELD = "reasoning_content"


def page(n: int, words: int) -> str:
    rng = random.Random(n)
    return f"page {n}: " + " ".join(f"t{rng.randrange(10**5)}" for _ in range(words))


def latest_tool_turn(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    for m in reversed(messages):
        if m.get("role") == "assistant" and m.get("tool_calls"):
            return m
    return None


@dataclass
class Reader:
    """Reads pages 1..``pages`` one call at a time, notes the key of every ``note_every``-th
    page, then answers with the keys it finds in its context."""

    pages: int
    note_every: int = 0
    thoughts: int = 12
    """Sentences of reasoning per turn (each ~20 tokens)."""
    sent: dict[str, str] = field(default_factory=dict)
    """Reasoning sent with each tool call, by the call's arguments (they are unique)."""
    restarts: int = 0

    def __call__(self, req: FakeRequest) -> Turn:
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content="- read pages in order; the keys noted so far are in the notes")
        if not req.tools:
            return Turn(content="1. Read the pages in order.\n2. Note the keys.\n3. Report the keys.")
        latest = latest_tool_turn(req.messages)
        at = 0
        if latest is not None:
            found = PLACE.search(str(latest.get(REASONING_FIELD) or ""))
            if found is None:
                self.restarts += 1  # lost its place: starts over
            else:
                at = int(found[1])
        text = req.text()
        if self.note_every and at and at % self.note_every == 0 and f"key {at}=" not in text:
            return self.turn(at, call("note", text=f"key {at}={at * 7}"))
        if at < self.pages:
            return self.turn(at + 1, call("read", n=at + 1))
        keys = sorted({int(k): int(v) for k, v in re.findall(r"key (\d+)=(\d+)", text)}.items())
        return Turn(reasoning="All pages read.", content="keys: " + ", ".join(f"{k}={v}" for k, v in keys))

    def turn(self, at: int, tool_call: FakeToolCall) -> Turn:
        thought = f"[at page {at}] I continue from here; the pages before were read in order. "
        reasoning = thought + " ".join(
            f"Thought {i} about page {at}: keep going in order." for i in range(self.thoughts)
        )
        self.sent[tool_call.arguments_text()] = reasoning
        return Turn(reasoning=reasoning, tool_calls=[tool_call])

    def expected_answer(self) -> str:
        keys = range(self.note_every, self.pages + 1, self.note_every) if self.note_every else range(0)
        return "keys: " + ", ".join(f"{k}={k * 7}" for k in keys)


def check_requests(fake: FakeProvider, reader: Reader) -> None:
    """No request over the window, and every request after the first tool call sends the latest
    tool-call turn's reasoning back verbatim."""
    assert fake.errors == [], fake.errors[:3]
    window = fake.context_window
    assert window is not None
    checked = 0
    for req, prompt in zip(fake.requests, fake.prompt_tokens, strict=True):
        max_tokens = int(req.max_output or 0)
        assert prompt + max_tokens <= window, (req.index, prompt, max_tokens)
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            continue
        latest = latest_tool_turn(req.messages)
        if latest is None:
            continue
        arguments = latest["tool_calls"][0]["function"]["arguments"]
        assert latest[REASONING_FIELD] == reader.sent[arguments], f"request {req.index} lost the live reasoning"
        checked += 1
    assert checked >= reader.pages
    assert reader.restarts == 0
