"""Where the sandbox's bubblewrap comes from, and failing closed when there is none."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import requires_bwrap, sandbox_processes

from agentkit.sandbox import BWRAP_ENV, probe_bwrap
from agentkit.sandbox._launch import bundled_bwrap, interpreter
from agentkit.tools.python import PythonTool

MakeTool = Callable[..., PythonTool]
SessionFor = Callable[..., Any]

_MARK = (
    "open('ran.txt', 'w').write('the code ran')\nimport resource\nresource.getrlimit(resource.RLIMIT_AS)[0] // 2**20"
)


@pytest.mark.anyio
async def test_refuses_when_no_sandbox_is_possible(
    make_tool: MakeTool, session_for: SessionFor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    caplog.set_level(logging.WARNING)
    session = await session_for(make_tool())
    first = await session(_MARK)
    second = await session(_MARK)
    for out in (first, second):
        assert out.is_error and out.meta["refused"] is True and out.meta["ok"] is False
        assert "Your code was NOT run" in out.text and "/nonexistent/bwrap" in out.text, out.text
    assert not (session.workdir / "ran.txt").exists()
    assert sandbox_processes() == []
    shown = [r for r in caplog.records if "refused to run model code" in r.getMessage()]
    assert len(shown) == 1 and shown[0].levelno == logging.ERROR
    assert "isolation: none" in shown[0].getMessage()


@pytest.mark.anyio
async def test_isolation_none_runs_with_a_warning(
    make_tool: MakeTool, session_for: SessionFor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    caplog.set_level(logging.WARNING, logger="agentkit.sandbox")
    tool = make_tool(memory_mb=700)
    session = await session_for(tool, settings={"sandbox": {"isolation": "none"}})
    out = await session(_MARK)
    assert out.meta["ok"] is True and out.meta["sandboxed"] is False, out.text
    assert "WARNING" in out.text and "sandbox.isolation: none" in out.text and "700" in out.text
    assert (session.workdir / "ran.txt").read_text() == "the code ran"
    assert any("SANDBOX OFF" in r.getMessage() for r in caplog.records)
    assert "WARNING" not in (await session("1 + 1")).text
    # The same tool serves another run that does not opt out: that one is refused.
    strict = await session_for(tool, run_id="strict")
    assert (await strict("1 + 1")).meta.get("refused") is True


@pytest.mark.anyio
async def test_isolation_none_as_an_argument(
    make_tool: MakeTool, session_for: SessionFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    session = await session_for(make_tool(isolation="none"))
    out = await session("6 * 7")
    assert "Out[1]: 42" in out.text and out.meta["sandboxed"] is False


@pytest.mark.anyio
async def test_unknown_isolation_value_is_refused(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool(), settings={"sandbox": {"isolation": "off"}})
    out = await session(_MARK)
    assert out.meta["refused"] is True and "unknown isolation" in out.text and "bwrap, none" in out.text
    assert not (session.workdir / "ran.txt").exists()


def test_agentkit_bwrap_names_the_only_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    status = probe_bwrap()
    assert not status.available and "/nonexistent/bwrap" in status.reason and status.origin == BWRAP_ENV


@requires_bwrap
def test_system_bwrap_is_preferred_and_the_bundled_one_backs_it_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled, why = bundled_bwrap()
    if bundled is None:
        pytest.skip(why)
    monkeypatch.delenv(BWRAP_ENV, raising=False)
    system = tmp_path / "system"
    system.mkdir()
    (system / "bwrap").symlink_to(bundled)
    monkeypatch.setenv("PATH", f"{system}:/usr/bin:/bin")
    status = probe_bwrap()
    assert status.available and status.origin == "system" and status.path == str(system / "bwrap")
    # A system bwrap that cannot build the sandbox (old, or user namespaces forbidden).
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bwrap").write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    (broken / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken}:/usr/bin:/bin")
    status = probe_bwrap()
    assert status.available and status.origin == "bundled" and status.path == bundled
    if shutil.which("bwrap", path="/usr/bin:/bin") is None:
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        assert probe_bwrap().origin == "bundled"


def test_interpreter_path_has_no_dotdot_and_exists() -> None:
    path = interpreter()
    assert os.path.isabs(path) and "/../" not in path and os.access(path, os.X_OK)
    assert os.path.realpath(path) == os.path.realpath(sys.executable)


_RELATIVE_SCRIPT = """
import sys
from pathlib import Path

import anyio

from agentkit.sandbox import SandboxConfig, SandboxKernel, probe_bwrap

print("EXECUTABLE", sys.executable)
status = probe_bwrap()
if not status.available:
    sys.exit("UNUSABLE " + status.reason)


async def main() -> None:
    kernel = SandboxKernel(SandboxConfig(), Path(sys.argv[1]), bwrap=status)
    await kernel.start()
    try:
        res = await kernel.execute("import sys\\nprint(6 * 7, sys.prefix == sys.base_prefix)")
        print("OUTPUT", res.cell.output.strip())
    finally:
        await kernel.aclose()


anyio.run(main)
"""


@requires_bwrap
def test_interpreter_started_by_a_relative_path(tmp_path: Path) -> None:
    """``../venv/bin/python`` from a checkout: the path goes through a directory the sandbox
    does not mount, so it must be resolved before bubblewrap execs it."""
    clone = tmp_path / "clone"
    clone.mkdir()
    script = tmp_path / "start_kernel.py"
    script.write_text(textwrap.dedent(_RELATIVE_SCRIPT))
    relative = os.path.relpath(sys.executable, clone)
    assert relative.startswith("..")
    proc = subprocess.run(
        [relative, str(script), str(tmp_path / "work")],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != BWRAP_ENV},
    )
    assert f"EXECUTABLE {clone}/.." in proc.stdout, proc.stdout  # Python keeps the "..": the trap
    same_env = sys.prefix == sys.base_prefix
    assert f"OUTPUT 42 {same_env}" in proc.stdout, proc.stdout + proc.stderr
