"""The mcp: section of a task file: path-precise errors, secrets only as variable names, and a
run whose server cannot start failing with one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp_helpers import HOSTILE_SERVER

from agentkit.task import TaskFileError, load_task
from agentkit.task.sections import MCPServerSpec

HEAD = "task: x\nmodel: {provider: custom, base_url: 'http://127.0.0.1:9/v1'}\n"


def problem(tmp_path: Path, mcp: str) -> str:
    path = tmp_path / "task.yaml"
    path.write_text(HEAD + mcp)
    with pytest.raises(TaskFileError) as caught:
        load_task(path)
    return str(caught.value).removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("mcp", "expected"),
    [
        ("mcp: {name: a}\n", "mcp: must be a list"),
        ("mcp: [{name: a}]\n", "mcp[0]: give command (a local server over stdio) or url (a streamable-HTTP server)"),
        ("mcp: [{name: a, command: x, url: 'http://h/mcp'}]\n", "mcp[0]: give command (stdio) or url (HTTP), not both"),
        ("mcp: [{name: 'my server', command: x}]\n", "mcp[0].name: must be 1-32 letters, digits, '_' or '-'"),
        (
            "mcp: [{name: a, command: x}, {name: a, url: 'http://h/mcp'}]\n",
            "mcp[1].name: server name 'a' is used twice",
        ),
        ("mcp: [{name: a, url: 'ftp://h/mcp'}]\n", "mcp[0].url: must be an http(s) URL"),
        ("mcp: [{name: a, url: 'http://u:pw@h/mcp'}]\n", "mcp[0].url: must not hold credentials"),
        ("mcp: [{name: a, url: 'http://h/mcp', args: [x]}]\n", "mcp[0].args: only for a command (stdio) server"),
        ("mcp: [{name: a, command: x, headers: {A: b}}]\n", "mcp[0].headers: only for a url (HTTP) server"),
        (
            "mcp: [{name: a, command: x, env: {GITHUB_TOKEN: ghp_abc}}]\n",
            "mcp[0].env.GITHUB_TOKEN: looks like a secret",
        ),
        (
            "mcp: [{name: a, url: 'http://h/mcp', headers: {Authorization: 'Bearer x'}}]\n",
            "mcp[0].headers.Authorization: looks like a secret",
        ),
        (
            "mcp: [{name: a, command: x, env: {T: {from_env: 'not a name'}}}]\n",
            "mcp[0].env.T: from_env must be the NAME",
        ),
        ("mcp: [{name: a, command: x, env: {T: {from: X}}}]\n", "mcp[0].env.T: must be a string or {from_env: NAME}"),
        ("mcp: [{name: a, command: x, timeout_s: 0}]\n", "mcp[0].timeout_s: must be greater than 0"),
        ("mcp: [{name: a, command: x, cmd: y}]\n", "mcp[0].cmd: unknown key"),
    ],
)
def test_mistakes_name_the_field(tmp_path: Path, mcp: str, expected: str) -> None:
    message = problem(tmp_path, mcp)
    assert message.startswith(expected), message
    assert "ghp_abc" not in message and "Bearer x" not in message and "pw@" not in message


def test_the_stored_config_names_variables_never_values(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    path.write_text(
        HEAD + "mcp:\n"
        "  - {name: gh, command: gh-mcp, args: [--stdio], cwd: tools, env: {GITHUB_TOKEN: {from_env: GH}, MODE: ro}}\n"
        "  - {name: web, url: 'https://h/mcp', headers: {Authorization: {from_env: WEB_AUTH}}}\n"
    )
    task = load_task(path)
    assert task.mcp[0].cwd == (tmp_path / "tools").absolute()  # relative to the task file
    stored = task.redacted_config()["mcp"]
    assert stored[0]["env"] == {"GITHUB_TOKEN": {"from_env": "GH"}, "MODE": "ro"}
    assert stored[1]["headers"] == {"Authorization": {"from_env": "WEB_AUTH"}}
    again = MCPServerSpec.of(stored[1])  # a resumed run reads it back
    assert again.resolved(again.headers, "headers", {"WEB_AUTH": "Bearer s3"}) == {"Authorization": "Bearer s3"}
    with pytest.raises(ValueError, match=r"headers\.Authorization: the environment variable WEB_AUTH is not set"):
        again.resolved(again.headers, "headers", {})


def test_a_run_whose_server_cannot_start_fails_with_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    server = json.dumps({"name": "db", "command": sys.executable, "args": [HOSTILE_SERVER, "dies"]})
    path.write_text(HEAD + f"tools: []\noutput: {{report: false}}\nmcp: [{server}]\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    done = subprocess.run(
        [sys.executable, "-m", "agentkit", "run", str(path), "--store", str(tmp_path / "s.db"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "failed"
    assert out["error"].startswith("MCP server 'db' could not start: the server closed the connection")
    assert "hostile: cannot open my database /nonexistent/db" in out["error"]  # the end of its stderr


def test_a_task_with_mcp_servers_but_no_mcp_extra_is_bad_input_not_an_internal_error(tmp_path: Path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(
        "task: x\nmodel: {provider: custom, base_url: 'http://127.0.0.1:9/v1'}\nmcp: [{name: t, command: x}]\n"
    )
    code = (
        "import sys; sys.modules['mcp'] = None  # as on a machine without the mcp extra\n"
        "from agentkit.cli import main; sys.argv = ['agentkit', *sys.argv[1:]]; main()"
    )
    env = {k: v for k, v in os.environ.items() if k != "AGENTKIT_STORE"}
    done = subprocess.run(
        [sys.executable, "-c", code, "run", str(spec), "--store", str(tmp_path / "s.db")],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "pip install 'agentkit[mcp]'" in done.stderr and "internal error" not in done.stderr
