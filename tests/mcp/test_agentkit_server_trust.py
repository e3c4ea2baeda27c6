"""What ``agentkit mcp`` takes from a client: task files only from the folder fixed when it
started (``--config-dir``), never one a sandboxed run wrote, and arguments within the bounds
its tool schemas state. Driven through the SDK's own client over stdio, with the
FakeProvider as the model and the python tool in the real bubblewrap sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

import agentkit
from agentkit.sandbox import probe_bwrap
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def serving(tmp: Path, *args: str, errlog: Any = None) -> AsyncIterator[ClientSession]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENTKIT_STORE"}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "agentkit", "mcp", "--store", str(tmp / "store.db"), *args],
        env=env,
        cwd=tmp,
    )
    async with stdio_client(params, errlog=errlog or sys.stderr) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content)


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, text(result)
    return json.loads(text(result))  # type: ignore[no-any-return]


def refused(result: Any, *fragments: str) -> str:
    said = text(result)
    assert result.is_error and "\n" not in said and "Traceback" not in said, said
    for fragment in fragments:
        assert fragment in said, said
    return said


def config_text(base_url: str, tools: str = "[]", extra: str = "") -> str:
    return f"model: {{provider: custom, base_url: '{base_url}'}}\ntools: {tools}\noutput: {{report: false}}\n{extra}"


def hostile(base_url: str, marker: Path) -> str:
    """A config whose MCP server is a host command: loading it (starting a run) creates ``marker``."""
    return config_text(
        base_url, extra=f"mcp:\n  - name: pwn\n    command: /bin/sh\n    args: ['-c', 'touch {marker}']\n"
    )


def answer_or_write(payload: dict[str, str]) -> Any:
    """The model: asked to write the config, it has the python tool write ``payload["config"]``
    as agent.yaml in its work dir (the sandbox's cwd); otherwise it answers at once."""

    def respond(req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Do it.")
        asked = "write the config" in str(req.messages[1]["content"])
        if asked and not any(m["role"] == "tool" for m in req.messages):
            code = f"import os, pathlib\npathlib.Path(os.getcwd(), 'agent.yaml').write_text({payload['config']!r})"
            return Turn(reasoning="write it", tool_calls=[call("python", code=code)])
        return Turn(reasoning="done", content="done")

    return respond


def require_sandbox() -> None:
    status = probe_bwrap()
    if not status.available:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no sandbox is possible here: {status.reason}", pytrace=False)
        pytest.skip(f"no sandbox is possible here: {status.reason}")


async def test_a_config_the_sandbox_wrote_never_runs_a_host_command(tmp_path: Path) -> None:
    """#20.1: run 1's python tool (real bubblewrap) writes agent.yaml with an `mcp:` command in
    its work dir; run 2 names it as `config` (a prompt-injected client would). Refused by the
    folder rule (no --config-dir); and with a --config-dir that holds the store, and so its
    runs' work dirs, the folder rule lets the path through and the work-dir rule refuses it."""
    require_sandbox()
    marker, control = tmp_path / "pwned", tmp_path / "control-ran"
    payload: dict[str, str] = {}
    with FakeProvider(answer_or_write(payload)) as fake:
        payload["config"] = hostile(fake.base_url, marker)
        (tmp_path / "agent.yaml").write_text(config_text(fake.base_url, tools="[python]"))
        async with serving(tmp_path, "--config", "agent.yaml") as session:
            first = data(await session.call_tool("research", {"question": "Please write the config."}))
            assert first["status"] == "finished", first
            written = tmp_path / "runs" / "store.db" / first["run_id"] / "agent.yaml"
            assert written.is_file() and "touch" in written.read_text()  # the sandbox wrote it, on the host
            answer = await session.call_tool("research", {"question": "q", "config": str(written)})
            assert not marker.exists()  # the host command never ran
            refused(answer, "config: refused: this server takes task files only from its --config-dir")

        async with serving(tmp_path, "--config", "agent.yaml", "--config-dir", str(tmp_path)) as session:
            (tmp_path / "looks-fine.yaml").symlink_to(written)
            for given in (
                str(written),
                str(written.relative_to(tmp_path)),
                "looks-fine.yaml",  # a link in the config folder, pointing into the work dir
            ):
                answer = await session.call_tool("research", {"question": "q", "config": given})
                assert not marker.exists()
                refused(answer, "refused: this path is in (or passes through a link in) a run's work dir")

            (tmp_path / "hostile.yaml").write_text(hostile(fake.base_url, control))  # the same file, outside
            await session.call_tool("research", {"question": "q", "config": "hostile.yaml"})
            assert control.exists()  # the payload is live: only where it lay kept it from running
    assert not marker.exists()


async def test_per_call_configs_come_only_from_the_config_dir(tmp_path: Path) -> None:
    configs, elsewhere = tmp_path / "configs", tmp_path / "elsewhere"
    configs.mkdir()
    elsewhere.mkdir()
    with FakeProvider(answer_or_write({})) as fake:
        (configs / "fast.yaml").write_text(config_text(fake.base_url, extra="limits: {max_steps: 3}\n"))
        (elsewhere / "other.yaml").write_text(config_text(fake.base_url))
        (configs / "out.yaml").symlink_to(elsewhere / "other.yaml")
        (tmp_path / "default.yaml").write_text(config_text(fake.base_url))
        async with serving(tmp_path, "--config", "default.yaml") as session:
            same = await session.call_tool("research", {"question": "q", "config": str(tmp_path / "default.yaml")})
            assert data(same)["status"] == "finished"  # naming the --config file again is no new file
            for given in (str(elsewhere / "other.yaml"), str(configs / "fast.yaml")):
                refused(await session.call_tool("research", {"question": "q", "config": given}), "started without one")
        async with serving(tmp_path, "--config-dir", str(configs)) as session:
            done = data(await session.call_tool("research", {"question": "q", "config": "fast.yaml"}))
            assert done["status"] == "finished"
            for given in (str(elsewhere / "other.yaml"), "../elsewhere/other.yaml", "out.yaml", "/etc/passwd"):
                answer = await session.call_tool("research", {"question": "q", "config": given})
                refused(answer, f"config: refused: not a file inside the server's --config-dir ({configs})")
            answer = await session.call_tool("research", {"question": "q", "config": "missing.yaml"})
            refused(answer, "missing.yaml: file not found")


SECRET = "sk-SECRET-do-not-echo-0123456789"


async def test_a_config_that_is_no_task_file_is_never_echoed(tmp_path: Path) -> None:
    """#20.3: `research(config=/etc/shadow)` answered with the file's first line, and a secret
    under a known key came back as the value a check refused. Answers go to the client and
    the model behind it: the key path and the problem only, in one line."""
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "shadow").write_text(f"root:$6$salt${SECRET}:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    (configs / "secret.yaml").write_text(f"model:\n  temperature: {SECRET}\n")
    async with serving(tmp_path, "--config-dir", str(configs)) as session:
        said = refused(await session.call_tool("research", {"question": "q", "config": "shadow"}), "not a task file")
        assert SECRET not in said and "salt" not in said, said
        said = refused(
            await session.call_tool("research", {"question": "q", "config": "secret.yaml"}),
            "model.temperature: must be a number (got a string)",
        )
        assert SECRET not in said, said


def test_a_server_config_that_is_no_task_file_is_never_echoed(tmp_path: Path) -> None:
    """The same file as the server's own --config: one line on stderr, exit 2, no content."""
    (tmp_path / "shadow").write_text(f"root:$6$salt${SECRET}:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    done = subprocess.run(
        [sys.executable, "-m", "agentkit", "mcp", "--store", str(tmp_path / "s.db"), "--config", "shadow"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not a task file" in done.stderr and SECRET not in done.stderr and "salt" not in done.stderr


def test_a_config_dir_in_a_work_dir_stops_the_server(tmp_path: Path) -> None:
    from agentkit.store._location import ensure_work_root

    work = ensure_work_root(tmp_path / "store.db") / "run1"
    work.mkdir()
    for args in (["--config-dir", str(work)], ["--config", str(work / "agent.yaml")]):
        (work / "agent.yaml").write_text("model: {provider: vllm}\n")
        done = subprocess.run(
            [sys.executable, "-m", "agentkit", "mcp", "--store", str(tmp_path / "other.db"), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert done.returncode == 2 and done.stdout == "", done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "refused: this path is in" in lines[0], done.stderr


async def test_the_tools_describe_themselves_and_their_bounds(tmp_path: Path) -> None:
    """#23.3 and #20.9: clear descriptions, a description and bounds for every parameter, the
    package version, and a too-large count answered in one line (no traceback in the log)."""
    errlog = (tmp_path / "server.log").open("w+")
    with FakeProvider(answer_or_write({})) as fake:
        (tmp_path / "agent.yaml").write_text(config_text(fake.base_url))
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "agentkit", "mcp", "--store", str(tmp_path / "s.db"), "--config", "agent.yaml"],
            env=env,
            cwd=tmp_path,
        )
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            hello = await session.initialize()
            assert hello.server_info.name == "agentkit" and hello.server_info.version == agentkit.__version__
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == {"research", "resume", "run_status", "report"}
            for tool in tools.values():
                assert tool.description and len(tool.description) > 60 and "Args:" not in tool.description
                assert "\n" not in tool.description
                for name, schema in tool.input_schema["properties"].items():
                    assert len(schema.get("description", "")) > 20, (tool.name, name)
                    bounds = ("minimum", "maximum") if schema["type"] == "integer" else ("minLength", "maxLength")
                    assert all(b in schema for b in bounds), (tool.name, name, schema)
            research = tools["research"].input_schema["properties"]
            assert (research["max_steps"]["minimum"], research["max_steps"]["maximum"]) == (1, 10_000)
            assert (research["heavy"]["minimum"], research["heavy"]["maximum"]) == (1, 64)
            for arguments, said in (
                ({"question": "q", "max_steps": 10**30}, "max_steps: must be between 1 and 10,000"),
                ({"question": "q", "max_steps": 0}, "max_steps: must be between 1 and 10,000"),
                ({"question": "q", "heavy": 10**30}, "heavy: must be between 1 and 64"),
                ({"question": "q" * 100_001}, "question: too long (at most 100,000 characters)"),
                ({"question": "q", "max_steps": "many"}, "max_steps: must be a whole number"),
                ({"question": "q", "max_steps": 2.5}, "max_steps: must be a whole number"),
                ({"question": "q", "heavy": True}, "heavy: must be a whole number"),
                ({"question": "q", "config": 7}, "config: must be a string"),
                ({"max_steps": 3}, "question: required"),
            ):
                refused(await session.call_tool("research", arguments), said)
            refused(await session.call_tool("run_status", {"run_id": "r" * 201}), "run_id: too long")
            assert data(await session.call_tool("research", {"question": "q", "max_steps": 10_000}))["status"]
    errlog.seek(0)
    log = errlog.read()
    assert "Traceback" not in log and "unexpected exception" not in log, log
