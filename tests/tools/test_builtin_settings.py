"""The built-in tools take their settings through the one definition in agentkit.task.sections."""

from __future__ import annotations

import pytest

from agentkit.tools import builtin_tools
from agentkit.tools.fetch import FetchTool
from agentkit.tools.python import PythonTool

pytestmark = pytest.mark.anyio


def tools_by_name(settings: dict[str, object]) -> dict[str, object]:
    return {t.name: t for t in builtin_tools(settings, names=["fetch", "python"])}


async def test_defaults_come_from_the_config_sections(make_ctx: object) -> None:
    tools = tools_by_name({})
    python, fetch = tools["python"], tools["fetch"]
    assert isinstance(python, PythonTool) and isinstance(fetch, FetchTool)
    ctx = await make_ctx()  # type: ignore[operator]
    assert python.isolation_for(ctx) == "bwrap"  # isolated unless a task opts out
    assert python.config.memory_mb == 2048 and python.config.timeout_s == 120 and not python.config.network
    assert fetch.allow_private_hosts is False


async def test_settings_reach_the_tools_and_bad_values_are_refused(make_ctx: object) -> None:
    tools = tools_by_name(
        {"sandbox": {"isolation": "none", "memory_mb": 512, "network": True}, "fetch": {"allow_private_hosts": True}}
    )
    python, fetch = tools["python"], tools["fetch"]
    assert isinstance(python, PythonTool) and isinstance(fetch, FetchTool)
    assert python.isolation_for(await make_ctx()) == "none"  # type: ignore[operator]
    assert python.config.memory_mb == 512 and python.config.network
    assert fetch.allow_private_hosts is True
    with pytest.raises(ValueError, match="isolation"):
        builtin_tools({"sandbox": {"isolation": "off"}}, names=["python"])
    with pytest.raises(ValueError, match="memory_mb"):
        builtin_tools({"sandbox": {"memory_mb": 1}}, names=["python"])
