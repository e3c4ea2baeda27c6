"""The swarm: the ``delegate`` tool starts sub-agents, one or many per call, as child runs.

Every sub-agent is a child run whose id comes from (parent run, call id, subtask index), so
a resumed parent that runs an unanswered delegate call again finds its children: a finished
one is read back (never run twice), an interrupted one is resumed, a missing one started.
A run starts at most ``swarm.max_per_turn`` sub-agents in one turn and
``swarm.max_children`` in all, runs ``swarm.concurrency`` of them at once, and sub-agents
nest ``swarm.max_depth`` deep. Their spending counts against the run's ``max_cost_usd``
while they run (:class:`~agentkit.ensembles._swarm_parts.ShareBudget`) and is charged to it with the
result (``UsageCharged``); the sources they read are registered in the parent run.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any

import anyio

from agentkit.ensembles._swarm_parts import (
    NOT_STARTED,
    DelegateArgs,
    Outcome,
    RunSwarm,
    ShareBudget,
    Subtask,
    child_run_id,
    inline_defs,
    planned_children,
    result_text,
    room_left,
)
from agentkit.llm.types import ModelRequest
from agentkit.run._limits import MIN_ANSWER_TOKENS, SharedBudget, estimate_prompt_tokens, prices_of
from agentkit.run._prompts import system_prompt
from agentkit.run._runs import stored_result
from agentkit.store.base import Store
from agentkit.store.events import AssistantMessage, RunInfo, RunStarted, ToolEffect, UsageCharged
from agentkit.store.fold import load_state
from agentkit.store.status import shown_run
from agentkit.task.sections import SwarmSpec, settings_section
from agentkit.tools.base import Tool, ToolContext, ToolOutput, ToolRegistry

if TYPE_CHECKING:
    from agentkit.run.agent import Agent

PLANNER_TOOLS = ("update_plan", "note")
"""The loop's own tools: every sub-agent keeps them, whatever its subtask lists."""
RESULT_CHARS = 60_000

DESCRIPTION = (
    "Hand work to sub-agents, each with its own fresh context, tools and step budget; they research "
    "in parallel and you get their answers and the sources they read (cite those ids). Use "
    "`question` for one sub-agent, or `subtasks` for several at once (one entry each: its own "
    "self-contained question, the tools it needs, optionally max_steps / max_cost_usd). Split a "
    "broad task into independent parts; do not delegate what one tool call answers."
)


def swarm_spec(agent: Agent) -> SwarmSpec:
    """The agent's ``swarm`` settings (raises ``ValueError`` naming the field when bad)."""
    return settings_section(agent.settings, "swarm", SwarmSpec)


