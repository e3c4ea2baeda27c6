"""The task file's side of recall: ``memory:`` typed and checked, the default tools follow the
run's length (also after ``--max-steps``), and a resumed run keeps the tools it started with."""

from __future__ import annotations

import pytest

from agentkit.run._from_task import agent_from_task, tool_settings
from agentkit.store import MemoryStore
from agentkit.task import Task, TaskFileError
from agentkit.task.sections import MemorySpec


def test_memory_is_typed_and_turns_recall_on() -> None:
    task = Task.from_mapping({"task": "x", "limits": {"max_steps": 10}, "memory": {"tag": "series-1"}})
    assert task.memory == MemorySpec(tag="series-1") and task.tools[-1] == "recall"
    assert tool_settings(task).memory == MemorySpec(tag="series-1")
    listed = Task.from_mapping({"task": "x", "tools": ["fetch"], "memory": {"runs": ["abc123"]}})
    assert listed.tools == ["fetch", "recall"]
    assert Task.from_mapping({"task": "x", "tools": ["fetch"]}).tools == ["fetch"]  # a list decides by itself


def test_default_tools_follow_the_step_limit_and_survive_a_resume() -> None:
    long_run = Task.from_mapping({"task": "x"})
    assert "recall" in long_run.tools
    assert "recall" not in long_run.with_overrides({"limits.max_steps": 10}).tools  # --max-steps 10
    short = Task.from_mapping({"task": "x", "limits": {"max_steps": 10}})
    assert "recall" in short.with_overrides({"limits.max_steps": 100}).tools
    listed = Task.from_mapping({"task": "x", "tools": ["fetch"]})
    assert listed.with_overrides({"limits.max_steps": 100}).tools == ["fetch"]
    again = Task.from_mapping(long_run.redacted_config(), source="run r")  # how resume reads it back
    assert again.tools == long_run.tools


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        ({"runs": "abc"}, "memory.runs: must be a list"),
        ({"runs": [" abc"]}, "memory.runs[0]: must be a run id as `agentkit runs` shows it"),
        ({"tag": 5}, "memory.tag: must be a string"),
        ({"tag": "-x"}, "memory.tag: must be 1-64 letters"),
        ({"runs": ["a"] * 101}, "memory.runs: "),
        ({"tags": "x"}, "memory.tags: unknown key; did you mean 'tag'?"),
    ],
)
def test_bad_memory_names_the_field(memory: object, message: str) -> None:
    with pytest.raises(TaskFileError) as info:
        Task.from_mapping({"task": "x", "memory": memory})
    assert message in str(info.value)


def test_an_agent_from_a_task_file_has_recall_and_the_memory(tmp_path: object) -> None:
    task = Task.from_mapping({"task": "x", "model": {"provider": "vllm"}, "memory": {"runs": ["abc123"]}})
    agent = agent_from_task(task, store=MemoryStore(), workdir=tmp_path)  # type: ignore[arg-type]
    assert "recall" in agent.tools and agent.settings.memory.runs == ["abc123"]
    assert agent.describe()["settings"]["memory"] == {"runs": ["abc123"]}
