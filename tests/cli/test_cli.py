"""The agentkit command: exit codes, JSON output, input errors without tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.store import SQLiteStore
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

BAD = sorted((Path(__file__).parents[1] / "fixtures" / "bad_tasks").glob("*.yaml"))
runner = CliRunner()


def expectations(path: Path) -> list[str]:
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    return [ln.split("expect:", 1)[1].strip() for ln in lines[:3] if "expect:" in ln]


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_malformed_task_files_exit_2_with_the_field_path(path: Path, tmp_path: Path) -> None:
    assert len(BAD) >= 20
    result = runner.invoke(app, ["run", str(path), "--store", str(tmp_path / "s.db")])
    text = result.output
    assert result.exit_code == 2, text
    assert "Traceback" not in text and str(path.name) in text
    for fragment in expectations(path):
        assert fragment in " ".join(text.split()), (fragment, text)
    for noise in ("Value error", "pydantic", "errors.pydantic.dev", "For further information"):
        assert noise not in text
    assert "sk-SECRET" not in text  # never a secret's value, even when the file holds one
    assert len([line for line in text.splitlines() if line.strip()]) == 1, text  # one clear line


def test_bad_override_and_unknown_run_are_input_errors(tmp_path: Path) -> None:
    task = tmp_path / "t.yaml"
    task.write_text("task: hello\nmodel: {provider: vllm}\n")
    result = runner.invoke(app, ["run", str(task), "--max-steps", "0", "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2 and "limits.max_steps" in result.output
    result = runner.invoke(app, ["run", str(task), "--heavy", "65", "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2 and "heavy.trajectories" in result.output
    for cmd in (["resume", "nope"], ["show", "nope"]):
        result = runner.invoke(app, [*cmd, "--store", str(tmp_path / "s.db")])
        assert result.exit_code == 2 and f"no store at {tmp_path / 's.db'}" in result.output

    async def empty_store() -> None:
        async with SQLiteStore(tmp_path / "s.db"):
            pass

    anyio.run(empty_store)
    for cmd in (["resume", "nope"], ["show", "nope"]):
        result = runner.invoke(app, [*cmd, "--store", str(tmp_path / "s.db")])
        assert result.exit_code == 2 and "no run with id 'nope'" in result.output


def test_missing_key_is_reported_by_name_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    task = tmp_path / "t.yaml"
    task.write_text("task: hello\n")
    result = runner.invoke(app, ["run", str(task), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2 and "MOONSHOT_API_KEY" in result.output


def responder(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Read the pages.\n2. Add the values.")
    values = [int(v) for m in req.messages if m["role"] == "tool" for v in re.findall(r"value=(\d+)", m["content"])]
    if len(values) < 3:
        base = req.body["messages"][1]["content"].split()[-1]
        return Turn(tool_calls=[call("fetch", url=f"{base}/p{len(values) + 1}")])
    return Turn(content=f"sum={sum(values)}")


def write_task(tmp_path: Path, fake: FakeProvider, pages: str, steps: int = 50) -> Path:
    task = tmp_path / "task.yaml"
    task.write_text(
        f"task: 'Add the values on the pages at {pages}'\n"
        f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
        "tools: [fetch]\nfetch: {allow_private_hosts: true}\n"
        f"limits: {{max_steps: {steps}}}\n"
    )
    return task


def test_run_json_then_runs_and_show(tmp_path: Path, pages: str) -> None:
    store = str(tmp_path / "s.db")
    with FakeProvider(responder) as fake:
        result = runner.invoke(app, ["run", str(write_task(tmp_path, fake, pages)), "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "finished" and data["answer"] == "sum=18" and data["steps"] == 4
    listed = json.loads(runner.invoke(app, ["runs", "--store", store, "--json"]).stdout)
    assert [r["id"] for r in listed] == [data["run_id"]]
    shown = runner.invoke(app, ["show", data["run_id"][:6], "--store", store, "--json"])
    detail = json.loads(shown.stdout)
    assert detail["status"] == "finished" and detail["answer"] == "sum=18"
    assert sum(e["type"] == "tool_result" for e in detail["events"]) == 3
    text = runner.invoke(app, ["show", data["run_id"], "--store", store]).stdout
    assert "context: last request" in text and "sum=18" in text
    assert data["context_tokens"] > 0 and data["context_window"] == 262_144


def test_step_limit_exits_1(tmp_path: Path, pages: str) -> None:
    with FakeProvider(responder) as fake:
        task = write_task(tmp_path, fake, pages, steps=2)
        result = runner.invoke(app, ["run", str(task), "--store", str(tmp_path / "s.db"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "stopped"


def test_real_process_prints_no_traceback_for_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: x\nlimts: {max_steps: 3}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agentkit", "run", str(bad)], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "limts: unknown key; did you mean 'limits'?" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_index_command_builds_a_searchable_index(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "k2.md").write_text("# Kimi K2\nK2 Thinking keeps a goal across 300 tool calls.\n")
    (docs / "other.txt").write_text("Unrelated text about gardening.\n")
    result = runner.invoke(app, ["index", str(docs)])
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output and (docs / ".agentkit" / "index.sqlite").exists()
    result = runner.invoke(app, ["index", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "not a folder" in result.output


def test_stream_prices_and_isolation_reach_the_run(tmp_path: Path, pages: str) -> None:
    store = str(tmp_path / "s.db")
    with FakeProvider(responder) as fake:
        task = write_task(tmp_path, fake, pages)
        task.write_text(
            task.read_text().replace(
                "model: {provider: custom, ",
                "sandbox: {isolation: none}\nmodel: {stream: false, prices: {input: 2, cached_input: 1, output: 10}, "
                "provider: custom, ",
            )
        )
        result = runner.invoke(app, ["run", str(task), "--store", store, "--json"])
        bodies = [r.body for r in fake.requests]
    assert result.exit_code == 0, result.output
    assert bodies and not any(b.get("stream") for b in bodies)  # model.stream: false
    data = json.loads(result.stdout)
    usage = data["usage"]
    prompt, cached, completion = usage["prompt_tokens"], usage["cached_tokens"], usage["completion_tokens"]
    expected = ((prompt - cached) * 2 + cached * 1 + completion * 10) / 1_000_000
    assert expected > 0 and abs(data["cost_usd"] - expected) < 1e-9  # model.prices
    shown = json.loads(runner.invoke(app, ["show", data["run_id"], "--store", store, "--json"]).stdout)
    assert shown["config"]["settings"]["sandbox"]["isolation"] == "none"  # what the sandbox reads


def test_tool_choice_is_passed_to_the_client(tmp_path: Path) -> None:
    import inspect

    from agentkit.llm.client import OpenAICompatibleModel
    from agentkit.llm.types import ModelRequest
    from agentkit.run._from_task import agent_from_task
    from agentkit.store import MemoryStore
    from agentkit.task import Task

    if "tool_choice" not in inspect.signature(OpenAICompatibleModel).parameters:
        pytest.skip("needs OpenAICompatibleModel(tool_choice=...), which the LLM client is gaining")
    spec = {"task": "x", "model": {"provider": "vllm", "tool_choice": "none"}}
    agent = agent_from_task(Task.from_mapping(spec), store=MemoryStore(), workdir=tmp_path)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = agent.llm.build_body(ModelRequest(messages=[{"role": "user", "content": "hi"}], tools=tools))  # type: ignore[attr-defined]
    assert body["tool_choice"] == "none"


def local_search(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Search the local corpus.")
    results = req.last_tool_results()
    if not results:
        return Turn(tool_calls=[call("web_search", query="Kimi K2 tool calls")])
    return Turn(content=f"found: {'local:k2.md' in results[0] and 'across 300' in results[0]}")


def test_local_search_index_from_the_task_file_end_to_end(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "k2.md").write_text("# Kimi K2\nK2 Thinking keeps a goal across 300 tool calls.\n")
    assert runner.invoke(app, ["index", str(docs)]).exit_code == 0
    with FakeProvider(local_search) as fake:
        task = tmp_path / "task.yaml"
        task.write_text(
            "task: 'What keeps a goal?'\n"
            f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
            "tools: [web_search]\nsearch: {backend: local, index: docs}\noutput: {report: false}\n"
        )
        result = runner.invoke(app, ["run", str(task), "--store", str(tmp_path / "s.db"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] == "found: True"
