"""``agentkit mcp`` answers the SDK's own client (stdio_client + ClientSession): a research
run against the fake provider, its status and report, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from agentkit.store import SQLiteStore
from agentkit.testing import FakeProvider, FakeRequest, Turn

pytestmark = pytest.mark.anyio


def responder(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Think.\n2. Answer.")
    question = req.messages[1]["content"]
    return Turn(reasoning="easy", content=f"The answer to {question!r} is 42.")


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)  # type: ignore[no-any-return]


async def test_agentkit_mcp_serves_a_research_run_its_status_and_report(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    with FakeProvider(responder) as fake:
        config = tmp_path / "agent.yaml"  # no task: each research call brings its question
        config.write_text(
            f"model: {{provider: custom, base_url: '{fake.base_url}'}}\ntools: []\noutput: {{report: false}}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "agentkit", "mcp", "--store", str(db), "--config", str(config)],
            env=env,
            cwd=tmp_path,
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            names = {t.name for t in (await session.list_tools()).tools}
            assert names == {"research", "resume", "run_status", "report"}
            done = data(
                await session.call_tool(
                    "research", {"question": "What is six times seven?", "max_steps": 5}, progress_callback=on_progress
                )
            )
            assert done["status"] == "finished"
            assert done["answer"] == "The answer to 'What is six times seven?' is 42."
            run_id = done["run_id"]
            status = data(await session.call_tool("run_status", {"run_id": run_id[:8]}))
            assert status["status"] == "finished" and status["run_id"] == run_id and status["steps"] == 1
            report = await session.call_tool("report", {"run_id": run_id})
            assert not report.is_error and "is 42." in report.content[0].text
            unknown = await session.call_tool("run_status", {"run_id": "nosuchrun"})
            assert unknown.is_error and "nosuchrun" in unknown.content[0].text
            bad = await session.call_tool("research", {"question": "q", "config": str(tmp_path / "missing.yaml")})
            assert bad.is_error and "config: refused" in bad.content[0].text  # no --config-dir: no other file
            assert "Traceback" not in bad.content[0].text
            steps = await session.call_tool("research", {"question": "q", "max_steps": 0})
            assert steps.is_error and "max_steps: must be between 1 and 10,000" in steps.content[0].text
        assert fake.errors == []
    assert progress and progress[0][1] == 5 and f"run {run_id}: step 1" in (progress[0][2] or "")

    store = SQLiteStore(db)  # a normal stored run: the CLI and `agentkit resume` see it
    try:
        row = await store.get_run(run_id)
        assert row.status == "finished" and row.config["task_spec"]["task"] == "What is six times seven?"
    finally:
        await store.aclose()


def test_a_bad_config_stops_the_server_before_it_serves(tmp_path: Path) -> None:
    import subprocess

    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {provider: nosuch}\n")
    done = subprocess.run(
        [sys.executable, "-m", "agentkit", "mcp", "--config", str(bad)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "bad.yaml: model.provider: unknown provider; valid providers:" in done.stderr
    assert "nosuch" not in done.stderr and "Traceback" not in done.stderr
