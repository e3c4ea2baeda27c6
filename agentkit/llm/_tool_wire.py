"""Tools as a host takes them: how many, under which names, with which schemas.

Tools keep their own names everywhere in agentkit (the registry, the trace, events, reports);
only the request carries wire names, and a tool call that comes back is renamed to the tool's
own name before anything else sees it. A wire name is a pure function of the tool's name (the
name itself when the host's pattern allows it, else a cleaned form plus a short hash of the
original), so the same tools get the same names in every request, in every process, across a
resume, whatever other tools a run has.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from agentkit.llm._schema import NotExpressible, to_mfjs
from agentkit.llm.models import ModelTraits, ToolRules
from agentkit.llm.types import Model

# The Kimi tool-use guide and the Chinese OpenAPI say ^[a-zA-Z_][a-zA-Z0-9-_]{2,63}$; the
# English OpenAPI relaxed it to ^[a-zA-Z_][a-zA-Z0-9-_]{0,255}$ on 2026-08-17 (5a0c5b8). Hosts
# that relay Kimi models may still check the older rule, so the client sends names both accept
# (3-64 characters, a letter or "_" first); the strict fake checks the current one.
_PATTERNS: dict[ToolRules, re.Pattern[str]] = {
    "moonshot": re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]{2,63}"),
    "openai": re.compile(r"[a-zA-Z0-9_-]{1,64}"),  # OpenAI's function name pattern
}
_MAX_WIRE = 64
_HASH_CHARS = 8


class NameClash(ValueError):
    """Two tools would go by one wire name."""


def wire_name(name: str, rules: ToolRules) -> str:
    """The name ``name`` goes by on the wire under ``rules``: itself when valid, else its
    letters, digits, ``_`` and ``-`` (a letter first for Moonshot) and ``_`` + 8 hex digits of
    its hash (so two names that clean alike stay apart)."""
    if _PATTERNS[rules].fullmatch(name):
        return name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_name).strip("_")
    if rules == "moonshot" and not re.match(r"[A-Za-z_]", clean):
        clean = f"t_{clean}" if clean else "tool"
    digest = hashlib.blake2b(name.encode(), digest_size=_HASH_CHARS // 2).hexdigest()
    return f"{clean[: _MAX_WIRE - _HASH_CHARS - 1]}_{digest}"


class WireNames:
    """The wire names of a request's tools, both ways."""

    def __init__(self, names: Iterable[str], rules: ToolRules) -> None:
        self.rules = rules
        self.to_wire: dict[str, str] = {}
        self.to_own: dict[str, str] = {}
        for name in names:
            wire = wire_name(name, rules)
            other = self.to_own.get(wire)
            if other is not None and other != name:
                raise NameClash(f"tools {other!r} and {name!r} would both be sent as {wire!r}; rename one of them")
            self.to_wire[name], self.to_own[wire] = wire, name

    @property
    def renamed(self) -> bool:
        return any(own != wire for own, wire in self.to_wire.items())

    def wire(self, name: str) -> str:
        """A name in history (also of a tool this request no longer offers)."""
        return self.to_wire.get(name) or wire_name(name, self.rules)

    def own(self, wire: str) -> str:
        return self.to_own.get(wire, wire)


def tool_count_problem(count: int, traits: ModelTraits, model: str) -> str | None:
    """Why ``count`` tools cannot go to ``model`` in one request, or ``None``."""
    limit = traits.max_tools
    if limit is None or count <= limit:
        return None
    return (
        f"{model} takes at most {limit} tools in a request (Kimi tool-use guide) and this agent has {count} "
        f"(with agentkit's own update_plan and note): choose at most {limit} (the task file's tools: list, "
        "fewer MCP servers, or Agent(tools=[...]))"
    )


def wire_tools(tools: list[dict[str, Any]], traits: ModelTraits, names: WireNames) -> list[dict[str, Any]]:
    """``tools`` (OpenAI ``tools`` entries) as this model's API takes them: wire names, and for
    the Kimi API each schema in MFJS, or sent as it is with ``strict: false`` where MFJS cannot
    say what it says (the tool-use guide's way to send such a schema; see agentkit.llm._schema)."""
    out: list[dict[str, Any]] = []
    for entry in tools:
        fn = entry.get("function")
        if not isinstance(fn, dict):
            out.append(entry)
            continue
        fn = {**fn, "name": names.wire(str(fn.get("name", "")))}
        params = fn.get("parameters")
        if traits.tool_rules == "moonshot" and isinstance(params, dict):
            if fn.get("strict") is False:  # the tool's own choice: its schema goes as it is
                fn["parameters"] = {**params, "type": "object"}
            else:
                fn.update(mfjs_parameters(params))
        out.append({**entry, "function": fn})
    return out


def mfjs_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """``{"parameters": ...}`` in MFJS, or the schema as given (its root an object, which the
    Kimi API checks even then: "tools.function.parameters.type is required and must be
    \"object\"", recorded 2026-09-21) with ``"strict": False``."""
    try:
        return {"parameters": to_mfjs(parameters)}
    except NotExpressible:
        return {"parameters": {**parameters, "type": "object"}, "strict": False}


__all__ = ["NameClash", "WireNames", "mfjs_parameters", "tool_count_problem", "wire_name", "wire_tools"]


def tools_over_limit(llm: Model, count: int) -> str | None:
    """Why ``count`` tools are more than ``llm``'s model takes in one request, or ``None``."""
    traits = getattr(llm, "traits", None)
    return None if traits is None else tool_count_problem(count, traits, llm.model_name)
