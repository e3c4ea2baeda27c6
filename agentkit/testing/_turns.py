"""What a Kimi service reads of the reasoning in a request's history, for the fake's token
count and prefix cache.

A turn starts at each ``role: user`` message (the docs never define "turn"; Moonshot's forum,
the K2 chat template and other hosts' docs all put the boundary at the latest user message:
fact sheet section 8.2). Without Preserved Thinking the service "ignores reasoning_content
from historical turns" (OAS K2.6 ``thinking.keep``): the reasoning of every assistant message
before the latest user message is not part of the prompt, so it is neither counted nor
cached, and the cached prefix breaks where a new user message turns the previous episode
into history (FORUM-216: "The drop in caching between turns isn't a bug"). With Preserved
Thinking (K3 and K2.7 Code always, K2.6 with ``thinking.keep: "all"``) every turn's
reasoning is context.
"""

from __future__ import annotations

from typing import Any


def as_read(messages: list[dict[str, Any]], reasoning_field: str, preserved: bool) -> list[dict[str, Any]]:
    """``messages`` as the service reads them: without Preserved Thinking, the assistant
    messages before the latest user message lose their reasoning (``reasoning_details`` too)."""
    if preserved:
        return messages
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    out = list(messages)
    for i in range(last_user):
        m = out[i]
        if m.get("role") == "assistant" and (reasoning_field in m or "reasoning_details" in m):
            out[i] = {k: v for k, v in m.items() if k != reasoning_field and k != "reasoning_details"}
    return out


__all__ = ["as_read"]
