"""CPU per streamed model request on each of the client's wires (agentkit.llm._wire).

The same request (a 40-turn history, ~180 KB) is posted N times to the fake provider, which
runs in its own process and answers at once with a streamed tool call; the figure is this
process's CPU per request (posting, reading and decoding the stream), the median of several
rounds. ``aiohttp`` is the client's default; ``httpx2 via the SDK`` is what a client given
its own ``http_client`` uses (the SDK's ``client.post``, httpx2, httpcore2, h11).

    python tools/bench/wire.py [--requests 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio
import httpx2
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fake_provider_process, median

from agentkit.llm.client import OpenAICompatibleModel


def body() -> bytes:
    messages: list[dict[str, object]] = [{"role": "user", "content": "Read pages 1..N with read_page, one per turn."}]
    for i in range(1, 40):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "read_page", "arguments": f'{{"n": {i}}}'}}
        messages.append({"role": "assistant", "content": "", "reasoning_content": "r" * 300, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": "x" * 4000})
    tool = {
        "type": "function",
        "function": {
            "name": "read_page",
            "description": "Read page n.",
            "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        },
    }
    request = {"model": "kimi-k2-thinking", "messages": messages, "tools": [tool], "stream": True}
    return orjson.dumps({**request, "stream_options": {"include_usage": True}})


async def per_request(base_url: str, wire: str, requests: int) -> float:
    given = {"http_client": httpx2.AsyncClient()} if wire != "aiohttp" else {}
    llm = OpenAICompatibleModel("kimi-k2-thinking", "custom", base_url=base_url, api_key="bench", **given)  # type: ignore[arg-type]
    payload, headers = body(), {"Content-Type": "application/json"}
    try:
        async with llm._wire.stream(payload, headers) as events:  # a first request opens the connection
            _ = [event async for event in events]
        start = time.process_time()
        for _ in range(requests):
            async with llm._wire.stream(payload, headers) as events:
                async for _event in events:
                    pass
        return (time.process_time() - start) / requests
    finally:
        await llm.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wires = ("aiohttp", "httpx2 via the SDK")
    figures: dict[str, list[float]] = {w: [] for w in wires}
    with fake_provider_process("_overhead_scenario:make", lenient=True) as base_url:
        for _ in range(args.rounds):
            for wire in wires:
                figures[wire].append(anyio.run(per_request, base_url, wire, args.requests))
    print(f"CPU per streamed request ({len(body()) // 1024} KB body), median of {args.rounds} rounds")
    for wire in wires:
        print(f"  {wire:20} {median(figures[wire]) * 1000:6.2f} ms")
    ratio = median(figures[wires[1]]) / median(figures[wires[0]])
    print(f"  the SDK's path costs {ratio:.1f}x aiohttp's")


if __name__ == "__main__":
    main()
