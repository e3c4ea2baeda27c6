"""The pieces of a swarm that know no Agent: the delegate tool's arguments, one run's swarm
bookkeeping, and the tool result's text (the cost budget is in ``_swarm_budget``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
from pydantic import BaseModel, Field, model_validator

from agentkit.llm.types import Usage
from agentkit.run._limits import SharedBudget
from agentkit.run._runs import RunResult
from agentkit.store.events import Source

NOT_STARTED = "not started"
Steps = Annotated[int, Field(ge=1)]
Cost = Annotated[float, Field(gt=0)]


class Subtask(BaseModel):
    """One sub-agent's job."""

    question: str = Field(
        min_length=1,
        description="Self-contained instructions: what to find out or do and what to return. "
        "The sub-agent sees nothing of your conversation, only this and `context`.",
    )
    context: str = Field("", description="Facts, constraints or leads it needs (optional).")
    tools: list[str] | None = Field(
        None,
        description='Names of your tools it may use, e.g. ["web_search", "fetch"] (default: all of '
        "yours). Give the fewest that do the job.",
    )
    max_steps: Steps | None = Field(None, description="Its step limit (optional; capped by the swarm's).")
    max_cost_usd: Cost | None = Field(None, description="Its share of the run's cost budget in USD (optional).")

    def task_text(self) -> str:
        return self.question + (f"\n\nContext from the lead agent:\n{self.context}" if self.context else "")


class DelegateArgs(BaseModel):
    """One sub-agent (``question`` and its options) or several (``subtasks``)."""

    question: str | None = Field(
        None,
        description="For ONE sub-agent: self-contained instructions (it sees nothing else). "
        "For several, leave this out and use `subtasks`.",
    )
    context: str = Field("", description="With `question`: facts or constraints it needs (optional).")
    tools: list[str] | None = Field(None, description="With `question`: names of your tools it may use (default: all).")
    max_steps: Steps | None = Field(None, description="With `question`: its step limit (optional).")
    max_cost_usd: Cost | None = Field(None, description="With `question`: its cost share in USD (optional).")
    subtasks: list[Subtask] | None = Field(
        None,
        description="For SEVERAL independent sub-agents at once: one entry each, with its own question, "
        "tools and budget share. They run concurrently; you get every answer back in one result.",
    )

    @model_validator(mode="after")
    def _one_form(self) -> DelegateArgs:
        if self.subtasks is not None and self.question is not None:
            raise ValueError("give either `question` (one sub-agent) or `subtasks` (several), not both")
        if self.subtasks is None and self.question is None:
            raise ValueError("give `question` (one sub-agent) or `subtasks` (a list, one entry per sub-agent)")
        if self.subtasks is not None and not self.subtasks:
            raise ValueError("`subtasks` is empty: give at least one subtask")
        if self.subtasks is not None and (
            self.tools is not None or self.max_steps or self.max_cost_usd or self.context
        ):
            raise ValueError("with `subtasks`, put context, tools, max_steps and max_cost_usd inside each subtask")
        return self

    def items(self) -> list[Subtask]:
        if self.subtasks is not None:
            return list(self.subtasks)
        assert self.question is not None  # the validator saw to it
        return [
            Subtask(
                question=self.question,
                context=self.context,
                tools=self.tools,
                max_steps=self.max_steps,
                max_cost_usd=self.max_cost_usd,
            )
        ]


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as the model reads it best: ``$defs`` written out where they are used (not
    every provider follows ``$ref``), and an option that may be left out shown as its type
    alone, not ``anyOf`` it or ``null`` with ``default: null``."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[1]])
            options = node.get("anyOf")
            if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
                kept = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
                node = {**next(o for o in options if o != {"type": "null"}), **kept}
            return {k: walk(v) for k, v in node.items() if k != "$defs" and not (k == "default" and v is None)}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    return out


def planned_children(arguments: dict[str, object] | None) -> int:
    """How many sub-agents a delegate call's (parsed) arguments ask for; 0 when unreadable."""
    if not isinstance(arguments, dict):
        return 0
    subtasks = arguments.get("subtasks")
    if isinstance(subtasks, list):
        return len(subtasks)
    return 1 if isinstance(arguments.get("question"), str) else 0


def child_run_id(run_id: str, call_id: str, index: int) -> str:
    """A sub-agent's run id, the same every time the call is run (a resume finds its runs)."""
    call = re.sub(r"[^A-Za-z0-9]+", "-", call_id).strip("-") or "call"
    return f"{run_id}.{call}.{index}"


@dataclass
class RunSwarm:
    """One parent run's swarm in this process: its concurrency limit, the child runs it has
    (stored or started here), and the current turn's fan-out plan and budget."""

    limiter: anyio.CapacityLimiter
    children: set[str]
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    step: int | None = None
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Each delegate call of the turn: (sub-agents asked for before it in the turn, its own)."""
    turn_total: int = 0
    budget: SharedBudget | None = None
    window: int | None = None
    """The context window the run knows (declared, probed or learned from an overflow)."""


@dataclass
class Outcome:
    """What became of one subtask."""

    index: int
    subtask: Subtask
    run_id: str
    result: RunResult | None = None
    error: str | None = None
    reused: bool = False
    sources: list[Source] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    """Spent by a sub-agent that broke (``error``), from its trace: charged all the same."""

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.status in ("finished", "stopped")

    @property
    def status(self) -> str:
        if self.result is not None:
            return self.result.status
        return NOT_STARTED if self.error and self.error.startswith(NOT_STARTED) else "error"


def _cap(text: str, limit: int, run_id: str) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 80)].rstrip() + f" [... cut; the whole answer is in run {run_id}]"


def result_text(outcomes: list[Outcome], *, room_chars: int) -> str:
    """The tool result: each sub-agent's answer, with the sources it read (their ids are
    registered in this run, so they can be cited)."""
    if len(outcomes) == 1:
        o = outcomes[0]
        if o.result is None:
            return f"Sub-agent not run: {o.error}"
        r = o.result
        head = f"Sub-agent answer ({r.status}, {r.steps} steps):\n{_cap(r.answer, room_chars - 2000, o.run_id)}"
        if r.status == "failed" and r.error:
            head += f"\nIt failed: {r.error}"
        listed = "\n".join(f"[{s.id}] {s.title or s.url}" for s in o.sources[:20])
        return head + (f"\n\nSources it read:\n{listed}" if listed else "")
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    cost = sum(o.result.cost_usd for o in outcomes if o.result is not None)
    parts = [f"{len(outcomes)} sub-agents: {summary}; they cost ${cost:.4f} together."]
    each = max(300, (room_chars - 200) // len(outcomes) - 200)
    for o in outcomes:
        title = " ".join(o.subtask.question.split())[:100]
        if o.result is None:
            parts.append(f"## {o.index + 1}. {title}\n{o.error}")
            continue
        r = o.result
        block = f"## {o.index + 1}. {title}\n({r.status}, {r.steps} steps, ${r.cost_usd:.4f})\n"
        block += _cap(r.answer, each, o.run_id) if r.answer.strip() else f"(no answer: {r.error or r.stop_reason})"
        if o.sources:
            block += "\nSources: " + "; ".join(f"[{s.id}] {(s.title or s.url)[:60]}" for s in o.sources[:8])
        parts.append(block)
    return "\n\n".join(parts)
