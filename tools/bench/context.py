"""What the context budget bills: scripted long runs with 4 KB tool results.

    python tools/bench/context.py [--steps 1000] [--reasoning-tokens 400] [--policies]

1. **Kimi K3, the 1M profile beside 256k.** The same ``--steps`` run (each turn ~``--reasoning-
   tokens`` of reasoning, which K3 keeps as context, and a 4 KB result) in K3's 1,048,576-token
   window and in a 262,144-token one, with the window as the only bound and with the default
   cost target (``context.max_prompt_tokens``). Prints prompt tokens billed, the share served
   from the prefix cache, the largest request, the prunes and the cost at K3's prices ($3 / 1M
   input, $0.30 cached, $15 output), and the answer (the same in every row, with no restart).
2. **Kimi K2.6, Preserved Thinking on and off.** The same run in K2.6's 256k window with an
   empty reply every 100 steps (agentkit asks again: a user message, so a new turn for the
   service): with ``keep: "all"`` the service keeps every earlier turn's reasoning, without it
   it ignores the reasoning before the latest user message. Same columns, K2.6's prices.
3. ``--policies``: the policies side by side at 32k, 64k and 256k (full history, keep the last
   K results re-cut every step, the default batch policy keeping the reasoning of 1, 2, 4 turns),
   at K2 Thinking's prices, ``--policy-steps`` steps (300).

The fake provider counts what the service reads (without Preserved Thinking, no reasoning
before the latest user message) and models the prefix cache as the longest run of leading
messages some earlier request began with; it enforces each run's window.
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
from agentkit.run._limits import default_max_prompt_tokens, prices_of
from agentkit.store.events import BudgetDecision
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

K = 10
WINDOWS = (32_768, 65_536, 262_144)
_PAGE = re.compile(r"page (\d+):")


def responder(steps: int, reasoning_tokens: int, empty_every: int = 0) -> Any:
    """Read pages in order. A summary request is answered with the last page its transcript
    (or the earlier summary) shows, so the run goes on from there instead of starting over."""
    emptied: set[int] = set()

    def respond(req: FakeRequest) -> Turn:
        done = max((int(n) for n in _PAGE.findall(req.text())), default=0)
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content=f"- page {done}: the last page read; the pages before it were read in order")
        if empty_every and done and done % empty_every == 0 and done not in emptied:
            emptied.add(done)
            return Turn(reasoning="Hmm.", content="")  # an empty reply: agentkit asks again
        if done < steps:
            thought = f"Page {done} is read; the next one is page {done + 1}, then I go on in order. "
            reasoning = thought * max(1, reasoning_tokens // 20)  # ~20 tokens a sentence
            return Turn(reasoning=reasoning, tool_calls=[call("read_page", n=done + 1)])
        return Turn(reasoning="All read.", content=f"read {done} pages")

    return respond


@tool
def read_page(n: int) -> str:
    """Read page n."""
    return page_text(n)


async def measure(
    model: str,
    window: int,
    steps: int,
    reasoning_tokens: int,
    *,
    policy: ContextPolicy | None = None,
    max_prompt_tokens: int | None = None,
    empty_every: int = 0,
    max_tokens: int | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    full = isinstance(policy, FullHistory)
    with FakeProvider(
        responder(steps, reasoning_tokens, empty_every), keep_requests=False, context_window=None if full else window
    ) as fake:
        llm = OpenAICompatibleModel(
            model,
            provider="moonshot",
            base_url=fake.base_url,
            api_key="bench",
            retry=RetryPolicy(initial_backoff=0.001),
            **(options or {}),
        )
        agent = Agent(
            llm=llm,
            tools=[read_page],
            plan=False,
            max_steps=steps + 20,
            max_tokens=max_tokens,
            context_window=100_000_000 if full else window,
            context_policy=policy,
            max_prompt_tokens=max_prompt_tokens,
        )
        result = await agent.run("Read the pages in order.")
        await agent.aclose()
        prompt, cached = sum(fake.prompt_tokens), sum(fake.cached_tokens)
        largest = max(fake.prompt_tokens, default=0)
    events = [e.event for e in await agent.store.events(result.run_id)]
    return {
        "billed": prompt,
        "cached_share": cached / prompt if prompt else 0.0,
        "largest": largest,
        "cost": prices_of(llm).cost(prompt, cached, result.usage.completion_tokens),
        "prunes": sum(isinstance(e, BudgetDecision) and e.action == "prune" for e in events),
        "answer": result.answer if result.status == "finished" else f"({result.status})",
        "target": agent.max_prompt_tokens,
    }


HEADER = f"{'run':50} {'billed':>13} {'cached':>7} {'largest':>9} {'prunes':>7} {'cost':>9}  answer"


def row(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:50} {r['billed']:13,.0f} {r['cached_share']:7.0%} {r['largest']:9,.0f} {r['prunes']:7.0f} "
        f"${r['cost']:8.2f}  {r['answer']}"
    )


async def k3_profiles(steps: int, reasoning_tokens: int) -> None:
    target = default_max_prompt_tokens(prices_of(OpenAICompatibleModel("kimi-k3", provider="moonshot", api_key="x")))
    print(f"\nKimi K3, {steps} steps, 4 KB results, ~{reasoning_tokens} reasoning tokens/turn (kept as context)")
    print(HEADER)
    for window in (1_048_576, 262_144):
        label = f"{window // 1024}k window"
        before = await measure("kimi-k3", window, steps, reasoning_tokens, max_prompt_tokens=window)
        print(row(f"{label}, window only", before), flush=True)
        after = await measure("kimi-k3", window, steps, reasoning_tokens)
        print(row(f"{label}, max_prompt_tokens {target:,} (default)", after), flush=True)
        print(f"{'':50} {after['billed'] / before['billed']:13.0%} of the window-only run's prompt tokens")


async def k26_keep(steps: int, reasoning_tokens: int) -> None:
    print(f"\nKimi K2.6 (256k), {steps} steps, an empty reply (asked again) every 100 steps")
    print(HEADER)
    for keep in (True, False):
        r = await measure(
            "kimi-k2.6",
            262_144,
            steps,
            reasoning_tokens,
            empty_every=100,
            options={"thinking": True, "preserve_thinking": keep},
        )
        print(row(f'keep: "all" (Preserved Thinking) {"on" if keep else "off"}', r), flush=True)


async def policies(steps: int, reasoning_tokens: int, max_tokens: int | None) -> None:
    for window in WINDOWS:
        print(f"\nKimi K2 Thinking, window {window // 1024}k, {steps} steps, policies")
        print(HEADER)
        table: list[tuple[str, ContextPolicy]] = [
            ("(a) full history", FullHistory()),
            (f"(b) keep last {K} per step", SlidingWindow(K)),
        ]
        table += [(f"(c) default, reasoning of {r}", BatchPrune(keep=K, keep_reasoning=r)) for r in (1, 2, 4)]
        for name, policy in table:
            r = await measure("kimi-k2-thinking", window, steps, reasoning_tokens, policy=policy, max_tokens=max_tokens)
            print(row(name, r), flush=True)


async def main_async(args: argparse.Namespace) -> None:
    await k3_profiles(args.steps, args.reasoning_tokens)
    await k26_keep(args.steps, args.reasoning_tokens)
    if args.policies:
        await policies(args.policy_steps, args.reasoning_tokens, args.max_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--reasoning-tokens", type=int, default=400)
    parser.add_argument("--policies", action="store_true")
    parser.add_argument("--policy-steps", type=int, default=300)
    parser.add_argument("--max-tokens", type=int, default=None)
    anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
