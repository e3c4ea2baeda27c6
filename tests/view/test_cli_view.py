"""``agentkit view``: -o, stdout, the browser, --watch on a run in progress, bad input."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from agentkit import Agent
from agentkit.cli import app
from agentkit.store import SQLiteStore
from agentkit.testing import FakeProvider

from .conftest import Built
from .runs import Held, add, llm

runner = CliRunner()


def test_writes_the_page_to_a_file(long_built: Built, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "trace.html"
    result = runner.invoke(app, ["view", long_built.run_id[:6], "-o", str(out), "--store", str(long_built.store)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and f"Run {long_built.run_id}" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2
    assert f"wrote {out}" in result.output


def test_prints_the_page_when_not_on_a_terminal(heavy_built: Built) -> None:
    result = runner.invoke(app, ["view", heavy_built.run_id, "--store", str(heavy_built.store)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!DOCTYPE html>") and "Trajectories" in result.stdout


def test_an_unknown_run_or_a_missing_store_is_an_input_error(long_built: Built, tmp_path: Path) -> None:
    result = runner.invoke(app, ["view", "nope", "--store", str(long_built.store)])
    assert result.exit_code == 2 and "no run with id 'nope'" in result.output
    missing = tmp_path / "none.db"
    result = runner.invoke(app, ["view", "x", "--store", str(missing), "-o", str(tmp_path / "x.html")])
    assert result.exit_code == 2 and not missing.exists() and not (tmp_path / "x.html").exists()
    result = runner.invoke(app, ["view", long_built.run_id, "--store", str(long_built.store), "--watch"])
    assert result.exit_code == 2 and "-o FILE" in result.output
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = runner.invoke(app, ["view", long_built.run_id, "--store", str(long_built.store), "-o", f"{blocked}/x"])
    assert result.exit_code == 2 and "cannot write the page" in result.output


def agentkit(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_open_hands_a_temporary_page_to_the_browser(demo_built: Built, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {seen}\n')
    browser.chmod(0o755)
    proc = agentkit(
        "view", demo_built.run_id, "--store", str(demo_built.store), "--open", env={"BROWSER": str(browser)}
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    url = seen.read_text()
    assert url.startswith("file:///") and url.endswith(".html")
    page = Path(url.removeprefix("file://"))
    assert "Riverton" in page.read_text() and f"opened {page}" in err
    page.unlink()


@pytest.mark.anyio
async def test_watch_rewrites_the_page_until_the_run_ends(tmp_path: Path) -> None:
    held = Held(hold_at=2)
    path, out = tmp_path / "s.db", tmp_path / "live.html"
    store = SQLiteStore(path)
    with FakeProvider(held.respond) as fake:
        async with Agent(llm=llm(fake), tools=[add], store=store) as agent, anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(agent.run, "Count to two.", run_id="watched"))
            assert await anyio.to_thread.run_sync(held.waiting.wait, 60)
            proc = agentkit("view", "watched", "--store", str(path), "-o", str(out), "--watch", "--interval", "1")
            try:
                assert proc.stderr is not None
                said = await anyio.to_thread.run_sync(proc.stderr.readline)  # after the first page is written
                assert said.startswith(f"wrote {out}"), said
                first = out.read_text()
                assert '<meta http-equiv="refresh" content="1">' in first and "In progress." in first
            finally:
                held.release.set()
            _, err = await anyio.to_thread.run_sync(lambda: proc.communicate(timeout=120))
    await store.aclose()
    assert proc.returncode == 0, err
    last = out.read_text()
    assert 'http-equiv="refresh"' not in last and "In progress." not in last and "Counted." in last
    assert "is finished" in err
