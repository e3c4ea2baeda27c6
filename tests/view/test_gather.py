"""The view model read from real runs: steps, context marks where the trace put them, plans,
costs, children, claims linked to the steps that found their sources."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from agentkit import Agent
from agentkit.report import load_report
from agentkit.report.render import why
from agentkit.store import AssistantMessage, BudgetDecision, SQLiteStore, open_store
from agentkit.store.base import RunNotFound
from agentkit.testing import FakeProvider
from agentkit.view import RunView, gather, render_page

from .conftest import Built
from .runs import Held, add, llm

pytestmark = pytest.mark.anyio


async def view_of(built: Built) -> RunView:
    store = open_store(built.store, readonly=True)
    try:
        return await gather(store, built.run_id)
    finally:
        await store.aclose()


async def test_a_long_run_shows_every_step_and_each_prune_before_the_step_it_was_made_for(long_built: Built) -> None:
    view = await view_of(long_built)
    assert [s.step for s in view.steps] == list(range(1, 302))
    assert view.in_progress is False and view.info.status == "finished"
    assert view.steps[136].reasoning.startswith("Step 137: add 137 next.")
    assert view.steps[-1].content == "Added the numbers 1 to 300."
    # where the trace put each prune: after the turns committed before it, so before the next step
    store = SQLiteStore(long_built.store, readonly=True)
    try:
        expected, turns = [], 0
        for stored in await store.events(long_built.run_id):
            if isinstance(stored.event, AssistantMessage):
                turns += 1
            elif isinstance(stored.event, BudgetDecision) and stored.event.action == "prune":
                expected.append(turns + 1)
    finally:
        await store.aclose()
    marks = [m for m in view.context_marks if m.kind in ("prune", "summary")]
    assert [m.before_step for m in marks] == expected
    summaries = [m for m in marks if m.kind == "summary"]
    assert summaries and all(m.summary.startswith("- Added the numbers") for m in summaries)
    assert all(m.summary_usage is not None and m.summary_usage.calls == 1 for m in summaries)
    assert sum(1 for p in view.phases if p.phase == "summary") == len(summaries)
    assert any(m.kind == "prune" and m.hide_before > 0 and m.drop_before == 0 for m in marks)
    # the context drops after each summary, and every request fit the window
    for m in summaries:
        before, after = view.steps[m.before_step - 2], view.steps[m.before_step - 1]
        assert after.context_tokens < before.context_tokens
    assert all(0 < s.context_tokens <= s.window == 12_000 for s in view.steps)
    assert any(s.cached_share and s.cached_share > 0.5 for s in view.steps)
    # the plan and its one revision, at the step whose call made it
    assert [(p.step, p.explanation) for p in view.plans] == [(0, ""), (150, "halfway")]
    assert view.plans[1].plan.startswith("1. (half done)")
    assert view.steps[149].calls[0].effects == ["revised the plan: halfway"]


async def test_a_heavy_run_shows_its_trajectories_their_sub_agent_and_the_aggregation(heavy_built: Built) -> None:
    view = await view_of(heavy_built)
    assert not view.steps and view.aggregation is not None and view.aggregation.method == "reflective"
    assert [c.role for c in view.children] == ["trajectory"] * 3
    assert [c.info.id for c in view.children] == [f"{view.info.id}.{i}" for i in range(3)]
    assert [c.answer for c in view.children] == ["The answer is Paris.", "The answer is Paris.", "The answer is Lyon."]
    first = view.children[0]
    (sub,) = first.children
    assert sub.role == "delegate" and sub.info.parent_id == first.info.id
    delegated = [c for s in first.steps for c in s.calls if c.name == "delegate"]
    assert delegated and delegated[0].child_run == sub.info.id
    assert view.tool_calls == sum(c.tool_calls for c in view.children) > 0
    assert [p.phase for p in view.phases] == ["aggregate"]
    assert len({r.index for r in view.walk()}) == len(view.walk()) == 5  # anchors never collide


async def test_the_report_claims_link_to_the_steps_whose_results_brought_their_sources(demo_built: Built) -> None:
    view = await view_of(demo_built)
    store = open_store(demo_built.store, readonly=True)
    try:
        report = await load_report(store, demo_built.run_id)
    finally:
        await store.aclose()
    assert view.report is not None and report is not None and report.verification.claims
    shown = [(c.sentence, c.verdict, [x.source_id for x in c.citations]) for c in view.report.claims]
    assert shown == [(c.sentence, c.verdict, [x.source_id for x in c.citations]) for c in report.verification.claims]
    reasons = [why(c) if c.verdict != "supported" else "" for c in report.verification.claims]
    assert [c.why for c in view.report.claims] == reasons and any(reasons)
    by_source: dict[str, set[int]] = {}
    for step in view.steps:
        for call in step.calls:
            for sid in call.sources:
                by_source.setdefault(sid, set()).add(step.step)
    linked = 0
    for claim in view.report.claims:
        for cite in claim.citations:
            assert {r.step for r in cite.found} == by_source[cite.source_id]
            linked += len(cite.found)
    assert linked > 0
    assert {s.source.id for s in view.sources} == set(by_source)
    python = next(c for s in view.steps for c in s.calls if c.name == "python")
    assert python.figures and python.figures[0].data.startswith(b"\x89PNG")
    assert "Python cell ran" in python.effects


async def test_an_unknown_run_id_raises_run_not_found(long_built: Built) -> None:
    store = open_store(long_built.store, readonly=True)
    try:
        with pytest.raises(RunNotFound):
            await gather(store, "no-such-run")
    finally:
        await store.aclose()


async def test_a_run_in_progress_says_so_and_reloads_only_when_asked(tmp_path: Path) -> None:
    held = Held(hold_at=3)
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    with FakeProvider(held.respond) as fake:
        async with Agent(llm=llm(fake), tools=[add], store=store) as agent, anyio.create_task_group() as tg:
            result: list[str] = []

            async def drive() -> None:
                result.append((await agent.run("Count to three.", run_id="held-run")).status)

            tg.start_soon(drive)
            assert await anyio.to_thread.run_sync(held.waiting.wait, 60)
            try:
                reader = open_store(path, readonly=True)
                try:
                    view = await gather(reader, "held")
                finally:
                    await reader.aclose()
            finally:
                held.release.set()
    assert view.in_progress and view.info.status == "running"
    assert [s.step for s in view.steps] == [1, 2]
    page = render_page(view)
    assert "In progress." in page and "--watch" in page and 'http-equiv="refresh"' not in page
    assert re.search(r'<meta http-equiv="refresh" content="3">', render_page(view, refresh_s=3))
    assert result == ["finished"]
    reader = open_store(path, readonly=True)
    try:
        done = await gather(reader, "held-run")
    finally:
        await reader.aclose()
        await store.aclose()
    assert not done.in_progress and len(done.steps) == 4
    assert 'http-equiv="refresh"' not in render_page(done, refresh_s=3) and "In progress." not in render_page(done)
