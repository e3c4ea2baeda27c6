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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from agentkit.ensembles._swarm import DelegateTool as DelegateTool
from agentkit.ensembles._swarm import swarm_spec
from agentkit.llm.errors import ModelError
from agentkit.llm.types import Model, ModelRequest, Usage
from agentkit.run import _ensemble
from agentkit.run._limits import ChargedModel, LimitReached, SharedBudget
from agentkit.run._output import OutputContract, OutputInvalid, answer_text, canonical
from agentkit.run._runs import CUT_OFF, RunBook, RunResult, stored_result, unfinished_reply
from agentkit.run.live import EventHandler, Notice, RunEnded, dispatch
from agentkit.store.events import Aggregated, RunInfo, RunStarted, UsageCharged
from agentkit.store.fold import RunState, load_state
from agentkit.store.status import shown_run
from agentkit.tools.base import Tool, ToolRegistry
from agentkit.vocabulary import ImageRef, VideoRef

if TYPE_CHECKING:
    from agentkit.run.agent import Agent


AGGREGATE_SYSTEM = (
    "You combine the answers of several independent research trajectories on the same task into "
    "one final answer. Weigh the answers by the evidence behind them (sources, checks), not only "
    "by how many agree. Start with the final answer. Then say in one or two sentences where the "
    "trajectories agreed, where they disagreed, and why you chose as you did. Keep the source ids "
    "in square brackets that support the answer."
)
AGGREGATE_SCHEMA_SYSTEM = (
    "You combine the answers of several independent research trajectories on the same task into "
    "one final answer. Weigh the answers by the evidence behind them (sources, checks), not only "
    "by how many agree. Reply with only the final answer: a single JSON value that matches the "
    "JSON schema below, with no other text before or after it. Keep the source ids in square "
    "brackets that support it inside its strings.\n```json\n{schema}\n```"
)
"""The reflective aggregator's system prompt for a run with an output type (``{schema}``: its schema)."""
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


def answer_key(agent: Agent, result: RunResult) -> str:
    """What votes compare: the output's JSON (keys sorted) for a run with an output type, else
    the normalised answer text."""
    contract = agent.output_contract
    if contract is not None and result.output is not None:
        return canonical(contract.data_of(result.output))
    return normalise_answer(result.answer)


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
    videos: Sequence[VideoRef] = (),
) -> RunResult:
    store, n = agent.store, agent.heavy
    if not resumed:
        config = agent.describe()
        tags = agent.settings.memory.own_tags
        await store.create_run(RunInfo(id=run_id, task=task, config=config, label=f"heavy x{n}", tags=tags))
        book = RunBook(store, RunState(run_id=run_id))
        await book.start(RunStarted(task=task, config=config, images=list(images), videos=list(videos)))
    else:
        state = await load_state(store, run_id)
        done = state.finished
        if done is not None:
            return stored_result(await shown_run(store, await store.get_run(run_id)))
        task, images, videos = state.task, state.images, state.videos
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
                    videos=videos,
                )
        except Exception as exc:  # a broken trajectory must not take the others down
            failures[child_id] = f"{type(exc).__name__}: {exc}"
            return
        valid = agent.output_contract is None or result.output is not None
        if result.status in ("finished", "stopped") and result.answer.strip() and valid:
            results[child_id] = result
        else:
            failures[child_id] = result.error or result.stop_reason or result.status
            if not valid and result.status != "failed":
                failures[child_id] = f"no answer that matches the output schema ({failures[child_id]})"
        if need is not None:
            top = Counter(answer_key(agent, r) for r in results.values()).most_common(1)
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
        done = await aggregate(agent, task, results, agent.aggregate, model=model)
    except (ModelError, LimitReached) as exc:
        chosen, votes = _majority(agent, results)
        done = _picked(agent, results, chosen, Aggregated(method="vote", answer="", children=children, votes=votes))
        done.warning = f"aggregation call failed ({exc}); used the majority"
    if on_event and done.warning:
        await dispatch(on_event, Notice(run_id=run_id, level="warning", message=done.warning))
    event = done.event
    event.failed = sorted(failures)
    for child_id in children:  # the parent's report cites what its trajectories read
        for source in await store.list_sources(child_id):
            if source.kind != "report":
                await store.add_source(run_id, source)
    for charge in done.charges:  # aggregation turns whose answer missed the output schema
        await book.commit(charge)
        usage, cost = usage + charge.usage, cost + charge.cost_usd
    await book.commit(event)
    if event.turn is not None:
        usage, cost = usage + event.turn.usage, cost + event.turn.cost_usd
    await book.finish("finished", event.answer, output=done.output, steps=steps, usage=usage, cost_usd=cost)
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
        output=done.output,
    )


@dataclass
class Aggregation:
    """What aggregating the trajectories gave: the event to commit, the parent's output (the
    answer's JSON, with an output type), aggregation turns to charge besides ``event.turn``, and
    a warning to show."""

    event: Aggregated
    output: Any = None
    charges: list[UsageCharged] = field(default_factory=list)
    warning: str | None = None


