"""What the context policy costs: a scripted 300-step run with 4 KB tool results.

    python tools/bench/context.py [--steps 300]

For windows of 64k and 256k tokens and three policies — (a) full history, (b) keep the
last K results re-cut at every step, (c) agentkit's default batch policy — prints prompt
tokens billed, the share served from the prefix cache (the fake provider models the cache
as the longest run of leading messages equal to the previous request), the largest
request against the window, and the cost at Kimi K2 Thinking prices (Moonshot: $0.60/M
input miss, $0.15/M hit, $2.50/M output). (a) is run without a window so its bill can be
shown; its largest request says by how much it would overflow.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _overhead_clock import page_text

from agentkit import Agent, RetryPolicy, tool
from agentkit.context.policy import BatchPrune, ContextPolicy, FullHistory, SlidingWindow
from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.profiles import get_profile
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

K = 10
MAX_TOKENS = 8192


def responder(steps: int) -> Any:
    def respond(req: FakeRequest) -> Turn:
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content="- read pages in order; no findings beyond their numbers")
        seen = [int(n) for n in re.findall(r"page (\d+):", req.text())]
        done = max(seen, default=0)
        if done < steps:
            return Turn(reasoning=f"Read page {done + 1} next.", tool_calls=[call("read_page", n=done + 1)])
        return Turn(content=f"read {done} pages")

    return respond


@tool
def read_page(n: int) -> str:
    """Read page n."""
    return page_text(n)


async def measure(policy: ContextPolicy, window: int, steps: int) -> dict[str, float]:
    with FakeProvider(responder(steps), keep_requests=False) as fake:
        llm = OpenAICompatibleModel(
            provider="moonshot", base_url=fake.base_url, api_key="bench", retry=RetryPolicy(initial_backoff=0.001)
        )
        agent_window = 100_000_000 if isinstance(policy, FullHistory) else window
        agent = Agent(
            llm=llm,
            tools=[read_page],
            plan=False,
            max_steps=steps + 5,
            max_tokens=MAX_TOKENS,
            context_window=agent_window,
            context_policy=policy,
        )
        result = await agent.run("Read the pages in order.")
        await agent.aclose()
        prompt, cached = sum(fake.prompt_tokens), sum(fake.cached_tokens)
    prices = get_profile("moonshot").prices_for("kimi-k2-thinking")
    return {
        "billed": prompt,
        "cached_share": cached / prompt,
        "largest": max(fake.prompt_tokens),
        "cost": prices.cost(prompt, cached, result.usage.completion_tokens),
        "steps": result.steps,
        "ok": float(result.status == "finished"),
    }


async def main_async(steps: int) -> None:
    for window in (65_536, 262_144):
        print(f"\nwindow {window // 1024}k, {steps} steps, 4 KB results, output reserve {MAX_TOKENS}")
        print(f"{'policy':28} {'billed':>12} {'vs (a)':>7} {'cached':>7} {'largest/window':>15} {'cost':>8}")
        base = None
        for name, policy in [
            ("(a) full history", FullHistory()),
            (f"(b) keep last {K} per step", SlidingWindow(K)),
            ("(c) agentkit default", BatchPrune(keep=K)),
        ]:
            r = await measure(policy, window, steps)
            base = base or r["billed"]
            note = "" if r["ok"] else "  (did not finish)"
            print(
                f"{name:28} {r['billed']:12,.0f} {r['billed'] / base:7.0%} {r['cached_share']:7.0%} "
                f"{r['largest'] / window:15.0%} ${r['cost']:7.2f}{note}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    anyio.run(main_async, parser.parse_args().steps)


if __name__ == "__main__":
    main()
