"""One definition of each configuration section, validated once, for task files and the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import Agent
from agentkit.store import MemoryStore
from agentkit.task.sections import LimitsSpec, SandboxSpec, SearchSpec, ToolSettings
from agentkit.testing import ScriptedModel
from agentkit.tools import ToolContext


def _agent(**options: object) -> Agent:
    return Agent(llm=ScriptedModel([]), store=MemoryStore(), tools=[], plan=False, **options)  # type: ignore[arg-type]


def test_limits_come_as_one_section_or_as_keywords() -> None:
    assert _agent(limits=LimitsSpec(max_steps=7, max_cost_usd=0.5)).limits.max_cost_usd == 0.5
    assert _agent(limits=LimitsSpec(max_steps=7)).max_steps == 7
    assert _agent(max_run_tokens=1000).limits.max_tokens == 1000
    with pytest.raises(ValueError, match=r"keywords \(max_cost_usd\), not both"):
        _agent(limits=LimitsSpec(max_steps=7), max_cost_usd=1.0)
    with pytest.raises(ValueError, match="max_steps"):
        _agent(max_steps=0)  # validated as a task file's limits.max_steps


def test_a_bad_tool_section_fails_when_the_agent_is_built() -> None:
    with pytest.raises(ValueError, match=r"search.url: required when the searxng backend is used"):
        _agent(settings={"search": {"backend": "searxng"}})
    with pytest.raises(ValueError, match=r"sandbox.memory_mb"):
        _agent(settings={"sandbox": {"memory_mb": 1}})


def test_tools_read_typed_sections_and_custom_keys_pass_through() -> None:
    agent = _agent(settings={"search": {"backend": ["searxng", "duckduckgo"], "url": "http://s.local"}, "mine": 3})
    assert isinstance(agent.settings.search, SearchSpec) and agent.settings.search.backends == ["searxng", "duckduckgo"]
    assert agent.settings.sandbox == SandboxSpec()  # absent: the one set of defaults
    assert agent.settings["mine"] == 3
    assert agent.describe()["settings"]["search"]["url"] == "http://s.local"


def test_typed_sections_are_kept_as_given_and_stored_as_data() -> None:
    typed = ToolSettings({"sandbox": SandboxSpec(isolation="none")})
    assert typed.sandbox.isolation == "none"
    assert typed.as_data() == {"sandbox": {"isolation": "none"}}


def test_a_hand_made_context_wraps_its_mapping(tmp_path: Path) -> None:
    ctx = ToolContext(run_id="r", call_id="c", step=1, store=MemoryStore(), workdir=tmp_path, settings={"fetch": {}})
    assert isinstance(ctx.settings, ToolSettings) and ctx.settings.fetch.allow_private_hosts is False
    bad = ToolContext(
        run_id="r", call_id="c", step=1, store=MemoryStore(), workdir=tmp_path, settings={"fetch": {"x": 1}}
    )
    with pytest.raises(ValueError, match=r"fetch.x"):
        _ = bad.settings.fetch
