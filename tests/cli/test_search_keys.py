"""A keyed search service named in the task file without its key is bad input, like a missing
model key: one line naming the variable, exit 2, no run saved (it was `internal error:
ValueError`, exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.task import Task, TaskFileError

runner = CliRunner()


def task_file(tmp_path: Path, search: str, tools: str = "[web_search, fetch]") -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(
        "task: hello\nmodel: {provider: custom, base_url: 'http://127.0.0.1:9/v1'}\n"
        f"tools: {tools}\nsearch: {search}\n"
    )
    return path


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("{backend: brave}", "brave needs an API key: set BRAVE_API_KEY or BRAVE_SEARCH_API_KEY"),
        ("{backend: [duckduckgo, exa]}", "exa needs an API key: set EXA_API_KEY"),
    ],
)
def test_a_named_keyed_backend_without_its_key_is_bad_input(tmp_path: Path, search: str, message: str) -> None:
    db = tmp_path / "s.db"
    result = runner.invoke(app, ["run", str(task_file(tmp_path, search)), "--store", str(db)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in result.stderr, result.stderr
    assert lines[0] == f"error: {tmp_path / 'task.yaml'}: search.backend: {message}"
    assert not db.exists()  # nothing was started


def test_the_key_is_needed_only_where_it_is_used(tmp_path: Path) -> None:
    """The automatic chain takes only services whose key is set; without web_search no key is
    read; with the key set the task is fine."""
    auto = Task.from_mapping({"task": "x", "model": {"provider": "custom", "base_url": "http://h/v1"}})
    auto.check_api_key({})
    spec = {"task": "x", "model": {"provider": "custom", "base_url": "http://h/v1"}, "search": {"backend": "brave"}}
    Task.from_mapping({**spec, "tools": ["fetch"]}).check_api_key({})
    Task.from_mapping(spec).check_api_key({"BRAVE_SEARCH_API_KEY": "k" * 20})
    with pytest.raises(TaskFileError, match="BRAVE_API_KEY"):
        Task.from_mapping(spec).check_api_key({"BRAVE_API_KEY": "  "})
