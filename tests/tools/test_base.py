"""@tool schemas, argument validation, timeouts, caps and concurrency."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from agentkit.llm._repair import make_tool_call
from agentkit.store.memory import MemoryStore
from agentkit.tools.base import ToolContext, ToolOutput, ToolRegistry, ToolResult, tool

pytestmark = pytest.mark.anyio


@tool
async def lookup(term: str, limit: int = 5, ctx: ToolContext | None = None) -> str:
    """Look a term up in the glossary.

    Args:
        term: The word to look up.
        limit: How many entries to return.
    """
    return f"{term}:{limit}:{ctx.run_id if ctx else '-'}"


def ctx(call_id: str = "c") -> ToolContext:
    return ToolContext(run_id="r1", call_id=call_id, step=1, store=MemoryStore(), workdir=Path("."))


def test_schema_from_hints_and_docstring() -> None:
    fn = lookup.schema["function"]
    assert fn["name"] == "lookup"
    assert fn["description"] == "Look a term up in the glossary."
    props = fn["parameters"]["properties"]
    assert props["term"] == {"type": "string", "description": "The word to look up."}
    assert props["limit"]["default"] == 5 and props["limit"]["type"] == "integer"
    assert fn["parameters"]["required"] == ["term"]
    assert "ctx" not in props and "title" not in fn["parameters"]


async def test_context_is_injected_and_sync_functions_run_in_threads() -> None:
    @tool
    def blocking(n: int) -> dict[str, int]:
        """Sleep then answer."""
        time.sleep(0.05)
        return {"n": n}

    reg = ToolRegistry([lookup, blocking])
    out = await reg.execute(make_tool_call("c", "lookup", '{"term": "k2"}'), ctx())
    assert out.output.text == "k2:5:r1"
    out = await reg.execute(make_tool_call("c", "blocking", '{"n": 3}'), ctx())
    assert out.output.text == '{"n":3}'


async def test_bad_arguments_become_results_for_the_model() -> None:
    reg = ToolRegistry([lookup])
    res = await reg.execute(make_tool_call("c", "lookup", '{"term": "x", "limit": "many"}'), ctx())
    assert res.output.is_error and "limit" in res.output.text and "valid integer" in res.output.text
    res = await reg.execute(make_tool_call("c", "lookup", '{"limit": 2}'), ctx())
    assert res.output.is_error and "term" in res.output.text and "required" in res.output.text.lower()
    res = await reg.execute(make_tool_call("c", "lookup", '{"term": "x", "bogus": 1}'), ctx())
    assert res.output.is_error and "bogus" in res.output.text
    res = await reg.execute(make_tool_call("c", "lookup", '{"term": "x'), ctx())
    assert res.output.is_error and "not valid JSON" in res.output.text
    res = await reg.execute(make_tool_call("c", "nope", "{}"), ctx())
    assert res.output.is_error and "Available tools: lookup" in res.output.text


async def test_exceptions_timeouts_and_size_caps() -> None:
    @tool(timeout_s=0.1)
    async def slow() -> str:
        """Never finishes in time."""
        await anyio.sleep(5)
        return "late"

    @tool
    async def crash() -> str:
        """Raises."""
        raise RuntimeError("disk on fire")

    @tool(max_result_chars=1000)
    async def big() -> str:
        """Too much output."""
        return "x" * 50_000

    reg = ToolRegistry([slow, crash, big])
    res = await reg.execute(make_tool_call("a", "slow", "{}"), ctx())
    assert res.output.is_error and "timed out after 0.1 s" in res.output.text
    res = await reg.execute(make_tool_call("b", "crash", "{}"), ctx())
    assert res.output.is_error and "RuntimeError: disk on fire" in res.output.text
    res = await reg.execute(make_tool_call("c", "big", "{}"), ctx())
    assert len(res.output.text) <= 1100 and "truncated" in res.output.text


async def test_calls_of_one_turn_run_concurrently() -> None:
    """All three calls run at once, and each result is committed as its call completes: the
    test releases them in an order of its choosing, once all three are running."""
    release = {name: anyio.Event() for name in ("a", "b", "c")}
    all_running, active = anyio.Event(), [0]

    @tool
    async def wait(name: str) -> ToolOutput:
        """Wait until released."""
        active[0] += 1
        if active[0] == 3:
            all_running.set()
        await release[name].wait()
        return ToolOutput(text=name)

    reg = ToolRegistry([wait])
    calls = [make_tool_call(f"c{i}", "wait", f'{{"name": "{name}"}}') for i, name in enumerate("abc")]
    done: list[str] = []
    committed = {name: anyio.Event() for name in "abc"}

    async def on_result(r: ToolResult) -> None:
        done.append(r.output.text)
        committed[r.output.text].set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.execute_all, calls, lambda c: ctx(c.id), on_result)
        with anyio.fail_after(30):
            await all_running.wait()  # all three at once: never reached if they ran one by one
            for name in "bca":
                release[name].set()
                await committed[name].wait()
    assert done == ["b", "c", "a"]  # committed as each completed, not in call order


def test_invalid_names_and_duplicates() -> None:
    with pytest.raises(ValueError, match="tool name"):
        tool(name="bad name!")(lambda: None)
    with pytest.raises(ValueError, match="duplicate"):
        ToolRegistry([lookup, lookup])
