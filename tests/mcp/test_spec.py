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
from agentkit.task.mcp_servers import MCPServerSpec

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
            "mcp[1].name: the name of mcp[0] again: server names must be unique",
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


GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2  # shapes of real tokens, none of them valid
OPAQUE = "Zq8rT2xW9vL4kP7mN3bY6cH1"
TOKENS = [
    ("args: [--token, GHP]", "mcp[0].args[1]: looks like a GitHub token", "{from_env: VARIABLE}"),
    ("args: ['--api-key=sk-proj-AbC123dEf456GhI789jKl012']", "mcp[0].args[0]: looks like an OpenAI", "two items"),
    ("args: [serve, --token, OPAQUE]", "mcp[0].args[2]: looks like the value of --token", "{from_env: VARIABLE}"),
    ("args: ['--github-token=OPAQUE']", "mcp[0].args[0]: looks like the value of --github-token", "two items"),
    ("args: [--key, AKIAABCDEFGHIJ234567]", "mcp[0].args[1]: looks like an AWS access key id", "from_env"),
    ("args: [AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q]", "mcp[0].args[0]: looks like a Google API key", "from_env"),
    ("env: {GH: GHP}", "mcp[0].env.GH: looks like a GitHub token", "GH: {from_env: VARIABLE}"),
    ("env: {SLACK: xoxb-123456789012-abcdefGHIJ}", "mcp[0].env.SLACK: looks like a Slack token", "from_env"),
]


@pytest.mark.parametrize(("fields", "expected", "advice"), TOKENS)
def test_a_literal_token_in_a_server_spec_is_refused_without_showing_it(
    tmp_path: Path, fields: str, expected: str, advice: str
) -> None:
    fields = fields.replace("GHP", GHP).replace("OPAQUE", OPAQUE)
    message = problem(tmp_path, f"mcp: [{{name: a, command: x, {fields}}}]\n")
    assert message.startswith(expected), message
    assert advice in message and "environment variable" in message
    for secret in (GHP, OPAQUE, "AKIAABCDEFGHIJ234567", "xoxb-", "sk-proj", "AIzaSy"):
        assert secret not in message


def test_a_token_in_an_http_servers_headers_is_refused(tmp_path: Path) -> None:
    message = problem(tmp_path, f"mcp: [{{name: a, url: 'http://h/mcp', headers: {{X-Api: 'Bearer {GHP}'}}}}]\n")
    assert message.startswith("mcp[0].headers.X-Api: looks like a GitHub token"), message
    assert GHP not in message


def test_ordinary_arguments_are_not_taken_for_tokens(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    args = "[--stdio, --port, '8080', --token-file, /run/secrets/gh_token, --model, gpt-4o-mini-2024-07-18, --key, id]"
    path.write_text(HEAD + f"mcp: [{{name: a, command: x, args: {args}}}]\n")
    assert load_task(path).mcp[0].args[3] == "--token-file"


def test_args_take_values_from_the_environment_and_store_only_the_name(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    path.write_text(HEAD + "mcp: [{name: gh, command: x, args: [--token, {from_env: GH_TOKEN}, --ro]}]\n")
    task = load_task(path)
    assert task.redacted_config()["mcp"][0]["args"] == ["--token", {"from_env": "GH_TOKEN"}, "--ro"]
    assert task.mcp[0].resolved_args({"GH_TOKEN": GHP}) == ["--token", GHP, "--ro"]
    with pytest.raises(ValueError, match=r"args\[1\]: the environment variable GH_TOKEN is not set"):
        task.mcp[0].resolved_args({})


def test_stored_configs_are_redacted_of_token_shapes(tmp_path: Path) -> None:
    """A spec made in code without validation (``model_construct``) still never stores a
    token: the run's config is masked by shape, and by the flag it follows."""
    from agentkit import Agent
    from agentkit._redact import redact_config
    from agentkit.llm.client import OpenAICompatibleModel
    from agentkit.store import MemoryStore

    spec = MCPServerSpec.model_construct(
        name="gh", command="x", args=["--token", OPAQUE, f"--pat={OPAQUE}", f"user:{GHP}", "--ro"], env={}, headers={}
    )
    llm = OpenAICompatibleModel("kimi-k2.5", "custom", base_url="http://127.0.0.1:9/v1")
    agent = Agent(llm=llm, store=MemoryStore(), tools=[], mcp=[spec], workdir=tmp_path)
    stored = json.dumps(agent.describe())
    assert GHP not in stored and OPAQUE not in stored
    assert agent.describe()["mcp"][0]["args"] == ["--token", "***", "--pat=***", "user:***", "--ro"]
    assert redact_config({"search": {"url": f"https://h/{GHP}/q", "note": "AKIAABCDEFGHIJ234567"}}) == {
        "search": {"url": "https://h/***/q", "note": "***"}
    }