def _majority(agent: Agent, results: dict[str, RunResult]) -> tuple[str, dict[str, int]]:
    """The first trajectory (by id) with the most common answer, and the votes."""
    votes = Counter(answer_key(agent, r) for r in results.values())
    best = votes.most_common(1)[0][0]
    chosen = next(child_id for child_id, r in sorted(results.items()) if answer_key(agent, r) == best)
    return chosen, dict(votes)


def _picked(agent: Agent, results: dict[str, RunResult], chosen: str, event: Aggregated) -> Aggregation:
    """The parent answers as trajectory ``chosen`` did (its answer, and its output's JSON)."""
    result, contract = results[chosen], agent.output_contract
    event.answer = result.answer
    output = contract.data_of(result.output) if contract is not None and result.output is not None else None
    return Aggregation(event, output)


async def aggregate(
    agent: Agent, task: str, results: dict[str, RunResult], method: str, *, model: Model | None = None
) -> Aggregation:
    """Combine the trajectories' answers: ``vote`` (the majority, compared as normalised text or,
    with an output type, as JSON), ``select`` (the trajectory the model picks) or ``reflective``
    (the model writes the answer; with an output type it gets the schema, as ``response_format``
    where the host takes it, and one re-ask; an answer still invalid falls back to the majority,
    whose output is valid). A ``vote`` tie is settled as ``reflective``."""
    children = sorted(results)
    majority, votes = _majority(agent, results)
    ranked = Counter(votes).most_common()
    if method == "vote" and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
        return _picked(agent, results, majority, Aggregated(method="vote", answer="", children=children, votes=votes))
    blocks = []
    for k, child_id in enumerate(children, 1):
        blocks.append(f"## Trajectory {k}\nAnswer:\n{results[child_id].answer}\n\n{await rationale(agent, child_id)}")
    contract = agent.output_contract if method != "select" else None
    if method == "select":
        system = SELECT_SYSTEM
    elif contract is not None:
        system = AGGREGATE_SCHEMA_SYSTEM.format(schema=answer_text(contract.schema))
    else:
        system = AGGREGATE_SYSTEM
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Task:\n{task}\n\n" + "\n\n".join(blocks)},
    ]
    llm = model or agent.llm
    schema = contract.request_schema if contract is not None else None
    request = ModelRequest(
        messages=messages, temperature=agent.temperature, max_tokens=agent.max_tokens, response_schema=schema
    )
    turn = await llm.complete(request)
    if method == "select":
        m = re.search(r"\d+", turn.content)
        pick = int(m.group()) if m else 0
        chosen = children[pick - 1] if 1 <= pick <= len(children) else None
        event = Aggregated(method="select", answer="", children=children, votes=votes, chosen=chosen, turn=turn)
        return _picked(agent, results, chosen or majority, event)
    if contract is None:
        answer = turn.content.strip() or results[majority].answer
        return Aggregation(Aggregated(method=method, answer=answer, children=children, votes=votes, turn=turn))
    return await _schema_answer(agent, contract, llm, request, turn, results, majority, votes)


async def _schema_answer(
    agent: Agent,
    contract: OutputContract,
    llm: Model,
    request: ModelRequest,
    turn: Any,
    results: dict[str, RunResult],
    majority: str,
    votes: dict[str, int],
) -> Aggregation:
    """The reflective aggregator's answer checked against the output type, with one re-ask."""
    children = sorted(results)
    charges: list[UsageCharged] = []
    for attempt in (1, 2):
        try:
            if unfinished_reply(turn) == CUT_OFF:
                raise OutputInvalid("- the reply was cut off by the output limit before it ended")
            checked = contract.check(turn.content)
        except OutputInvalid as exc:
            problem = exc
        else:
            event = Aggregated(
                method="reflective", answer=answer_text(checked.data), children=children, votes=votes, turn=turn
            )
            return Aggregation(event, checked.data, charges)
        if attempt == 2:
            break
        charges.append(UsageCharged(phase="aggregate", usage=turn.usage, cost_usd=turn.cost_usd))
        said: dict[str, Any] = {"role": "assistant", "content": turn.content}
        if agent.llm.profile.reasoning_field:  # Preserved Thinking: every assistant message carries its reasoning
            said[agent.llm.profile.reasoning_field] = turn.reasoning
        retry = [*request.messages, said, {"role": "user", "content": contract.retry_prompt(problem)}]
        turn = await llm.complete(request.model_copy(update={"messages": retry}))
    event = Aggregated(method="reflective", answer="", children=children, votes=votes, chosen=majority, turn=turn)
    done = _picked(agent, results, majority, event)
    done.charges, done.warning = (
        charges,
        f"the aggregated answer did not match the output schema; used the majority:\n{problem}",
    )
    return done


class _Ensembles:
    """Heavy mode and delegation, as the Agent reaches them (:mod:`agentkit.run._ensemble`)."""

    async def run_heavy(self, *args: Any, **kwargs: Any) -> RunResult:  # as _ensemble.Ensembles.run_heavy
        return await run_heavy(*args, **kwargs)

    def delegate_tool(self, agent: Agent) -> Tool:
        swarm_spec(agent)  # a bad swarm section fails when the Agent is built, not mid-run
        return DelegateTool(agent)


_ensemble.register(_Ensembles())