class DelegateTool(Tool[DelegateArgs]):
    """Starts sub-agents (child runs) of the run that calls it; see the module docstring.
    ``depth``: how deep the agent that owns the tool is (the lead is 0)."""

    def __init__(self, agent: Agent, *, depth: int = 0) -> None:
        super().__init__("delegate", DESCRIPTION, DelegateArgs, timeout_s=None, max_result_chars=RESULT_CHARS)
        self._agent = agent
        self.depth = depth
        self._runs: dict[str, RunSwarm] = {}

    @property
    def schema(self) -> dict[str, Any]:
        base = super().schema
        if "$defs" in base["function"]["parameters"]:
            function = {**base["function"], "parameters": inline_defs(base["function"]["parameters"])}
            self._schema = {**base, "function": function}
        return self._schema or base

    def bound_to(self, agent: Agent) -> DelegateTool:
        """The same tool for a copy of its agent (a heavy trajectory)."""
        return DelegateTool(agent, depth=self.depth)

    async def close_run(self, run_id: str) -> None:
        self._runs.pop(run_id, None)

    async def invoke(self, args: DelegateArgs, ctx: ToolContext) -> ToolOutput:
        spec = settings_section(ctx.settings, "swarm", SwarmSpec)
        subtasks = args.items()
        refused = self._refuse_tools(subtasks, spec)
        if refused:
            return ToolOutput(text=refused, is_error=True)
        swarm = await self._swarm(ctx, spec)
        async with swarm.lock:
            if swarm.step != ctx.step:
                await self._new_turn(swarm, ctx)
            before, _ = swarm.offsets.get(ctx.call_id, (0, len(subtasks)))
            turn_total = max(swarm.turn_total, len(subtasks))
            if before + len(subtasks) > spec.max_per_turn:
                return ToolOutput(text=_fan_out_error(turn_total, before, len(subtasks), spec), is_error=True)
            ids = [child_run_id(ctx.run_id, ctx.call_id, i) for i in range(len(subtasks))]
            new = [i for i in ids if i not in swarm.children]
            if len(swarm.children) + len(new) > spec.max_children:
                text = (
                    f"Refused: this run has started {len(swarm.children)} sub-agents and may start "
                    f"{spec.max_children} in all (swarm.max_children); this call asks for {len(new)} more. "
                    "Work with the answers you have, or ask for fewer."
                )
                return ToolOutput(text=text, is_error=True)
            swarm.children.update(new)
            budget = swarm.budget
        assert budget is not None  # set by _new_turn
        outcomes = [Outcome(i, sub, ids[i]) for i, sub in enumerate(subtasks)]
        async with anyio.create_task_group() as tg:
            for outcome in outcomes:
                tg.start_soon(self._run_one, outcome, ctx, swarm, budget)
        return await self._output(outcomes, ctx)

    def _refuse_tools(self, subtasks: list[Subtask], spec: SwarmSpec) -> str | None:
        """A clear error when a subtask names a tool its sub-agent cannot have."""
        if self.depth >= spec.max_depth:
            return (
                f"Refused: sub-agents at depth {self.depth} may not delegate (swarm.max_depth="
                f"{spec.max_depth}). Do the work yourself with your other tools."
            )
        mine = [n for n in self._agent.tools.names if n not in PLANNER_TOOLS]
        problems = []
        for i, sub in enumerate(subtasks, 1):
            for name in sub.tools or []:
                if name == "delegate" and self.depth + 1 >= spec.max_depth:
                    problems.append(
                        f"subtask {i}: 'delegate' is not available to it: its sub-agent would be at depth "
                        f"{self.depth + 1}, the deepest allowed (swarm.max_depth={spec.max_depth})"
                    )
                elif name not in mine and name not in PLANNER_TOOLS:
                    problems.append(f"subtask {i}: unknown tool {name!r} (yours: {', '.join(mine)})")
        if not problems:
            return None
        return "Refused, nothing was started: " + "; ".join(problems) + ". Fix the tool lists and call again."

    async def _swarm(self, ctx: ToolContext, spec: SwarmSpec) -> RunSwarm:
        swarm = self._runs.get(ctx.run_id)
        if swarm is None:
            known = {r.id for r in await ctx.store.list_runs(parent_id=ctx.run_id, limit=100_000)}
            swarm = self._runs.setdefault(ctx.run_id, RunSwarm(anyio.CapacityLimiter(spec.concurrency), known))
        return swarm

    async def _new_turn(self, swarm: RunSwarm, ctx: ToolContext) -> None:
        """Read the turn's delegate calls from the trace (the fan-out is judged over all of
        them, in the turn's order, the same way on every resume) and the spending so far."""
        events = [e.event for e in await ctx.store.events(ctx.run_id)]
        calls = next(
            (e.turn.tool_calls for e in reversed(events) if isinstance(e, AssistantMessage) and e.step == ctx.step),
            [],
        )
        swarm.offsets, total = {}, 0
        for call in calls:
            if call.name == self.name:
                n = planned_children(call.parsed)
                swarm.offsets[call.id] = (total, n)
                total += n
        swarm.step, swarm.turn_total = ctx.step, total
        parent = self._agent
        if parent.shared_budget is not None:  # a heavy trajectory's or a sub-agent's: shared up the tree
            swarm.budget = parent.shared_budget
            return
        charged = {e.child_run for e in events if isinstance(e, UsageCharged) and e.child_run}
        uncharged = 0.0  # children of a call a resume runs again: spent, not yet charged to the run
        for child in await _children(ctx.store, ctx.run_id):
            if child.id not in charged:
                uncharged += (await load_state(ctx.store, child.id)).cost_usd
        state = await load_state(ctx.store, ctx.run_id)
        swarm.budget = SharedBudget(spent=state.cost_usd + uncharged)

    async def _run_one(self, outcome: Outcome, ctx: ToolContext, swarm: RunSwarm, budget: SharedBudget) -> None:
        store, child_id = ctx.store, outcome.run_id
        try:
            info: RunInfo | None = await store.get_run(child_id)
        except KeyError:
            info = None
        own, begun = 0.0, False
        if info is not None:
            state = await load_state(store, child_id)
            if state.finished is not None:  # finished before: its stored result, never a second run
                outcome.result = stored_result(await shown_run(store, info))
                outcome.reused = True
                return
            own, begun = state.cost_usd, bool(state.config)
        limit = self._agent.limits.max_cost_usd
        async with swarm.limiter:
            child = self._sub_agent(outcome.subtask, budget, own)
            task = outcome.subtask.task_text()
            room = room_left(budget, limit)
            if info is None and room is not None and room < first_call_cost(child, task):
                outcome.error = f"{NOT_STARTED}: the run's cost limit (max_cost_usd={limit:g}) is spent"
                swarm.children.discard(child_id)
                return
            try:
                if info is not None and not begun:  # killed between creating its row and its first event
                    await store.append(child_id, RunStarted(task=task, config=start_config(child)))
                if info is None:
                    outcome.result = await child.run(task, run_id=child_id, parent_id=ctx.run_id, label="delegate")
                else:
                    outcome.result = await child.resume(child_id)
            except Exception as exc:  # one broken sub-agent must not take its siblings down
                outcome.error = f"failed: {type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):  # what it spent before it broke is still charged
                    spent = await load_state(store, child_id)
                    outcome.usage, outcome.cost_usd = spent.usage, spent.cost_usd

    def _sub_agent(self, sub: Subtask, budget: SharedBudget, own: float) -> Agent:
        """A copy of the agent for one subtask: same model client (one rate limiter), store and
        tool objects (one fetch cache); its subtask's tools, step limit and cost share."""
        parent = self._agent
        spec = swarm_spec(parent)
        child = copy.copy(parent)
        child.heavy = 1
        child.writes_report = False  # its answer goes back to the lead, whose report cites its sources
        steps = min(sub.max_steps or spec.max_steps, spec.max_steps, parent.max_steps)
        parent_limit = parent.limits.max_cost_usd
        limit = sub.max_cost_usd if sub.max_cost_usd is not None else parent_limit
        child.max_steps = steps
        child.limits = parent.limits.model_copy(update={"max_steps": steps, "max_cost_usd": limit})
        child.shared_budget = ShareBudget(budget, base_limit=parent_limit, share=sub.max_cost_usd, limit=limit, own=own)
        wanted = set(sub.tools) if sub.tools is not None else set(parent.tools.names)
        tools: list[Tool] = [
            t for t in parent.tools if t.name != self.name and (t.name in wanted or t.name in PLANNER_TOOLS)
        ]
        if self.name in wanted and self.depth + 1 < spec.max_depth:
            tools.append(DelegateTool(child, depth=self.depth + 1))
        child.tools = ToolRegistry(tools)
        return child

    async def _output(self, outcomes: list[Outcome], ctx: ToolContext) -> ToolOutput:
        store = ctx.store
        cited: dict[str, None] = {}
        effects: list[ToolEffect] = []
        for o in outcomes:
            if o.result is None:
                if o.cost_usd or o.usage.calls:
                    effects.append(
                        UsageCharged(phase="delegate", usage=o.usage, cost_usd=o.cost_usd, child_run=o.run_id)
                    )
                continue
            o.sources = [s for s in await store.list_sources(o.run_id) if s.kind != "report"]
            for s in o.sources:  # the lead can cite what its sub-agents read
                await store.add_source(ctx.run_id, s)
                cited[s.id] = None
            r = o.result
            effects.append(UsageCharged(phase="delegate", usage=r.usage, cost_usd=r.cost_usd, child_run=o.run_id))
        ids = [o.run_id for o in outcomes]
        meta: dict[str, object] = {"child_runs": ids}
        if len(ids) == 1:
            meta["child_run"] = ids[0]
        reused = sum(o.reused for o in outcomes)
        if reused:
            meta["reused"] = reused
        return ToolOutput(
            text=result_text(outcomes, room_chars=RESULT_CHARS),
            is_error=not any(o.ok for o in outcomes),
            sources=list(cited),
            meta=meta,
            effects=effects,
        )


