"""Heavy mode: N trajectories of one task as child runs, then one aggregated answer.
The ``delegate`` tool (the swarm: sub-agents as child runs) lives in :mod:`agentkit.ensembles._swarm`;
both reach the Agent through :mod:`agentkit.run._ensemble`. Trajectories may delegate.
"""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from agentkit.ensembles._swarm import DelegateTool as DelegateTool
from agentkit.ensembles._swarm import swarm_spec
from agentkit.llm.errors import ModelError
from agentkit.llm.types import Model, ModelRequest, Usage
from agentkit.run import _ensemble
from agentkit.run._limits import ChargedModel, LimitReached, SharedBudget
from agentkit.run._runs import RunBook, RunResult, stored_result
from agentkit.run.live import EventHandler, Notice, RunEnded, dispatch
from agentkit.store.events import Aggregated, RunInfo, RunStarted
from agentkit.store.fold import RunState, load_state
from agentkit.store.status import shown_run
from agentkit.tools.base import Tool, ToolRegistry
from agentkit.vocabulary import ImageRef

if TYPE_CHECKING:
    from agentkit.run.agent import Agent


AGGREGATE_SYSTEM = (
    "You combine the answers of several independent research trajectories on the same task into "
    "one final answer. Weigh the answers by the evidence behind them (sources, checks), not only "
    "by how many agree. Start with the final answer. Then say in one or two sentences where the "
    "trajectories agreed, where they disagreed, and why you chose as you did. Keep the source ids "
    "in square brackets that support the answer."
)
SELECT_SYSTEM = (
    "Several independent research trajectories answered the same task. Pick the single "
    "best-supported trajectory: the one whose answer is backed by the most reliable, checked "
    "sources. Reply with its number alone on the first line, then one sentence saying why."
)


