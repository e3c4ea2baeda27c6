"""``recall(query, k=5)``: full-text search over the run's own trace and its memory runs.

The context budget hides old tool results, elides old reasoning and summarises old turns;
the trace keeps everything. ``recall`` brings back only the passages that matter now: it asks
the store's full-text index (:meth:`~agentkit.store.base.Store.search_text`) and returns
short snippets with their step and source id, ranked, within a token cap. The text it
returns is an ordinary tool result, so the budget counts it like any other.

What it searches:

- ``scope="own"`` (default): this run's trace — tool results (hidden or not), its reasoning,
  messages and tool calls, notes, plans, summaries, Python cells and fetched pages' text.
- ``scope="run"``: the whole task's runs — the top run and every run under it (heavy-mode
  trajectories ``<run>.<i>``, sub-agents ``<run>.<call>.<i>``), so a trajectory or sub-agent
  can read what its parent and siblings found.
- Always, the memory runs (:class:`~agentkit.task.sections.MemorySpec`): earlier runs named by
  id or tag, with the runs under them, read-only; their passages carry the run id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentkit.context.tokens import TokenEstimator
from agentkit.store import TextHit
from agentkit.store._search import MAX_K, parse_query
from agentkit.store.base import RunNotFound, Store
from agentkit.task.sections import MemorySpec
from agentkit.tools.base import Tool, ToolContext, ToolOutput

DEFAULT_MAX_TOKENS = 3000
"""The most a recall result may cost in the context (estimated tokens)."""
MAX_TAGGED_RUNS = 100
"""Runs of a memory tag searched (the newest)."""
PER_TEXT = 2
"""Passages shown from one text (a long page matches in many places)."""

DESCRIPTION = (
    "Search everything earlier in this run: tool results (also ones hidden from your context to "
    "save space), your past reasoning and notes, plans, and the full text of fetched pages; and "
    "the memory runs, if any. Returns short passages with their step and source id, best first. "
    "Use it instead of fetching or searching again for something you already read."
)

_KIND_LABELS = {
    "reasoning": "your reasoning",
    "message": "your message",
    "calls": "your tool calls",
    "note": "note",
    "plan": "plan",
    "summary": "summary of earlier steps",
    "task": "task",
    "answer": "answer",
    "code": "python code",
    "source": "page text",
}


class RecallArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        description="Words the passage would contain: names, numbers, terms, phrases. Plain words, no operators."
    )
    k: int = Field(default=5, ge=1, le=20, description="How many passages to return (1-20).")
    scope: Literal["own", "run"] = Field(
        default="own",
        description='"own": this run; "run": also the parent run and its other trajectories or sub-agents.',
    )


class MemoryRunNotFound(ValueError):
    """A run named in ``memory.runs`` is not in the store (raised before a run starts)."""


async def check_memory(store: Store, memory: MemorySpec) -> None:
    """Every run named in ``memory.runs`` is in ``store`` (raises :class:`MemoryRunNotFound`,
    one line naming the field)."""
    for i, run_id in enumerate(memory.runs):
        try:
            await store.find_run(run_id)
        except RunNotFound:
            raise MemoryRunNotFound(
                f"memory.runs[{i}]: no run {run_id!r} in the store (give an id, or a unique prefix, "
                "as `agentkit runs` lists them, in the same store)"
            ) from None


async def _tree(store: Store, root: str) -> list[str]:
    """``root`` and every run under it."""
    found, level = [root], [root]
    while level:
        level = [c.id for r in level for c in await store.list_runs(parent_id=r, limit=100_000)]
        found += level
    return found


async def scope_runs(store: Store, run_id: str, scope: str) -> list[str]:
    """The run ids a scope searches (without memory)."""
    if scope != "run":
        return [run_id]
    root = await store.get_run(run_id)
    while root.parent_id is not None:
        root = await store.get_run(root.parent_id)
    return await _tree(store, root.id)


async def memory_runs(store: Store, memory: MemorySpec, own: Sequence[str]) -> list[str]:
    """The memory runs (with the runs under them), without ``own`` (the task's runs: a
    trajectory of a tagged run does not read its siblings through the tag)."""
    if not memory.active:
        return []
    roots = [(await store.find_run(r)).id for r in memory.runs]
    if memory.tag:
        roots += [r.id for r in await store.tagged_runs(memory.tag, limit=MAX_TAGGED_RUNS)]
    skip = set(own)
    out: dict[str, None] = {}
    for root in dict.fromkeys(roots):
        if root not in skip:
            out.update(dict.fromkeys(r for r in await _tree(store, root) if r not in skip))
    return list(out)


class RecallTool(Tool[RecallArgs]):
    """The built-in ``recall`` tool (see the module docstring)."""

    def __init__(self, *, max_tokens: int = DEFAULT_MAX_TOKENS, timeout_s: float = 60.0) -> None:
        super().__init__("recall", DESCRIPTION, RecallArgs, timeout_s=timeout_s, max_result_chars=max_tokens * 8)
        self.max_tokens = max_tokens

    async def invoke(self, args: RecallArgs, ctx: ToolContext) -> ToolOutput:
        query = args.query.strip()
        if parse_query(query).empty:
            return ToolOutput(
                text='recall needs words to look for, e.g. recall("Zurich population 2019"); '
                f"{'the query was empty' if not query else 'the query had no letters or digits'}.",
                is_error=True,
            )
        spec = ctx.settings.memory
        task = await scope_runs(ctx.store, ctx.run_id, "run") if args.scope == "run" or spec.active else []
        own = task if args.scope == "run" else [ctx.run_id]
        memory = await memory_runs(ctx.store, spec, task)  # never this task's runs
        hits = await ctx.store.search_text([*own, *memory], query, k=min(MAX_K, args.k * 4))
        chosen = _distinct(hits, args.k)
        where = "this run" if args.scope == "own" else f"this task's {len(own)} run(s)"
        if memory:
            where += f" and {len(memory)} memory run(s)"
        if not chosen:
            text = f'recall "{_clip(query, 80)}": nothing in {where} matches. Try other words the text would contain.'
            return ToolOutput(text=text, meta={"hits": 0, "runs": len(own) + len(memory)})
        lines = [await self._line(h, ctx) for h in chosen]
        return self._fit(query, where, lines, chosen, len(own) + len(memory))

    async def _line(self, hit: TextHit, ctx: ToolContext) -> str:
        parts: list[str] = []
        if hit.run_id != ctx.run_id:
            parts.append(f"run {hit.run_id}")
        if hit.step is not None:
            parts.append(f"step {hit.step}")
        parts.append(
            f"{hit.tool} result" if hit.kind == "tool_result" and hit.tool else _KIND_LABELS.get(hit.kind, hit.kind)
        )
        if hit.source_id:
            source = await ctx.store.get_source(hit.run_id, hit.source_id) if hit.run_id != ctx.run_id else None
            parts.append(source.url if source is not None else hit.source_id)  # another run's id means nothing here
        return f"[{' · '.join(parts)}] {hit.snippet}"

    def _fit(self, query: str, where: str, lines: list[str], hits: list[TextHit], runs: int) -> ToolOutput:
        """As many passages as fit the token cap (best first)."""
        estimate = TokenEstimator()
        head = f'recall "{_clip(query, 80)}" in {where}, best first:'
        shown: list[str] = []
        for line in lines:
            text = "\n".join([head, *shown, line])
            if shown and estimate.estimate(len(text.encode())) > self.max_tokens:
                break
            shown.append(line)
        tail: list[str] = []
        if len(shown) < len(lines):
            tail.append(
                f"({len(lines) - len(shown)} more passage(s) not shown: over recall's output cap; ask more precisely)"
            )
        if any(h.source_id and h.kind in ("tool_result", "source") for h in hits[: len(shown)]):
            tail.append('Read a whole page again with fetch("<source id or URL>").')
        shown_hits = hits[: len(shown)]
        meta = {  # not the result's sources: they are other results', some of other runs
            "hits": len(shown),
            "runs": runs,
            "steps": sorted({h.step for h in shown_hits if h.step is not None}),
            "sources": sorted({h.source_id for h in shown_hits if h.source_id}),
        }
        return ToolOutput(text="\n".join([head, *shown, *tail]), meta=meta)


def _distinct(hits: Sequence[TextHit], k: int) -> list[TextHit]:
    """The best ``k`` hits, each snippet once and at most :data:`PER_TEXT` from one text."""
    seen: set[str] = set()
    per_text: dict[tuple[str, int | None, str, str | None], int] = {}
    out: list[TextHit] = []
    for hit in hits:
        text = (hit.run_id, hit.seq, hit.kind, hit.source_id if hit.seq is None else None)
        key = " ".join(hit.snippet.strip("…").lower().split())
        if key in seen or per_text.get(text, 0) >= PER_TEXT:
            continue
        seen.add(key)
        per_text[text] = per_text.get(text, 0) + 1
        out.append(hit)
        if len(out) == k:
            break
    return out


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


__all__ = [
    "DEFAULT_MAX_TOKENS",
    "MemoryRunNotFound",
    "RecallArgs",
    "RecallTool",
    "check_memory",
    "memory_runs",
    "scope_runs",
]
