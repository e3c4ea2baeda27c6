"""A model endpoint nobody listens on: the run fails within seconds with one clear line naming
the URL, exit 1, and the store says `failed` (not `running`). Real sockets on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentkit.cli import app

runner = CliRunner()


@pytest.fixture
def refused_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


def test_an_unreachable_endpoint_fails_the_run_with_one_line(tmp_path: Path, refused_url: str) -> None:
    task = tmp_path / "t.yaml"
    task.write_text(f"task: 'What is 2+2? [bold]x[/]'\nmodel: {{provider: custom, base_url: '{refused_url}'}}\n")
    db = str(tmp_path / "s.db")
    result = runner.invoke(app, ["run", str(task), "--store", db])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    said = [line for line in lines if "cannot connect" in line]
    assert len(said) == 1 and said[0] == lines[-1], result.output
    assert said[0].startswith("failed run ") and said[0].endswith(
        f": cannot connect to {refused_url}: connection refused"
    )
    assert "Traceback" not in result.output and "prompt tokens" not in result.output
    assert any("retry 1/2" in line and "connection refused" in line for line in lines)  # each retry is said
    listed = runner.invoke(app, ["runs", "--store", db, "--json"])
    assert [r["status"] for r in json.loads(listed.output)] == ["failed"]
