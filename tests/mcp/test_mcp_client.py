"""MCP servers' tools in a tool registry: listing, schemas, calls, results, crashes, hangs."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp_helpers import hostile_spec, stdio_spec

from agentkit.llm.types import ToolCall
from agentkit.store.events import RunInfo
from agentkit.store.memory import MemoryStore
from agentkit.tools.base import ToolContext, ToolRegistry, ToolResult, ToolsUnavailable
from agentkit.tools.mcp import MCPTools

pytestmark = pytest.mark.anyio


class Harness:
    def __init__(self, servers: list[dict[str, Any]], environ: dict[str, str] | None = None) -> None:
        self.source = MCPTools(servers, environ=environ)
        self.registry = ToolRegistry([self.source])
        self.store = MemoryStore()
        self.n = 0

    def ctx(self, call_id: str = "") -> ToolContext:
        return ToolContext(run_id="r1", call_id=call_id, step=1, store=self.store, workdir=Path("/tmp"))

    async def open(self) -> list[str]:
        await self.store.create_run(RunInfo(id="r1", task="t"))
        return await self.registry.open_run("r1", self.ctx())

    async def call(self, name: str, **args: Any) -> ToolResult:
        self.n += 1
        call = ToolCall(id=f"c{self.n}", name=name, arguments="", parsed=args)
        return await self.registry.execute(call, self.ctx(call.id))

    async def close(self) -> None:
        await self.registry.close_run("r1")
        await self.registry.aclose()


async def test_stdio_and_http_servers_offer_namespaced_tools_with_their_schemas(http_url: str) -> None:
    h = Harness([stdio_spec("loc"), {"name": "web", "url": http_url}])
    try:
        assert await h.open() == []
        assert {"loc__lookup", "loc__crash", "web__lookup", "web__pid"} <= set(h.registry.names)
        schema = next(s for s in h.registry.schemas() if s["function"]["name"] == "web__lookup")["function"]
        assert schema["description"] == "Look a term up in the test glossary."
        assert schema["parameters"]["properties"]["term"]["type"] == "string"
        assert schema["parameters"]["required"] == ["term"]
        local, remote = await h.call("loc__lookup", term="abc"), await h.call("web__lookup", term="abcd")
        assert not local.output.is_error and "abc means 3" in local.output.text
        assert not remote.output.is_error and "abcd means 4" in remote.output.text
        bad = await h.call("web__lookup", term=5)
        assert bad.output.is_error and "Invalid arguments for web__lookup" in bad.output.text
        assert "term: 5 is not of type 'string'" in bad.output.text
    finally:
        await h.close()


async def test_results_are_sources_images_are_blobs_and_big_text_is_capped() -> None:
    h = Harness([stdio_spec("loc")])
    try:
        await h.open()
        pic = (await h.call("loc__picture")).output
        assert not pic.is_error
        assert "Here is the picture." in pic.text and "A red dot, 1x1." in pic.text
        [blob] = pic.meta["blobs"]
        assert blob["mime_type"] == "image/png" and blob["kind"] == "image"
        assert (await h.store.get_blob(blob["key"])) is not None
        assert f"stored as blob {blob['key'][:12]}" in pic.text
        [image] = pic.images  # checked and kept for a vision model
        assert (image.width, image.height) == (1, 1) and await h.store.get_blob(image.key) is not None
        sources = {s.id: s for s in await h.store.list_sources("r1")}
        assert set(pic.sources) <= set(sources)
        assert sources[pic.meta["source_id"]].kind == "mcp_result"
        assert any(s.url == "file:///notes/picture.txt" for s in sources.values())

        huge = (await h.call("loc__huge", n=200_000)).output
        assert len(huge.text) <= 24_000 and "truncated" in huge.text
        source = await h.store.get_source("r1", huge.meta["source_id"])
        stored = await h.store.get_blob(source.content_hash or "") if source else None
        assert stored is not None and stored.count(b"y") == 200_000  # the whole text, for fetch(source id)

        failed = (await h.call("loc__fails")).output
        assert failed.is_error and failed.text == "the glossary is closed"
    finally:
        await h.close()


def pid_of(text: str) -> int:
    found = re.search(r"process (\d+)", text)
    assert found, text
    return int(found.group(1))


async def test_a_crash_is_a_tool_error_and_the_next_call_restarts_the_server() -> None:
    h = Harness([stdio_spec("loc")])
    try:
        await h.open()
        first = pid_of((await h.call("loc__lookup", term="a")).output.text)
        crashed = (await h.call("loc__crash")).output
        assert crashed.is_error
        assert "MCP server 'loc' failed" in crashed.text and "started again on the next call" in crashed.text
        assert "fatal: the test asked me to crash" in crashed.text  # the end of its stderr
        again = (await h.call("loc__lookup", term="b")).output
        assert not again.is_error and pid_of(again.text) != first
        assert h.source.restarts == 1
    finally:
        await h.close()


async def test_a_hung_server_times_out_and_is_restarted() -> None:
    h = Harness([stdio_spec("loc", timeout_s=1)])
    try:
        await h.open()
        first = pid_of((await h.call("loc__lookup", term="a")).output.text)
        hung = (await h.call("loc__hang")).output
        assert hung.is_error and "no answer within 1 s" in hung.text
        again = (await h.call("loc__lookup", term="b")).output
        assert not again.is_error and pid_of(again.text) != first
    finally:
        await h.close()


async def test_secrets_reach_the_server_from_the_environment_only() -> None:
    h = Harness([stdio_spec("loc", env={"TOKEN": {"from_env": "LOC_TOKEN"}})], environ={"LOC_TOKEN": "s3cr3t"})
    try:
        await h.open()
        assert "token=s3cr3t" in (await h.call("loc__lookup", term="a")).output.text
        assert h.source.as_data()[0]["env"] == {"TOKEN": {"from_env": "LOC_TOKEN"}}
    finally:
        await h.close()
    missing = Harness([stdio_spec("loc", env={"TOKEN": {"from_env": "LOC_TOKEN"}})], environ={})
    with pytest.raises(
        ToolsUnavailable,
        match=re.escape("MCP server 'loc' could not start: env.TOKEN: the environment variable LOC_TOKEN is not set"),
    ):
        await missing.open()
    await missing.close()


async def test_a_server_that_cannot_start_fails_the_run_start_or_is_left_out_when_optional() -> None:
    h = Harness([hostile_spec("dies")])
    with pytest.raises(ToolsUnavailable) as caught:
        await h.open()
    message = str(caught.value)
    assert message.startswith("MCP server 'h' could not start: the server closed the connection")
    assert "cannot open my database /nonexistent/db" in message and "Traceback" not in message
    await h.close()

    optional = Harness([stdio_spec("loc"), hostile_spec("dies", required=False)])
    try:
        warnings = await optional.open()
        assert len(warnings) == 1 and "MCP server 'h' could not start; going on without its tools" in warnings[0]
        assert "loc__lookup" in optional.registry.names
        assert not (await optional.call("loc__lookup", term="a")).output.is_error  # the failure harmed no other server
    finally:
        await optional.close()

    absent = Harness([{"name": "nope", "command": "/nonexistent/mcp-server"}])
    with pytest.raises(
        ToolsUnavailable, match="MCP server 'nope' could not start: cannot run '/nonexistent/mcp-server'"
    ):
        await absent.open()
    await absent.close()


@pytest.mark.parametrize("mode", ["names", "garbage"])
async def test_hostile_tool_names_and_schemas_are_cleaned_or_left_out(mode: str) -> None:
    h = Harness([hostile_spec(mode)])
    try:
        warnings = await h.open()
        names = h.registry.names
        assert names[:3] == ["h__look_up", "h__uberprufen", "h__look_up_2"]
        assert names[3] == "h__" + "n" * 61 and len(names[3]) == 64
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", n) for n in names)
        assert len(warnings) == 2
        assert "tool 'bad_schema' is left out: its input schema is invalid at properties/q/type" in warnings[0]
        assert "tool 'huge_schema' is left out: its input schema is 5" in warnings[1]
        result = (await h.call("h__uberprufen", q="x")).output
        assert not result.is_error and 'überprüfen got {"q": "x"}' in result.text  # the server's own name is used
    finally:
        await h.close()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "badlist",
            "the server sent an invalid answer: tools.0.inputSchema.properties: Input should be a valid dictionary",
        ),
        (
            "babble",
            "did not start within 5 s; it wrote something that is not MCP on stdout: 'Hello! I am not an MCP server.'",
        ),
    ],
)
async def test_a_server_that_does_not_speak_mcp_gets_a_clear_message(mode: str, expected: str) -> None:
    h = Harness([hostile_spec(mode)])
    with pytest.raises(ToolsUnavailable) as caught:
        await h.open()
    assert str(caught.value) == f"MCP server 'h' could not start: {expected}"
    await h.close()


async def test_a_third_party_server_from_pypi_works_offline() -> None:
    server = {"name": "time", "command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
    h = Harness([server])
    try:
        await h.open()
        assert {"time__get_current_time", "time__convert_time"} <= set(h.registry.names)
        now = (await h.call("time__get_current_time", timezone="Europe/Paris")).output
        assert not now.is_error and '"timezone": "Europe/Paris"' in now.text
        wrong = (await h.call("time__get_current_time", timezone="Nowhere/Special")).output
        assert wrong.is_error and "Invalid timezone" in wrong.text
        converted = (
            await h.call("time__convert_time", source_timezone="UTC", time="12:00", target_timezone="Asia/Tokyo")
        ).output
        assert not converted.is_error and "21:00" in converted.text
    finally:
        await h.close()


async def test_an_http_server_that_goes_away_is_a_tool_error_naming_it(tmp_path: Path) -> None:
    from mcp_helpers import start_http_server

    proc, url = start_http_server(tmp_path)
    h = Harness([{"name": "web", "url": url}])
    try:
        await h.open()
        assert not (await h.call("web__pid")).output.is_error
        proc.kill()
        proc.wait()
        lost = (await h.call("web__pid")).output  # the open session breaks
        assert lost.is_error and "MCP server 'web' failed" in lost.text
        again = (await h.call("web__pid")).output  # a new connection is tried, and refused
        assert again.is_error and f"cannot connect to {url}" in again.text
    finally:
        await h.close()


async def test_args_from_the_environment_reach_the_server() -> None:
    spec = stdio_spec("loc")
    spec["args"] = [*spec["args"], "--token", {"from_env": "LOC_TOKEN"}]
    h = Harness([spec], environ={"LOC_TOKEN": "s3cr3t-from-env"})
    try:
        await h.open()
        assert (await h.call("loc__argv")).output.text.endswith("--token s3cr3t-from-env")
        assert h.source.as_data()[0]["args"][-1] == {"from_env": "LOC_TOKEN"}
    finally:
        await h.close()
