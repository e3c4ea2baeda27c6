"""The recall tool on a real SQLite store: what it finds and shows, its token cap, scopes over
a run tree (trajectories, sub-agents), memory runs, and when a run gets it by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agentkit import Agent, tool
from agentkit.context.builder import ELIDED_REASONING, ELIDED_REASONING_RECALL, ContextBuilder, placeholder
from agentkit.context.policy import BatchPrune, ViewCut
from agentkit.context.tokens import TokenEstimator
from agentkit.llm.types import ToolCall
from agentkit.store import NoteAdded, RunInfo, Source, SQLiteStore, Store, ToolResultEvent
from agentkit.store.events import AssistantMessage
from agentkit.store.fold import RunState, TurnRecord
from agentkit.task.sections import DEFAULT_TOOLS, KEEP_TOOL_RESULTS, MemorySpec, ToolSettings, default_tools
from agentkit.testing import ScriptedModel
from agentkit.tools import ToolContext, ToolRegistry, builtin_tools
from agentkit.tools.recall import MemoryRunNotFound, RecallTool, check_memory
from agentkit.vocabulary import AssistantTurn

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    async with SQLiteStore(tmp_path / "agentkit.db") as s:
        yield s


async def recall(store: Store, run_id: str, memory: dict[str, Any] | None = None, **args: Any) -> tuple[str, bool]:
    registry = ToolRegistry([RecallTool(**({"max_tokens": args.pop("max_tokens")} if "max_tokens" in args else {}))])
    call = ToolCall(id="recall:0", name="recall", arguments=orjson.dumps(args).decode(), parsed=args)
    settings = ToolSettings({"memory": memory} if memory else {})
    ctx = ToolContext(run_id=run_id, call_id=call.id, step=99, store=store, workdir=Path("."), settings=settings)
    result = await registry.execute(call, ctx)
    return result.output.text, result.output.is_error


async def a_run(store: Store, run_id: str, parent: str | None = None, *, facts: dict[int, str] | None = None) -> None:
    await store.create_run(RunInfo(id=run_id, task=f"task of {run_id}", parent_id=parent))
    for step, text in (facts or {}).items():
        result = ToolResultEvent(step=step, call_id=f"c{step}", name="fetch", text=text, sources=[f"S{step:07x}"])
        await store.append(run_id, result)


async def test_a_fact_comes_back_with_its_step_and_source(store: Store) -> None:
    facts = {i: f"Observation {i}: the weather was mild. " + "filler text " * 50 for i in range(1, 30)}
    facts[5] = "Observation 5: the vault code is PLUM-4471, written on the blue door."
    await a_run(store, "r", facts=facts)
    await store.append("r", NoteAdded(text="remember to check the vault"))
    text, error = await recall(store, "r", query="vault code")
    assert not error
    lines = text.splitlines()
    assert lines[0] == 'recall "vault code" in this run, best first:'
    assert lines[1].startswith("[step 5 · fetch result · S0000005] ") and "PLUM-4471" in lines[1]
    assert any(line.startswith("[note] ") and "vault" in line for line in lines)
    assert lines[-1] == 'Read a whole page again with fetch("<source id or URL>").'


async def test_no_words_is_a_clear_error_and_syntax_is_just_text(store: Store) -> None:
    await a_run(store, "r", facts={1: 'he said "NEAR(" and * twice'})
    for query in ["", "   ", "!!! ???"]:
        text, error = await recall(store, "r", query=query)
        assert error and text.startswith("recall needs words to look for"), text
    text, error = await recall(store, "r", query='"NEAR( *')
    assert not error and "[step 1 · fetch result" in text
    text, error = await recall(store, "r", query="zanzibar")
    assert (
        not error and text == 'recall "zanzibar": nothing in this run matches. Try other words the text would contain.'
    )


async def test_the_result_stays_within_its_token_cap(store: Store) -> None:
    facts = {i: f"Entry {i}: the lighthouse keeper logged weather {i}. " + f"w{i} " * 200 for i in range(1, 60)}
    await a_run(store, "r", facts=facts)
    full, _ = await recall(store, "r", query="lighthouse keeper", k=20)
    assert len([line for line in full.splitlines() if line.startswith("[step")]) == 20
    capped, _ = await recall(store, "r", query="lighthouse keeper", k=20, max_tokens=300)
    shown = [line for line in capped.splitlines() if line.startswith("[step")]
    assert 1 <= len(shown) < 20
    assert f"({20 - len(shown)} more passage(s) not shown: over recall's output cap" in capped
    body = "\n".join(capped.splitlines()[: 1 + len(shown)])
    assert TokenEstimator().estimate(len(body.encode())) <= 300


async def test_one_long_page_does_not_crowd_out_the_rest(store: Store) -> None:
    await a_run(store, "r", facts={1: "the otter swims. " * 3000, 2: "one otter note"})
    text, _ = await recall(store, "r", query="otter", k=5)
    steps = [line.split(" · ")[0] for line in text.splitlines() if line.startswith("[step")]
    assert steps.count("[step 1") == 2 and "[step 2" in steps  # two passages of one text at most


async def test_scope_run_reaches_parent_and_siblings_and_nothing_else(store: Store) -> None:
    await a_run(store, "p", facts={1: "parent saw the heron"})
    await a_run(store, "p.0", "p", facts={2: "trajectory 0 saw the heron"})
    await a_run(store, "p.1", "p", facts={3: "trajectory 1 saw the heron"})
    await a_run(store, "p.0.delegate-1.0", "p.0", facts={4: "sub-agent saw the heron"})
    await a_run(store, "q", facts={5: "another task saw the heron"})
    own, _ = await recall(store, "p.0.delegate-1.0", query="heron")
    assert [line.split("]")[0] for line in own.splitlines()[1:] if line.startswith("[")] == [
        "[step 4 · fetch result · S0000004"
    ]
    whole, _ = await recall(store, "p.0.delegate-1.0", query="heron", scope="run")
    assert whole.splitlines()[0] == 'recall "heron" in this task\'s 4 run(s), best first:'
    found = {line.split(" · ")[0] for line in whole.splitlines() if line.startswith("[")}
    assert found == {"[run p", "[run p.0", "[run p.1", "[step 4"}  # other runs are named, this one not
    assert "another task" not in whole


async def test_memory_runs_are_searched_read_only_with_their_run_ids(store: Store) -> None:
    await a_run(store, "old", facts={5: "the vault code is PLUM-4471"})
    await store.add_source("old", Source(id="S0000005", url="https://vault.example/code", title="Vault"))
    await a_run(store, "old.0", "old", facts={6: "a trajectory of the old run found the vault key under the mat"})
    await store.create_run(RunInfo(id="t1", task="series 1", tags=["vaults"]))
    await store.append("t1", NoteAdded(text="series note: the vault opens at noon"))
    await a_run(store, "now")
    await a_run(store, "unrelated", facts={7: "the vault of another project"})
    before = {r: len(await store.events(r)) for r in ("old", "old.0", "t1", "now")}

    text, _ = await recall(store, "now", {"runs": ["old"]}, query="vault", k=10)
    assert text.splitlines()[0] == 'recall "vault" in this run and 2 memory run(s), best first:'
    assert "[run old · step 5 · fetch result · https://vault.example/code] " in text  # its URL: the id is another run's
    assert "[run old.0 · step 6 · fetch result · S0000006]" in text
    assert "another project" not in text and "noon" not in text

    text, _ = await recall(store, "now", {"tag": "vaults"}, query="vault")
    assert "[run t1 · note] series note: the vault opens at noon" in text and "PLUM" not in text
    await store.update_run("now", tags=["vaults"])  # a run of the series does not recall itself
    await store.append("now", NoteAdded(text="my own vault thought"))
    text, _ = await recall(store, "now", {"tag": "vaults"}, query="vault")
    assert "[note] my own vault thought" in text and text.count("my own vault thought") == 1
    assert {r: len(await store.events(r)) for r in before} == {**before, "now": 1}  # nothing written


async def test_a_trajectory_of_a_tagged_run_does_not_read_its_siblings_through_the_tag(store: Store) -> None:
    await store.create_run(RunInfo(id="s", task="heavy", tags=["vaults"]))
    await a_run(store, "s.0", "s", facts={1: "trajectory 0 found the vault"})
    await a_run(store, "s.1", "s", facts={2: "trajectory 1 found the vault"})
    await store.create_run(RunInfo(id="earlier", task="before", tags=["vaults"]))
    await store.append("earlier", NoteAdded(text="an earlier vault"))
    text, _ = await recall(store, "s.0", {"tag": "vaults"}, query="vault")
    assert "trajectory 0" in text and "[run earlier · note]" in text and "trajectory 1" not in text
    text, _ = await recall(store, "s.0", {"tag": "vaults"}, query="vault", scope="run")
    assert "[run s.1 · step 2" in text  # asked for: the task's runs


async def test_memory_runs_must_exist_before_a_run_starts(store: Store) -> None:
    await a_run(store, "3f2a9c1b7d04")
    await check_memory(store, MemorySpec(runs=["3f2a9c1b7d04", "3f2a"], tag="new-series"))
    with pytest.raises(MemoryRunNotFound) as info:
        await check_memory(store, MemorySpec(runs=["3f2a", "ffff0000"]))
    assert str(info.value).startswith("memory.runs[1]: no run 'ffff0000' in the store")


def test_recall_is_on_by_default_in_long_runs_and_with_memory() -> None:
    assert BatchPrune().keep == KEEP_TOOL_RESULTS  # the rule follows the budget's default
    assert default_tools(300) == (*DEFAULT_TOOLS, "recall")
    assert default_tools(21) == (*DEFAULT_TOOLS, "recall")
    assert default_tools(20) == DEFAULT_TOOLS  # the budget's count trigger: 2 x keep
    assert default_tools(100, keep_tool_results=50) == DEFAULT_TOOLS
    assert default_tools(5, memory=True) == (*DEFAULT_TOOLS, "recall")
    assert [t.name for t in builtin_tools(names=["recall"])] == ["recall"]


@tool
def lookup(term: str) -> str:
    """Look a term up."""
    return term


def test_agents_get_recall_by_the_same_rule() -> None:
    def names(**kwargs: Any) -> list[str]:
        return Agent(llm=ScriptedModel([]), **kwargs).tools.names

    assert "recall" in names(max_steps=300)
    assert "recall" not in names(max_steps=20)
    assert "recall" in names(max_steps=20, memory={"tag": "x"})
    assert names(tools=[lookup]) == ["lookup", "update_plan", "note"]  # a list decides by itself...
    assert names(tools=[lookup], memory={"runs": ["a"]}) == ["lookup", "update_plan", "note", "recall"]  # ...but memory
    with pytest.raises(ValueError, match=r"memory\.tag: must be 1-64"):
        Agent(llm=ScriptedModel([]), memory={"tag": "no spaces"})


def test_notices_of_hidden_text_name_recall_only_when_the_run_has_it() -> None:
    result = ToolResultEvent(step=3, call_id="c", name="fetch", text="x" * 500, sources=["S1"])
    assert placeholder(result) == (
        '[fetch result hidden to save context (500 characters, source S1). Re-read it with fetch("S1") if you need it.]'
    )
    assert placeholder(result, recall=True) == (
        "[fetch result hidden to save context (500 characters, source S1). Re-read it with "
        'fetch("S1") if you need it; recall("words from it") finds it too.]'
    )
    plain = ContextBuilder(system_prompt="s", reasoning_field="reasoning_content")
    with_recall = ContextBuilder(system_prompt="s", reasoning_field="reasoning_content", recall=True)
    state, cut = RunState(run_id="r", task="t"), ViewCut(drop_before=3, summary="we found X")
    summary = str(plain.pinned(state, cut)[-1]["content"])
    assert summary.startswith("Summary of the first 3 steps (condensed to save context; nothing is lost")
    assert "recall" not in summary
    summary = str(with_recall.pinned(state, cut)[-1]["content"])
    assert summary.startswith("Summary of the first 3 steps (condensed to save context; nothing is lost")
    assert "reads again; recall searches their full text):" in summary
    assert "recall" not in ELIDED_REASONING and "recall can search it" in ELIDED_REASONING_RECALL
    call = ToolCall(id="fetch:0", name="fetch", arguments="{}", parsed={})
    turn = AssistantMessage(step=1, turn=AssistantTurn(reasoning="long thoughts", tool_calls=[call]))
    record = TurnRecord(event=turn, results={"fetch:0": result.model_copy(update={"call_id": "fetch:0"})})
    for builder, stub, notice in (
        (plain, ELIDED_REASONING, placeholder(result)),
        (with_recall, ELIDED_REASONING_RECALL, placeholder(result, recall=True)),
    ):
        messages = builder.turn(record, hidden=True, elided=True)
        assert messages[0]["reasoning_content"] == stub and messages[1]["content"] == notice
