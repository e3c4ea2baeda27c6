"""Trace-store figures: the cost of a durable append, and the time to resume a 1,000-step
run up to its next model request.

    python tools/bench/store.py [--steps 1000] [--repeats 5]

Resume is timed from ``Agent.resume(run_id)`` to the moment the model is asked for the next
turn: opening the store, reading and decoding every event (4 KB tool results, some stored
as blobs), folding them into the run state and rendering the message view. The history is
far larger than the window, so the context budget first prunes it and asks for a summary;
the scripted model answers that at once, so the figure is agentkit's own work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _overhead_clock import page_text
from _store_bench import bench_append

from agentkit import Agent, AssistantTurn, ModelRequest, ToolCall, Usage, tool
from agentkit.store import (
    AssistantMessage,
    PlanUpdated,
    RunInfo,
    RunStarted,
    SQLiteStore,
    ToolResultEvent,
    TraceEvent,
)


class _Reached(Exception):
    pass


class _StopAtFirstRequest:
    """A Model that records when it is first asked, then stops the run."""

    def __init__(self) -> None:
        from agentkit.llm.profiles import get_profile

        self.profile = get_profile("moonshot")
        self.model_name = "kimi-k2-thinking"
        self.reached_at = 0.0
        self.messages = 0
        self.summaries = 0

    async def complete(self, request: ModelRequest, *, on_delta: object = None) -> AssistantTurn:
        if not request.tools:  # the context budget summarising old turns first: answer at once
            self.summaries += 1
            return AssistantTurn(
                content="Pages 1 to N were read; each held one measured value.",
                usage=Usage(prompt_tokens=2000, completion_tokens=20, calls=1),
            )
        self.reached_at = time.perf_counter()
        self.messages = len(request.messages)
        raise _Reached

    async def aclose(self) -> None:
        return None


@tool
def read_page(n: int) -> str:
    """Read page n."""
    return page_text(n)


async def build_run(db: Path, steps: int) -> None:
    async with SQLiteStore(db) as store:
        await store.create_run(RunInfo(id="long", task="read pages"))
        events: list[TraceEvent] = [RunStarted(task="read pages", config={}), PlanUpdated(plan="1. read\n2. answer")]
        for step in range(1, steps + 1):
            call = ToolCall(id=f"read_page:{step}", name="read_page", arguments=f'{{"n": {step}}}', parsed={"n": step})
            turn = AssistantTurn(
                reasoning=f"Read page {step} next; " * 8,
                tool_calls=[call],
                usage=Usage(prompt_tokens=step * 1000, completion_tokens=40, calls=1),
            )
            events.append(AssistantMessage(step=step, turn=turn))
            events.append(ToolResultEvent(step=step, call_id=call.id, name="read_page", text=page_text(step)))
        await store.append_many("long", events)


async def time_resume(db: Path) -> tuple[float, int, int]:
    model = _StopAtFirstRequest()
    store = SQLiteStore(db)
    agent = Agent(llm=model, store=store, tools=[read_page], max_steps=5000)
    start = time.perf_counter()
    try:
        await agent.resume("long")
    except _Reached:
        pass
    finally:
        await store.aclose()
    if not model.reached_at:
        raise RuntimeError("the resumed run never asked the model for a turn")
    return model.reached_at - start, model.messages, model.summaries


async def main_async(steps: int, repeats: int) -> None:
    appends = await bench_append(n=1000, payload_kb=10)
    for mode, figures in appends.items():
        if isinstance(figures, dict):
            print(
                f"durable append ({mode}, 10 KB): median {figures['median_ms']:.3f} ms, p95 {figures['p95_ms']:.3f} ms"
            )
    with tempfile.TemporaryDirectory() as tmp:
        timings: list[float] = []
        messages = summaries = 0
        for _ in range(repeats):
            db = Path(tmp) / f"run{len(timings)}.db"
            await build_run(db, steps)
            elapsed, messages, summaries = await time_resume(db)
            timings.append(elapsed)
        print(
            f"resume a {steps}-step run to its next model request: median "
            f"{statistics.median(timings) * 1000:.1f} ms over {repeats} runs ({messages} messages in the "
            f"request, after {summaries} summary call(s) the context budget made first)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    anyio.run(main_async, args.steps, args.repeats)


if __name__ == "__main__":
    main()
