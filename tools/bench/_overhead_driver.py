"""Run one framework through the overhead scenario; prints one JSON line of results.

Usage: python tools/bench/_overhead_driver.py FRAMEWORK BASE_URL STEPS
FRAMEWORK: agentkit | bare-openai | openai-agents | smolagents | pydantic-ai
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _overhead_clock import StepClock

MODEL = "kimi-k2-thinking"
BENCH_KEY = "sk-bench-7f3a9e1b2c4d5e6f7a8b9c0d1e2f3a4b5c6d"
TASK = "Read pages 1..N with read_page, one per turn, then say how many you read."


async def run_agentkit(base_url: str, steps: int, clock: StepClock) -> str:
    from agentkit import Agent, tool

    @tool
    def read_page(n: int) -> str:
        """Read page n."""
        return clock.tool(n)

    # plain sync call in the loop thread would block; @tool runs sync functions in a worker
    # thread, whose CPU is still counted by process_time. The key is as long as a real one, so
    # it is registered and every commit pays the by-value secret masking a real run pays.
    agent = Agent(
        provider="moonshot", base_url=base_url, api_key=BENCH_KEY, tools=[read_page], max_steps=steps + 5, plan=False
    )
    result = await agent.run(TASK)
    await agent.aclose()
    return result.answer


async def run_bare_openai(base_url: str, steps: int, clock: StepClock) -> str:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="bench")
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "read_page",
                "description": "Read page n.",
                "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
            },
        }
    ]
    messages: list[Any] = [{"role": "user", "content": TASK}]
    for _ in range(steps + 5):
        stream = await client.chat.completions.create(model=MODEL, messages=messages, tools=tools, stream=True)
        reasoning, content, calls = "", "", {}
        async for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            reasoning += getattr(delta, "reasoning_content", None) or ""
            content += delta.content or ""
            for tc in delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                slot["id"] = tc.id or slot["id"]
                if tc.function and tc.function.name:
                    slot["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    slot["args"] += tc.function.arguments
        if not calls:
            return content
        messages.append(
            {
                "role": "assistant",
                "content": content,
                "reasoning_content": reasoning,
                "tool_calls": [
                    {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["args"]}}
                    for c in calls.values()
                ],
            }
        )
        for c in calls.values():
            n = json.loads(c["args"])["n"]
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": clock.tool(n)})
    return "step limit"


async def run_openai_agents(base_url: str, steps: int, clock: StepClock) -> str:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)

    @function_tool
    def read_page(n: int) -> str:
        """Read page n."""
        return clock.tool(n)

    model = OpenAIChatCompletionsModel(model=MODEL, openai_client=AsyncOpenAI(base_url=base_url, api_key="bench"))
    agent = Agent(name="bench", instructions="Follow the task.", tools=[read_page], model=model)
    result = await Runner.run(agent, TASK, max_turns=steps + 5)
    return str(result.final_output)


async def run_smolagents(base_url: str, steps: int, clock: StepClock) -> str:
    from smolagents import OpenAIServerModel, ToolCallingAgent, tool

    @tool
    def read_page(n: int) -> str:
        """Read page n.

        Args:
            n: The page number.
        """
        return clock.tool(n)

    model = OpenAIServerModel(model_id=MODEL, api_base=base_url, api_key="bench")
    agent = ToolCallingAgent(tools=[read_page], model=model, max_steps=steps + 5, verbosity_level=0)
    return str(await asyncio.to_thread(agent.run, TASK))


async def run_pydantic_ai(base_url: str, steps: int, clock: StepClock) -> str:
    from pydantic_ai import Agent
    from pydantic_ai.usage import UsageLimits

    try:
        from pydantic_ai.models.openai import OpenAIChatModel as ChatModel
    except ImportError:  # older releases
        from pydantic_ai.models.openai import OpenAIModel as ChatModel  # type: ignore[attr-defined,no-redef]
    from pydantic_ai.providers.openai import OpenAIProvider

    model = ChatModel(MODEL, provider=OpenAIProvider(base_url=base_url, api_key="bench"))
    agent = Agent(model, instructions="Follow the task.")

    @agent.tool_plain
    def read_page(n: int) -> str:
        """Read page n."""
        return clock.tool(n)

    result = await agent.run(TASK, usage_limits=UsageLimits(request_limit=steps + 10))
    return str(result.output)


RUNNERS = {
    "agentkit": run_agentkit,
    "bare-openai": run_bare_openai,
    "openai-agents": run_openai_agents,
    "smolagents": run_smolagents,
    "pydantic-ai": run_pydantic_ai,
}


def main() -> None:
    framework, base_url, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    clock = StepClock()
    t0 = time.perf_counter()
    error = None
    answer = ""
    try:
        answer = asyncio.run(RUNNERS[framework](base_url, steps, clock))
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    print(
        json.dumps(
            {
                "framework": framework,
                "per_step": clock.per_step(),
                "tool_calls": len(clock.starts),
                "wall_s": time.perf_counter() - t0,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "answer": answer[:100],
                "error": error,
            }
        )
    )


if __name__ == "__main__":
    main()
