"""What the context policy costs: a scripted 300-step run with 4 KB tool results.

    python tools/bench/context.py [--steps 300] [--reasoning-tokens 400] [--max-tokens N]

For windows of 32k, 64k and 256k tokens and these policies — (a) full history, (b) keep the
last K results re-cut at every step, (c) agentkit's default batch policy keeping the
reasoning of the newest R turns (R = 1, 2, 4) — prints prompt tokens billed, the share
served from the prefix cache (the fake provider models the cache as the longest run of
leading messages equal to the previous request), the largest request against the window,
the number of prunes and the cost at Kimi K2 Thinking prices (Moonshot: $0.60/M input
miss, $0.15/M hit, $2.50/M output). Each turn carries ``--reasoning-tokens`` of reasoning,
as a thinking model's do, so keeping more turns' reasoning shows in the bill. Default
settings: no ``max_tokens`` (each request's is chosen from the window and the prompt).
(a) is run without a window so its bill can be shown; its largest request says by how much
it would overflow. The fake enforces the window of every other run.
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
from agentkit.store.events import BudgetDecision
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

K = 10
WINDOWS = (32_768, 65_536, 262_144)


def responder(steps: int, reasoning_tokens: int) -> Any:
    def respond(req: FakeRequest) -> Turn:
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content="- read pages in order; no findings beyond their numbers")
        seen = [int(n) for n in re.findall(r"page (\d+):", req.text())]
        done = max(seen, default=0)
        if done < steps:
            thought = f"Page {done} is read; the next one is page {done + 1}, then I go on in order. "
            reasoning = thought * max(1, reasoning_tokens // 20)  # ~20 tokens a sentence
            return Turn(reasoning=reasoning, tool_calls=[call("read_page", n=done + 1)])
        return Turn(content=f"read {done} pages")

    return respond


@tool
def read_page(n: int) -> str:
    """Read page n."""
    return page_text(n)


async def measure(
    policy: ContextPolicy, window: int, steps: int, reasoning_tokens: int, max_tokens: int | None
) -> dict[str, float]:
    full = isinstance(policy, FullHistory)
    with FakeProvider(
        responder(steps, reasoning_tokens), keep_requests=False, context_window=None if full else window
    ) as fake:
        llm = OpenAICompatibleModel(
            provider="moonshot", base_url=fake.base_url, api_key="bench", retry=RetryPolicy(initial_backoff=0.001)
        )
        agent = Agent(
            llm=llm,
            tools=[read_page],
            plan=False,
            max_steps=steps + 5,
            max_tokens=max_tokens,
            context_window=100_000_000 if full else window,
            context_policy=policy,
        )
        result = await agent.run("Read the pages in order.")
        await agent.aclose()
        prompt, cached = sum(fake.prompt_tokens), sum(fake.cached_tokens)
    events = [e.event for e in await agent.store.events(result.run_id)]
    prices = get_profile("moonshot").prices_for("kimi-k2-thinking")
    return {
        "billed": prompt,
        "cached_share": cached / prompt if prompt else 0.0,
        "largest": max(fake.prompt_tokens, default=0),
        "cost": prices.cost(prompt, cached, result.usage.completion_tokens),
        "prunes": sum(isinstance(e, BudgetDecision) and e.action == "prune" for e in events),
        "ok": float(result.status == "finished"),
    }


async def main_async(steps: int, reasoning_tokens: int, max_tokens: int | None) -> None:
    for window in WINDOWS:
        out = f"max_tokens {max_tokens}" if max_tokens else "max_tokens chosen per request"
        print(
            f"\nwindow {window // 1024}k, {steps} steps, 4 KB results, ~{reasoning_tokens} reasoning tokens/turn, {out}"
        )
        print(
            f"{'policy':30} {'billed':>12} {'vs (a)':>7} {'cached':>7} {'largest/window':>15} {'prunes':>7} {'cost':>8}"
        )
        base = None
        policies: list[tuple[str, ContextPolicy]] = [
            ("(a) full history", FullHistory()),
            (f"(b) keep last {K} per step", SlidingWindow(K)),
        ]
        policies += [(f"(c) default, reasoning of {r}", BatchPrune(keep=K, keep_reasoning=r)) for r in (1, 2, 4)]
        for name, policy in policies:
            r = await measure(policy, window, steps, reasoning_tokens, max_tokens)
            base = base or r["billed"] or 1
            note = "" if r["ok"] else "  (did not finish)"
            print(
                f"{name:30} {r['billed']:12,.0f} {r['billed'] / base:7.0%} {r['cached_share']:7.0%} "
                f"{r['largest'] / window:15.0%} {r['prunes']:7.0f} ${r['cost']:7.2f}{note}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--reasoning-tokens", type=int, default=400)
    parser.add_argument("--max-tokens", type=int, default=None)
    args = parser.parse_args()
    anyio.run(main_async, args.steps, args.reasoning_tokens, args.max_tokens)


if __name__ == "__main__":
    main()
