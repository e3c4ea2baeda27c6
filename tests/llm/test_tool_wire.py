"""Tools as the Kimi API takes them: at most 128, valid and unique names that map back, the
same names across a resume, and the run id as the prompt cache key."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from agentkit import Agent, tool
from agentkit.llm._tool_wire import WireNames, wire_name
from agentkit.llm.client import ConfigurationError, OpenAICompatibleModel, RetryPolicy
from agentkit.llm.types import ModelRequest
from agentkit.store import SQLiteStore, ToolResultEvent
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.testing._kimi_rules import TOOL_NAME

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=2)
OLD_RULE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9-_]{2,63}$")  # the tool-use guide's (and hosts') older pattern
OPENAI_RULE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@pytest.mark.parametrize(
    "name",
    ["files.read/v2", "21st__magic_builder", "ab", "x" * 100, "données/lire", "-", "mcp__tool.with.dots", "a" * 128],
)
def test_wire_names_are_valid_under_both_kimi_patterns_and_stable(name: str) -> None:
    wire = wire_name(name, "moonshot")
    assert TOOL_NAME.match(wire) and OLD_RULE.match(wire), wire
    assert wire == wire_name(name, "moonshot")  # a function of the name alone: the same in every process
    assert OPENAI_RULE.match(wire_name(name, "openai"))


def test_valid_names_go_as_they_are_and_look_alike_names_stay_apart() -> None:
    assert wire_name("web_search", "moonshot") == "web_search"
    assert wire_name("ab", "openai") == "ab" and wire_name("ab", "moonshot") != "ab"  # 3+ characters for Kimi
    names = WireNames(["files.read", "files/read", "files_read"], "moonshot")
    assert len(set(names.to_wire.values())) == 3 and names.to_wire["files_read"] == "files_read"
    assert all(names.own(names.wire(n)) == n for n in ("files.read", "files/read", "files_read"))


def test_a_name_that_clashes_with_anothers_alias_is_refused_before_sending() -> None:
    alias = wire_name("files.read", "moonshot")
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("files.read", alias)
    ]
    llm = OpenAICompatibleModel("kimi-k3", "moonshot", api_key="k")
    with pytest.raises(Exception, match="would both be sent as"):
        llm.build_body(ModelRequest(messages=[{"role": "user", "content": "q"}], tools=tools))


def make_tools(n: int) -> list[object]:
    def make(i: int) -> object:
        async def fn(x: int) -> str:
            return str(x)

        fn.__name__ = f"tool_{i}"
        fn.__doc__ = f"Tool number {i}."
        return tool(fn)

    return [make(i) for i in range(n)]


async def test_130_tools_are_refused_when_the_agent_is_built_with_one_message() -> None:
    with FakeProvider([Turn(content="never asked")]) as fake:
        llm = OpenAICompatibleModel("kimi-k3", "moonshot", base_url=fake.base_url, api_key="k")
        with pytest.raises(ConfigurationError) as info:
            Agent(llm=llm, tools=make_tools(130))
        await llm.aclose()
    message = str(info.value)
    assert "\n" not in message and "kimi-k3 takes at most 128 tools" in message and "has 132" in message
    assert fake.requests == []  # nothing was sent
    # 126 of one's own and agentkit's update_plan and note make 128: accepted.
    Agent(llm=OpenAICompatibleModel("kimi-k3", "moonshot", api_key="k"), tools=make_tools(126))
    # Another host's model has no such limit.
    Agent(llm=OpenAICompatibleModel("gpt-5", "openai", api_key="k"), tools=make_tools(130))


async def test_a_tool_named_files_read_v2_reaches_the_model_validly_and_dispatches_back_across_a_resume(
    tmp_path: Path,
) -> None:
    ran: list[str] = []
    first_run_waits = anyio.Event()

    @tool(name="files.read/v2")
    async def read(path: str) -> str:
        """Read a file."""
        ran.append(path)
        if len(ran) == 1:
            first_run_waits.set()
            await anyio.sleep_forever()  # the process dies here (cancelled): the call has no result
        return f"contents of {path}"

    def respond(req: FakeRequest) -> Turn:
        if not any(m["role"] == "tool" for m in req.messages):
            name = next(n for n in req.tool_names if n.startswith("files_read"))
            return Turn(reasoning="read it", tool_calls=[call(name, path="notes.txt")])
        return Turn(content="The notes say hello.", reasoning="answer")

    with FakeProvider(respond) as fake:

        def llm() -> OpenAICompatibleModel:
            return OpenAICompatibleModel("kimi-k3", "moonshot", base_url=fake.base_url, api_key="k", retry=FAST)

        async with SQLiteStore(tmp_path / "s.db") as store:
            agent = Agent(llm=llm(), tools=[read], store=store, plan=False)
            with anyio.fail_after(60):  # a broken script must fail the test, not hang it
                async with anyio.create_task_group() as tg:
                    tg.start_soon(lambda: agent.run("What do the notes say?", run_id="run-1"))
                    await first_run_waits.wait()
                    tg.cancel_scope.cancel()
            await agent.aclose()
            assert (await store.get_run("run-1")).status == "interrupted"
            again = Agent(llm=llm(), tools=[read], store=store, plan=False)
            result = await again.resume("run-1")
            await again.aclose()
            results = [e.event for e in await store.events("run-1") if isinstance(e.event, ToolResultEvent)]
    assert fake.errors == [] and result.status == "finished" and result.answer == "The notes say hello."
    assert ran == ["notes.txt", "notes.txt"]  # dispatched to the tool, and run again after the resume
    assert [(r.name, r.text) for r in results] == [("files.read/v2", "contents of notes.txt")]  # its own name
    wire = wire_name("files.read/v2", "moonshot")
    assert wire.startswith("files_read_v2_")
    assert len(fake.requests) == 2
    for request in fake.requests:  # before and after the resume: the same names, the same cache key
        assert request.tool_names == [wire, "note"] and request.body["prompt_cache_key"] == "run-1"
    history = fake.requests[-1].messages
    assert [c["function"]["name"] for m in history for c in m.get("tool_calls", [])] == [wire]
    assert [m["name"] for m in history if m["role"] == "tool"] == [wire]


async def test_an_mcp_style_name_starting_with_a_digit_gets_a_valid_alias_on_kimi_only() -> None:
    @tool(name="21st__component_builder")
    async def build(spec: str) -> str:
        """Build a component."""
        return "built"

    for model, provider, expected in [
        ("kimi-k3", "moonshot", wire_name("21st__component_builder", "moonshot")),
        ("gpt-5", "openai", "21st__component_builder"),  # valid for OpenAI: left alone
    ]:
        llm = OpenAICompatibleModel(model, provider, api_key="k")
        body = llm.build_body(ModelRequest(messages=[{"role": "user", "content": "q"}], tools=[build.schema]))
        assert [t["function"]["name"] for t in body["tools"]] == [expected]
    assert expected != wire_name("21st__component_builder", "moonshot")


def test_history_names_are_renamed_the_same_when_only_the_new_messages_are_walked() -> None:
    # The rules reuse the previous request's renamed prefix (the same message objects); the
    # result must be what renaming the whole history gives, also when an earlier message is
    # a different object (after a prune) or the tool set changes.
    from agentkit.llm._request import _renamed_history

    llm = OpenAICompatibleModel("kimi-k3", "moonshot", api_key="k")
    tools = [{"type": "function", "function": {"name": "files.read/v2", "parameters": {"type": "object"}}}]

    def turn(i: int) -> list[dict[str, object]]:
        fn = {"name": "files.read/v2", "arguments": f'{{"n": {i}}}'}
        return [
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "r",
                "tool_calls": [{"id": f"c{i}", "function": fn}],
            },
            {"role": "tool", "tool_call_id": f"c{i}", "name": "files.read/v2", "content": "x"},
        ]

    history: list[dict[str, object]] = [{"role": "user", "content": "task"}]
    names = WireNames(["files.read/v2"], "moonshot")
    for i in range(4):
        history = [*history, *turn(i)]
        if i == 2:  # a prune re-rendered an earlier message: a new object in the middle
            history[1] = {**history[1], "content": "pruned"}
        body = llm.build_body(ModelRequest(messages=history, tools=tools, max_tokens=100))
        assert body["messages"] == _renamed_history(history, names)
        wire = [c["function"]["name"] for m in body["messages"] for c in m.get("tool_calls", [])]
        assert wire == [wire_name("files.read/v2", "moonshot")] * (i + 1)
        assert history[1]["tool_calls"][0]["function"]["name"] == "files.read/v2"  # never edited in place
    plain = llm.build_body(ModelRequest(messages=history, tools=[], max_tokens=100))  # another tool set
    assert plain["messages"] == _renamed_history(history, WireNames([], "moonshot"))
