"""How a request today's code would send differs from the one a turn recorded, briefly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentkit.llm.types import Message
from agentkit.run._sent import sent_digests
from agentkit.store.events import SentRequest


@dataclass
class SentHistory:
    """The full message digests and tool schemas of each turn's request, rebuilt turn by turn
    from the records (each lists only what changed)."""

    digests: list[str] = field(default_factory=list)
    schemas: list[dict[str, Any]] | None = None

    def add(self, sent: SentRequest) -> tuple[list[str], list[dict[str, Any]] | None]:
        self.digests = sent_digests(self.digests, sent)
        if sent.schemas is not None:
            self.schemas = sent.schemas
        return self.digests, self.schemas


def differences(
    recorded: SentRequest,
    recorded_full: tuple[list[str], list[dict[str, Any]] | None],
    today: SentRequest,
    today_full: tuple[list[str], list[dict[str, Any]] | None],
    messages: Sequence[Message],
) -> list[str]:
    """What differs, one short line each (empty: the same request). ``messages`` are today's."""
    out: list[str] = []
    old, new = recorded_full[0], today_full[0]
    if old != new:
        i = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
        line = f"messages: recorded {len(old)}, now {len(new)}; first difference at message {i + 1}"
        if i < len(new) and i < len(messages):
            line += f" ({_describe(messages[i])}"
            line += f"; {_chars(old[i])} chars recorded, {_chars(new[i])} now)" if i < len(old) else ", not recorded)"
        elif i < len(old):
            line += f" (recorded, {_chars(old[i])} chars; no longer sent)"
        out.append(line)
    if recorded.tools != today.tools:
        gone = [t for t in recorded.tools if t not in today.tools]
        added = [t for t in today.tools if t not in recorded.tools]
        parts = ([f"no longer {', '.join(gone)}"] if gone else []) + ([f"now also {', '.join(added)}"] if added else [])
        out.append("tools: " + ("; ".join(parts) or "in another order"))
    elif recorded.tools_digest != today.tools_digest:
        changed = _changed_schemas(recorded_full[1], today_full[1])
        out.append(f"tool schemas: {', '.join(changed) or 'changed'} differ")
    for name in ("max_tokens", "tool_choice", "temperature", "seed"):
        a, b = getattr(recorded, name), getattr(today, name)
        if a != b:
            out.append(f"{name}: recorded {a}, now {b}")
    return out


def _chars(digest: str) -> str:
    return f"{int(digest.rpartition(':')[2]):,}"


def _describe(message: Message) -> str:
    role = str(message.get("role", "?"))
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(str(p.get("text", "[image]")) for p in content if isinstance(p, dict))
    text = " ".join(str(content or "").split())
    if role == "assistant" and message.get("tool_calls"):
        names = [c.get("function", {}).get("name", "?") for c in message["tool_calls"] if isinstance(c, dict)]
        text = f"calls {', '.join(names)}" + (f"; {text}" if text else "")
    return f"{role}: {text[:60]!r}" + ("…" if len(text) > 60 else "")


def _changed_schemas(old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None) -> list[str]:
    if old is None or new is None:
        return []

    def by_name(schemas: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {str(s.get("function", {}).get("name", "")): s for s in schemas}

    a, b = by_name(old), by_name(new)
    return [name for name in b if a.get(name) != b[name]]
