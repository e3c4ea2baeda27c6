"""One big MCP tool result, in a process of its own: ``python big_result_probe.py SPEC TOOL
ARGS`` (JSON) prints what the model and the store got, and how much the process's peak
memory grew during the call (``ru_maxrss`` is per process, so the figure is this call's)."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

import anyio

from agentkit.llm.types import ToolCall
from agentkit.store.events import RunInfo
from agentkit.store.memory import MemoryStore
from agentkit.tools.base import ToolContext, ToolRegistry
from agentkit.tools.mcp import MCPTools


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def main(spec: dict[str, Any], tool: str, args: dict[str, Any]) -> dict[str, Any]:
    store = MemoryStore()
    registry = ToolRegistry([MCPTools([spec])])

    def ctx(call_id: str = "") -> ToolContext:
        return ToolContext(run_id="r1", call_id=call_id, step=1, store=store, workdir=Path("/tmp"))

    await store.create_run(RunInfo(id="r1", task="t"))
    try:
        await registry.open_run("r1", ctx())
        warm = ToolCall(id="c0", name=tool, arguments="", parsed={**args, "n": 1000})
        assert not (await registry.execute(warm, ctx("c0"))).output.is_error
        before = peak_mb()
        result = await registry.execute(ToolCall(id="c1", name=tool, arguments="", parsed=args), ctx("c1"))
        growth = peak_mb() - before
        out = result.output
        sid = out.meta.get("source_id")
        source = await store.get_source("r1", sid) if sid else None
        stored = await store.get_blob(source.content_hash or "") if source else None
        return {
            "growth_mb": growth,
            "is_error": out.is_error,
            "head": out.text[:600],
            "text_chars": len(out.text),
            "stored_bytes": len(stored) if stored is not None else None,
            "stored_tail": stored[-300:].decode("utf-8", "replace") if stored else None,
            "meta": {k: v for k, v in out.meta.items() if k != "blobs"},
            "images": len(out.images),
        }
    finally:
        await registry.close_run("r1")
        await registry.aclose()


if __name__ == "__main__":
    print(json.dumps(anyio.run(main, json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))))
