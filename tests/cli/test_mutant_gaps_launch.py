"""Every task-file key that configures the agent reaches it (``agentkit run`` builds the
agent with ``agent_from_task``). Found by tools/mutants.py (``task-limit-dropped``): a limit
dropped on the way was caught by no test."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit.run._from_task import agent_from_task
from agentkit.run._limits import RunLimits
from agentkit.store import MemoryStore
from agentkit.task import Task
from agentkit.testing import FakeProvider, FakeRequest, Turn

SPEC = {
    "task": "What keeps a goal?",
    "model": {
        "provider": "vllm",
        "name": "served-model",
        "base_url": "http://127.0.0.1:9/v1",
        "temperature": 0.4,
        "max_tokens": 3000,
    },
    "tools": ["fetch", "note"],
    "limits": {"max_steps": 7, "max_cost_usd": 1.5, "max_tokens": 12345, "max_seconds": 60},
    "context": {"window": 50_000, "keep_tool_results": 4},
    "heavy": {"trajectories": 3, "aggregate": "select"},
    "output": {"report": True},
}


pytestmark = pytest.mark.anyio


def test_every_limit_and_setting_of_the_task_file_reaches_the_agent(tmp_path: Path) -> None:
    agent = agent_from_task(Task.from_mapping(SPEC), store=MemoryStore(), workdir=tmp_path)
    assert agent.limits == RunLimits(max_steps=7, max_cost_usd=1.5, max_tokens=12345, max_seconds=60)
    assert agent.max_steps == 7
    assert (agent.temperature, agent.max_tokens) == (0.4, 3000)
    assert (agent.context_window, agent.window_declared, agent.keep_tool_results) == (50_000, True, 4)
    assert (agent.heavy, agent.aggregate, agent.writes_report) == (3, "select", True)
    assert agent.llm.model_name == "served-model"
    config = agent.describe()  # what the run stores (and a resume rebuilds from)
    assert config["limits"] == {"max_steps": 7, "max_cost_usd": 1.5, "max_tokens": 12345, "max_seconds": 60}
    assert config["task_spec"]["limits"] == SPEC["limits"]


def test_a_task_without_limits_gets_the_defaults(tmp_path: Path) -> None:
    spec = {"task": "q", "model": {"provider": "vllm", "base_url": "http://127.0.0.1:9/v1"}, "tools": ["note"]}
    agent = agent_from_task(Task.from_mapping(spec), store=MemoryStore(), workdir=tmp_path)
    assert agent.limits == RunLimits()


async def test_a_task_without_a_window_lets_a_local_server_say_its_window(tmp_path: Path) -> None:
    def respond(req: FakeRequest) -> Turn:
        return Turn(content="the answer") if req.tools else Turn(content="1. Answer.")

    with FakeProvider(respond, models_window=8192) as fake:
        spec = {
            "task": "q",
            "model": {"provider": "custom", "name": "m", "base_url": fake.base_url},
            "tools": ["note"],
            "output": {"report": False},
        }
        agent = agent_from_task(Task.from_mapping(spec), store=MemoryStore(), workdir=tmp_path)
        try:
            result = await agent.run("q")
        finally:
            await agent.aclose()
    assert result.status == "finished"
    assert result.context_window == 8192  # GET /v1/models said so; the profile's default is 262,144