def normalise_answer(text: str) -> str:
    """For voting: case, punctuation, spacing and a leading 'the answer is' do not matter."""
    text = text.strip().lower()
    text = re.sub(r"^(the )?(final )?answer( is)?[:\s]+", "", text)
    text = re.sub(r"\[s[0-9a-f]+\]", "", text)  # citations differ between trajectories
    text = re.sub(r"[^\w.%\s-]|(?<!\d)\.|\.(?!\d)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def child_agent(agent: Agent, index: int, *, budget: SharedBudget | None, delegate: bool | None = None) -> Agent:
    """A trajectory of ``agent``: same model client (one concurrency limit and rate-limit
    backoff), tools (one fetch cache) and store; its own seed and a slightly varied temperature."""
    child = copy.copy(agent)
    child.heavy = 1
    child.seed = (agent.seed or 0) + index
    low, high = agent.llm.profile.temperature_range
    base = agent.temperature if agent.temperature is not None else agent.llm.profile.default_temperature
    if base is not None and index:
        child.temperature = min(high, max(low, base - 0.1 * (index % 4)))
    child.shared_budget = budget
    if delegate is False:
        child.tools = ToolRegistry(t for t in agent.tools if t.name != "delegate")
    elif isinstance(agent.tools.get("delegate"), DelegateTool):  # its sub-agents hang off the trajectory
        child.tools = ToolRegistry(t.bound_to(child) if isinstance(t, DelegateTool) else t for t in agent.tools)
    return child


async def rationale(agent: Agent, run_id: str) -> str:
    """A condensed account of a trajectory: plan, notes, sources read, answer."""
    state = await load_state(agent.store, run_id)
    sources = [s for s in await agent.store.list_sources(run_id) if s.kind in ("page", "pdf")]
    parts = [f"Plan:\n{state.plan}" if state.plan else ""]
    if state.notes:
        parts.append("Notes:\n" + "\n".join(f"- {n}" for n in state.notes[-12:]))
    if sources:
        parts.append("Sources read: " + "; ".join(f"[{s.id}] {s.title or s.url}" for s in sources[:15]))
    parts.append(f"Steps: {state.step}, tool calls: {state.tool_calls}")
    return "\n".join(p for p in parts if p)


async def run_heavy(
    agent: Agent,
    task: str,
    *,
    run_id: str,
    on_event: EventHandler | None,
    resumed: bool,
    images: Sequence[ImageRef] = (),
) -> RunResult:
    store, n = agent.store, agent.heavy
    if not resumed:
        config = agent.describe()
        await store.create_run(RunInfo(id=run_id, task=task, config=config, label=f"heavy x{n}"))
        book = RunBook(store, RunState(run_id=run_id))
        await book.commit(RunStarted(task=task, config=config, images=list(images)))
    else:
        state = await load_state(store, run_id)
        done = state.finished
        if done is not None:
            return stored_result(await shown_run(store, await store.get_run(run_id)))
        task, images = state.task, state.images
        book = RunBook(store, state)
        await book.resumed()
    existing = {r.id: r for r in await store.list_runs(parent_id=run_id, limit=10_000)}
    budget = SharedBudget(spent=sum(r.cost_usd for r in existing.values()))
    results: dict[str, RunResult] = {}
    failures: dict[str, str] = {}
    need = math.ceil(agent.early_stop * n) if agent.early_stop else None

    async def trajectory(index: int, scope: anyio.CancelScope) -> None:
        child_id = f"{run_id}.{index}"
        child = child_agent(agent, index, budget=budget)
        try:
            if child_id in existing:
                result = await child.resume(child_id, on_event=on_event)
            else:
                result = await child.run(
                    task,
                    run_id=child_id,
                    parent_id=run_id,
                    label=f"trajectory {index}",
                    on_event=on_event,
                    images=images,  # stored once, with the parent run
                )
        except Exception as exc:  # a broken trajectory must not take the others down
            failures[child_id] = f"{type(exc).__name__}: {exc}"
            return
        if result.status in ("finished", "stopped") and result.answer.strip():
            results[child_id] = result
        else:
            failures[child_id] = result.error or result.stop_reason or result.status
        if need is not None:
            top = Counter(normalise_answer(r.answer) for r in results.values()).most_common(1)
            if top and top[0][1] >= need:
                scope.cancel()

    try:
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(trajectory, i, tg.cancel_scope)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await book.interrupt("cancelled")
        raise
    try:
        return await _conclude(agent, book, task, results, failures, budget, on_event)
    except Exception as exc:  # aggregation or the store failed: the parent must not stay `running`
        with anyio.CancelScope(shield=True):
            await book.settle(exc)
        raise


async def _conclude(
    agent: Agent,
    book: RunBook,
    task: str,
    results: dict[str, RunResult],
    failures: dict[str, str],
    budget: SharedBudget,
    on_event: EventHandler | None,
) -> RunResult:
    """Aggregate the trajectories' answers and finish the parent run."""
    store, n, run_id = agent.store, agent.heavy, book.run_id
    children = sorted(results)
    usage = sum((r.usage for r in results.values()), Usage())
    cost = sum(r.cost_usd for r in results.values())
    steps = sum(r.steps for r in results.values())
    if not results:
        reason = f"all {n} trajectories failed: " + "; ".join(f"{k}: {v}" for k, v in sorted(failures.items()))
        await book.finish("failed", "", reason, steps=steps, usage=usage, cost_usd=cost)
        return RunResult(
            run_id=run_id,
            status="failed",
            answer="",
            error=reason,
            stop_reason=reason,
            steps=steps,
            usage=usage,
            cost_usd=cost,
        )
    limit = agent.limits.max_cost_usd
    room = None if limit is None else limit - budget.spent
    model = ChargedModel(agent.llm, max_tokens=agent.max_tokens, room_usd=room, window=agent.context_window)
    try:
        event = await aggregate(agent, task, results, agent.aggregate, model=model)
    except (ModelError, LimitReached) as exc:
        event = Aggregated(method="vote", answer=_majority(results)[0], children=children, votes=_majority(results)[1])
        if on_event:
            await dispatch(
                on_event,
                Notice(run_id=run_id, level="warning", message=f"aggregation call failed ({exc}); used the majority"),
            )
    event.failed = sorted(failures)
    for child_id in children:  # the parent's report cites what its trajectories read
        for source in await store.list_sources(child_id):
            if source.kind != "report":
                await store.add_source(run_id, source)
    await book.commit(event)
    if event.turn is not None:
        usage, cost = usage + event.turn.usage, cost + event.turn.cost_usd
    await book.finish("finished", event.answer, steps=steps, usage=usage, cost_usd=cost)
    if on_event:
        await dispatch(on_event, RunEnded(run_id=run_id, status="finished", answer=event.answer))
    return RunResult(
        run_id=run_id,
        status="finished",
        answer=event.answer,
        steps=steps,
        tool_calls=sum(r.tool_calls for r in results.values()),
        usage=usage,
        cost_usd=cost,
    )


def _majority(results: dict[str, RunResult]) -> tuple[str, dict[str, int]]:
    votes = Counter(normalise_answer(r.answer) for r in results.values())
    best = votes.most_common(1)[0][0]
    answer = next(r.answer for _, r in sorted(results.items()) if normalise_answer(r.answer) == best)
    return answer, dict(votes)


async def aggregate(
    agent: Agent, task: str, results: dict[str, RunResult], method: str, *, model: Model | None = None
) -> Aggregated:
    children = sorted(results)
    answer, votes = _majority(results)
    ranked = Counter(votes).most_common()
    if method == "vote" and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
        return Aggregated(method="vote", answer=answer, children=children, votes=votes)
    blocks = []
    for k, child_id in enumerate(children, 1):
        blocks.append(f"## Trajectory {k}\nAnswer:\n{results[child_id].answer}\n\n{await rationale(agent, child_id)}")
    system = SELECT_SYSTEM if method == "select" else AGGREGATE_SYSTEM
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Task:\n{task}\n\n" + "\n\n".join(blocks)},
    ]
    turn = await (model or agent.llm).complete(
        ModelRequest(messages=messages, temperature=agent.temperature, max_tokens=agent.max_tokens)
    )
    if method == "select":
        m = re.search(r"\d+", turn.content)
        pick = int(m.group()) if m else 0
        if 1 <= pick <= len(children):
            chosen = children[pick - 1]
            return Aggregated(
                method="select", answer=results[chosen].answer, children=children, votes=votes, chosen=chosen, turn=turn
            )
        return Aggregated(method="select", answer=answer, children=children, votes=votes, turn=turn)
    return Aggregated(method=method, answer=turn.content.strip() or answer, children=children, votes=votes, turn=turn)


class _Ensembles:
    """Heavy mode and delegation, as the Agent reaches them (:mod:`agentkit.run._ensemble`)."""

    async def run_heavy(self, *args: Any, **kwargs: Any) -> RunResult:  # as _ensemble.Ensembles.run_heavy
        return await run_heavy(*args, **kwargs)

    def delegate_tool(self, agent: Agent) -> Tool:
        swarm_spec(agent)  # a bad swarm section fails when the Agent is built, not mid-run
        return DelegateTool(agent)


_ensemble.register(_Ensembles())
