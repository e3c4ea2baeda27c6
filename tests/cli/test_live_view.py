"""The live view: a panel that ticks while the model is silent, says each retry and why, shows
what runs where (run, model, provider, endpoint, task, plan, tokens, trajectories), and prints
model and tool text as data, never as markup. The agent feeds it real events."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from rich.console import Console

from agentkit import Agent, tool
from agentkit.cli._live_view import LiveView
from agentkit.llm.client import RetryPolicy
from agentkit.llm.types import ToolCall, Usage
from agentkit.run.live import (
    AgentEvent,
    ModelRetrying,
    Notice,
    PlanMade,
    ReasoningDelta,
    RunBegan,
    RunEnded,
    ToolCallFinished,
    ToolCallStarted,
    ToolProgress,
    TurnStarted,
    UsageReported,
)
from agentkit.testing import FakeProvider, RateLimited, ServerError, Turn, call

HOSTILE = "[/python] [error] [source S1] [bold]x"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def panel_view(clock: Clock, **kw: Any) -> tuple[LiveView, io.StringIO]:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200)
    return LiveView(10, 100_000, console=console, terminal=True, clock=clock, **kw), screen


def panel(view: LiveView) -> str:
    """What the next refresh draws: the Live's own renderable, as rich's refresh thread reads it."""
    assert view.live is not None
    out = Console(file=io.StringIO(), width=200, color_system=None)
    out.print(view.live.renderable)
    return out.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def began(run_id: str = "r1") -> RunBegan:
    return RunBegan(
        run_id=run_id,
        task="How big is it?",
        max_steps=10,
        model="kimi-k2-thinking",
        provider="moonshot",
        endpoint="https://api.moonshot.ai/v1",
    )


def test_the_panel_ticks_while_the_model_is_silent_and_counts_down_a_retry() -> None:
    clock = Clock()
    view, _ = panel_view(clock, run_id="r1")
    view(began())
    view(TurnStarted(run_id="r1", step=1, max_steps=10))
    clock.now += 12  # no event in between: only the refresh
    assert "waiting for the model… 12 s" in panel(view) and "0:00:12" in panel(view)
    view(ModelRetrying(run_id="r1", attempt=2, retries=6, delay_s=4.0, reason="429 rate limited"))
    clock.now += 1
    assert "retry 2/6 in 3 s: 429 rate limited" in panel(view)  # counting down
    clock.now += 4
    assert "retry 2/6 after 429 rate limited: waiting for the model… 17 s" in panel(view)
    view(ReasoningDelta(run_id="r1", text="hm"))
    clock.now += 1
    assert "model thinking… 18 s" in panel(view)
    view(UsageReported(run_id="r1", turn=Usage(), total=Usage(prompt_tokens=5), cost_usd=0.0))
    assert "model thinking" not in panel(view) and "waiting" not in panel(view)


def test_each_retry_is_logged_with_its_reason_in_both_modes() -> None:
    clock = Clock()
    view, screen = panel_view(clock, run_id="r1")
    with view:
        view(ModelRetrying(run_id="r1", attempt=1, retries=2, delay_s=0.5, reason="connection refused"))
    assert "model call: retry 1/2 in 0.5 s: connection refused" in screen.getvalue()
    lines = io.StringIO()
    plain = LiveView(10, 1000, console=Console(file=lines, width=200), terminal=False, clock=clock)
    plain(ModelRetrying(run_id="r1.t2", attempt=3, retries=7, delay_s=8.0, reason="503 server error"))
    assert "[t2] model call: retry 3/7 in 8 s: 503 server error" in lines.getvalue()


def test_the_header_says_what_runs_where_and_the_tokens_so_far() -> None:
    clock = Clock()
    view, _ = panel_view(clock, run_id="r1", task="How big is it?", model="kimi-k2-thinking", provider="moonshot")
    shown = panel(view)  # from the start, before any event
    assert "r1" in shown and "kimi-k2-thinking (moonshot)" in shown and "How big is it?" in shown
    view(began())
    view(PlanMade(run_id="r1", plan=f"1. look it up {HOSTILE}\n2. answer"))
    view(ToolCallStarted(run_id="r1", step=1, call=ToolCall(id="c", name="fetch", arguments=f'{{"u": "{HOSTILE}"}}')))
    total = Usage(prompt_tokens=10_000, cached_tokens=7_500, completion_tokens=500)
    view(UsageReported(run_id="r1", turn=total, total=total, cost_usd=0.0123, context_tokens=10_000, window=100_000))
    shown = panel(view)
    assert "https://api.moonshot.ai/v1" in shown
    assert f"1. look it up {HOSTILE}" in shown and "2. answer" in shown
    assert f'fetch {{"u": "{HOSTILE}"}}' in shown
    assert "10,500 (75% of prompt cached)" in shown and "$0.0123" in shown
    view(PlanMade(run_id="r1", plan="1. new plan", revised=True))
    assert "revised plan" in panel(view) and "1. new plan" in panel(view)


def test_heavy_mode_shows_one_line_per_trajectory() -> None:
    clock = Clock()
    view, _ = panel_view(clock, run_id="h")
    for n in (1, 2):
        view(began(f"h.t{n}"))
        view(TurnStarted(run_id=f"h.t{n}", step=n + 2, max_steps=10))
        usage = Usage(prompt_tokens=1000 * n, completion_tokens=100)
        view(UsageReported(run_id=f"h.t{n}", turn=usage, total=usage, cost_usd=0.01 * n))
    view(RunEnded(run_id="h.t2", status="failed", answer="", stop_reason="boom"))
    rows = [line for line in panel(view).splitlines() if re.match(r"\s+t\d ", line)]
    assert len(rows) == 2
    assert "running" in rows[0] and "step 3" in rows[0] and "1,100 tokens" in rows[0] and "$0.0100" in rows[0]
    assert "failed" in rows[1] and "step 4" in rows[1] and "2,100 tokens" in rows[1] and "$0.0200" in rows[1]
    assert "3,200" in panel(view) and "$0.0300" in panel(view)  # the totals sum the trajectories
    assert "How big is it?" in panel(view)  # the trajectories' task, when the view was not told


def test_bracketed_text_is_printed_literally() -> None:
    view, screen = panel_view(Clock(), run_id="r")
    with view:
        view(Notice(run_id="r", level="error", message="fetch failed [source S1a2b] [error] [/]"))
        view(
            ToolCallFinished(
                run_id="r", step=1, call_id="c", name="fetch", preview=HOSTILE, is_error=False, duration_s=0.1
            )
        )
    shown = screen.getvalue()
    assert "fetch failed [source S1a2b] [error] [/]" in shown and HOSTILE in shown


def test_an_error_the_run_ends_with_is_said_once_by_the_command_not_twice() -> None:
    lines = io.StringIO()
    view = LiveView(10, 1000, console=Console(file=lines, width=200), terminal=False)
    message = "cannot connect to http://127.0.0.1:9/v1: connection refused"
    view(Notice(run_id="r", level="error", message=message))
    view(RunEnded(run_id="r", status="failed", answer="", stop_reason=message))
    view(Notice(run_id="r", level="error", message="report not written: no money"))
    # a trajectory's: said once, when it ends, though another trajectory speaks in between
    view(Notice(run_id="r.t1", level="error", message=message))
    view(TurnStarted(run_id="r.t2", step=3, max_steps=10))
    view(RunEnded(run_id="r.t1", status="failed", answer="", stop_reason=message))
    view.__exit__(None, None, None)
    shown = lines.getvalue()
    assert shown.count(message) == 1 and f"[t1] failed: {message}" in shown  # the run's own: the command's
    assert "[error] report not written: no money" in shown  # an error the run's end does not repeat


@tool
def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: 42"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    script = [
        RateLimited(0.01),
        Turn(content="1. look it up"),
        ServerError(503),
        Turn(tool_calls=[call("lookup", term="x")]),
        Turn(content="42"),
    ]
    with FakeProvider(script) as server:
        yield server


def test_the_agent_reports_where_it_runs_its_plan_and_each_retry(fake: FakeProvider) -> None:
    events: list[AgentEvent] = []

    async def go() -> None:
        async with Agent(provider="custom", base_url=fake.base_url, api_key="k", tools=[lookup]) as agent:
            agent.llm._retry = RetryPolicy(initial_backoff=0.001, max_backoff=0.01)  # type: ignore[attr-defined]
            await agent.run("question", on_event=events.append)

    anyio.run(go)
    first = events[0]
    assert isinstance(first, RunBegan) and first.endpoint == fake.base_url and first.provider == "custom"
    assert first.model
    plans = [e for e in events if isinstance(e, PlanMade)]
    assert [p.plan for p in plans] == ["1. look it up"]
    retries = [e for e in events if isinstance(e, ModelRetrying)]
    assert [(r.attempt, r.reason) for r in retries] == [(1, "429 rate limited"), (1, "503 server error")]


def test_a_running_tools_progress_shows_in_the_panel_until_its_result() -> None:
    view, _ = panel_view(Clock(), run_id="r1")
    view(began())
    view(ToolCallStarted(run_id="r1", step=1, call=ToolCall(id="c", name="db__index", arguments="{}")))
    view(ToolProgress(run_id="r1", step=1, call_id="c", name="db__index", progress=2, total=4, message=HOSTILE))
    assert f"progress  db__index 2/4 (50%) {HOSTILE}" in panel(view)  # the tool's words, as data
    view(ToolProgress(run_id="r1", step=1, call_id="c", name="db__index", progress=7))
    assert re.search(r"progress  db__index 7 *\n", panel(view))  # no total: a count
    view(ToolCallFinished(run_id="r1", step=1, call_id="c", name="db__index", preview="", is_error=False, duration_s=1))
    assert "progress" not in panel(view)