def _fan_out_error(total: int, before: int, asked: int, spec: SwarmSpec) -> str:
    left = max(0, spec.max_per_turn - before)
    return (
        f"Refused: this turn asks for {total} sub-agents over its delegate calls, and at most "
        f"{spec.max_per_turn} may start in one turn (swarm.max_per_turn). This call asks for {asked}; "
        f"{left} places were left for it. Nothing was started by this call: send fewer subtasks "
        "(merge small ones), or delegate the rest in a later turn."
    )


def start_config(child: Agent) -> dict[str, Any]:
    """The configuration a run starts with, as :meth:`Agent.run` stores it."""
    config = child.describe()
    config["system_prompt"] = system_prompt(child.instructions)
    return config


def first_call_cost(child: Agent, task: str) -> float:
    """The least a sub-agent's first model call can cost (its prompt, cautiously estimated, and
    the shortest answer worth asking for): with less room left, it could not make one call."""
    messages = [{"role": "system", "content": system_prompt(child.instructions)}, {"role": "user", "content": task}]
    prompt = estimate_prompt_tokens(ModelRequest(messages=messages, tools=child.tools.schemas()))
    return prices_of(child.llm).cost(prompt, 0, MIN_ANSWER_TOKENS)


async def _children(store: Store, run_id: str) -> list[RunInfo]:
    return await store.list_runs(parent_id=run_id, limit=100_000)
