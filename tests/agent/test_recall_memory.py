"""Recall across runs (issue #24): ``memory: {runs: [...]} | {tag: NAME}`` lets a new run's
``recall`` read earlier runs of the same store, with their run ids; a tag makes a series; a
memory run that is not there is invalid input before anything starts. Strict fake provider,
real HTTP, real SQLite store, the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agentkit import Agent, tool
from agentkit.cli import app
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store import SQLiteStore, ToolResultEvent
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

CODE = "PLUM-4471"
runner = CliRunner()


@tool
def observe(n: int) -> str:
    """Record observation n."""
    if n == 5:
        return f"Observation 5: the vault code is {CODE}."
    return f"Observation {n}: nothing about codes."


def first_run(req: FakeRequest) -> Turn:
    """Observes 8 times, then answers without the code (as a run of a series does)."""
    done = sum(m["role"] == "tool" for m in req.messages)
    if done < 8:
        return Turn(tool_calls=[call("observe", n=done + 1)])
    return Turn(content="Observed 8 times.")


def later_run(req: FakeRequest) -> Turn:
    """Recalls the code at once, then answers with what recall returned."""
    results = [m for m in req.messages if m["role"] == "tool"]
    if not results:
        return Turn(tool_calls=[call("recall", query="vault code")])
    found = re.search(r"PLUM-\d+", str(results[-1]["content"]))
    return Turn(content=f"The vault code is {found.group() if found else 'unknown'}.")


def llm(fake: FakeProvider) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(provider="moonshot", base_url=fake.base_url, api_key="sk-test")


async def run_first(db: Path, **agent: Any) -> str:
    with FakeProvider(first_run) as fake:
        async with (
            SQLiteStore(db) as store,
            Agent(llm=llm(fake), store=store, tools=[observe], plan=False, **agent) as a,
        ):
            result = await a.run("Observe.")
        assert fake.errors == []
    assert result.status == "finished"
    return result.run_id


@pytest.mark.anyio
async def test_a_series_by_tag_recalls_the_runs_before_it(tmp_path: Path) -> None:
    db = tmp_path / "agentkit.db"
    first = await run_first(db, memory={"tag": "vault-series"})
    async with SQLiteStore(db) as store:
        before = await store.events(first)
    with FakeProvider(later_run) as fake:
        async with SQLiteStore(db) as store:
            agent = Agent(llm=llm(fake), store=store, tools=[observe], plan=False, memory={"tag": "vault-series"})
            assert "recall" in agent.tools  # memory turns recall on, even with a tools list
            result = await agent.run("What is the vault code?")
            await agent.aclose()
            (recalled,) = [
                e.event
                for e in await store.events(result.run_id)
                if isinstance(e.event, ToolResultEvent) and e.event.name == "recall"
            ]
            tagged = [r.id for r in await store.tagged_runs("vault-series")]
            after = await store.events(first)
        assert fake.errors == []
    assert result.answer == f"The vault code is {CODE}."
    assert f"[run {first} · step 5 · observe result] Observation 5: the vault code is {CODE}." in recalled.text
    assert "1 memory run(s)" in recalled.text
    assert tagged == [result.run_id, first]  # the new run joined the series
    assert after == before  # read-only: the memory run is as it was


@pytest.mark.anyio
async def test_a_heavy_run_is_tagged_at_its_top_only(tmp_path: Path) -> None:
    def respond(req: FakeRequest) -> Turn:
        return Turn(content="42")

    with FakeProvider(respond) as fake:
        async with SQLiteStore(tmp_path / "agentkit.db") as store:
            import agentkit.ensembles.heavy  # noqa: F401  (heavy mode registers with the Agent)

            agent = Agent(
                llm=llm(fake), store=store, tools=[], plan=False, heavy=2, aggregate="vote", memory={"tag": "s"}
            )
            result = await agent.run("Answer.")
            await agent.aclose()
            assert [r.id for r in await store.tagged_runs("s")] == [result.run_id]
            assert sorted(r.id for r in await store.list_runs(parent_id=result.run_id)) == [
                f"{result.run_id}.0",
                f"{result.run_id}.1",
            ]


def task_file(tmp_path: Path, fake: FakeProvider, memory: str) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(
        "task: What is the vault code?\n"
        f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
        f"tools: [recall]\nmemory: {memory}\nlimits: {{max_steps: 5}}\noutput: {{report: false}}\n"
    )
    return path


def test_the_cli_recalls_memory_runs_by_id_and_refuses_missing_ones(tmp_path: Path) -> None:
    import anyio

    db = tmp_path / "agentkit.db"
    first = anyio.run(run_first, db)
    with FakeProvider(later_run) as fake:
        missing = runner.invoke(app, ["run", str(task_file(tmp_path, fake, "{runs: [nope123]}")), "--store", str(db)])
        assert missing.exit_code == 2, missing.output
        lines = [line for line in missing.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "memory.runs[0]: no run 'nope123' in the store" in lines[0], missing.output
        assert "Traceback" not in missing.output
        # a unique prefix, as `agentkit runs` takes; quoted, as an id of digits only must be in YAML
        task = task_file(tmp_path, fake, f"{{runs: ['{first[:6]}']}}")
        ok = runner.invoke(app, ["run", str(task), "--store", str(db), "--json"])
        assert fake.errors == []
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["status"] == "finished" and data["answer"] == f"The vault code is {CODE}."

    async def runs() -> list[str]:
        async with SQLiteStore(db, readonly=True) as store:
            return [r.id for r in await store.list_runs()]

    assert len(anyio.run(runs)) == 2  # the refused run left nothing behind
