"""Fixtures for the sandbox tests: real kernels, a MemoryStore-backed ToolContext."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import check_isolation

from agentkit.store import MemoryStore, RunInfo
from agentkit.tools.base import ToolContext
from agentkit.tools.python import PythonArgs, PythonTool


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def require_isolation() -> None:
    check_isolation()


@pytest.fixture
async def make_tool() -> AsyncIterator[Callable[..., PythonTool]]:
    """Build PythonTools (no warm pool unless asked) and close them all after the test."""
    tools: list[PythonTool] = []

    def make(**kwargs: Any) -> PythonTool:
        kwargs.setdefault("pool_size", 0)
        tool = PythonTool(**kwargs)
        tools.append(tool)
        return tool

    yield make
    for tool in tools:
        await tool.aclose()


class Session:
    """Calls one tool for one run, the way the registry would."""

    def __init__(
        self, tool: PythonTool, store: MemoryStore, workdir: Path, run_id: str, settings: dict[str, Any]
    ) -> None:
        self.tool = tool
        self.settings = settings
        self.store = store
        self.workdir = workdir
        self.run_id = run_id
        self.calls = 0

    async def __call__(self, code: str, call_id: str | None = None) -> Any:
        self.calls += 1
        ctx = ToolContext(
            run_id=self.run_id,
            call_id=call_id or f"call-{self.calls}",
            step=self.calls,
            store=self.store,
            workdir=self.workdir,
            settings=self.settings,
        )
        return await self.tool.invoke(PythonArgs(code=code), ctx)


@pytest.fixture
async def session_for(tmp_path: Path) -> Callable[..., Any]:
    store = MemoryStore()

    async def open_session(
        tool: PythonTool, run_id: str = "run-1", workdir: Path | None = None, settings: dict[str, Any] | None = None
    ) -> Session:
        with contextlib.suppress(ValueError):
            await store.create_run(RunInfo(id=run_id, task="sandbox test"))
        return Session(tool, store, workdir or tmp_path / "runs" / run_id, run_id, settings or {})

    return open_session
