"""The run's own key, read from ``model.api_key_env`` (a variable whose name says nothing of
keys), and an MCP server's ``{from_env: ...}`` value leave the process nowhere: not in an
exported span (content capture on, a real OTLP/HTTP receiver on loopback), a stored trace
event, a report, a log line, the live view or ``agentkit show --json`` — while the model puts
the key in its content, reasoning and tool arguments and a tool's result holds both."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit import Agent, tool
from agentkit._redact import MIN_SECRET_LENGTH, mask_secrets, register_secret
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.store import SQLiteStore
from agentkit.store._codec import decode_event, encode_event
from agentkit.store.events import ToolResultEvent
from agentkit.telemetry import CAPTURE_CONTENT_ENV
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from tests.mcp.mcp_helpers import TOOLS_SERVER
from tests.telemetry.receiver import OtlpReceiver

KEY = "lc-5Tq9WxZ2vR7mK4pN8bJ3"
"""Shaped like no known key, in a variable named like no key: only its value gives it away."""
MCP_KEY = "mc-8Hs3Lq6Zt1Vw9Nd4Rf2"
SECRETS = (KEY, MCP_KEY)


def responder(req: FakeRequest) -> Turn:
    last = str(req.messages[-1].get("content") or "")
    if "Propose the outline" in last:
        return Turn(content='["Findings"]')
    if "Write the section" in last:
        return Turn(content=f"The service answered for {KEY}; its token is {MCP_KEY}.")
    if not req.tools:  # the plan
        return Turn(reasoning=f"Plan around {KEY}.", content=f"1. Look up {KEY}.\n2. Answer.")
    if not any(m["role"] == "tool" for m in req.messages):
        return Turn(
            reasoning=f"The key is {KEY}.", content=f"Checking {KEY}.", tool_calls=[call("loc__lookup", term=KEY)]
        )
    return Turn(reasoning=f"It echoed {KEY}.", content=f"Done: the key {KEY} works, the server token is {MCP_KEY}.")


def agentkit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_runs_key_and_an_mcp_secret_leave_the_process_nowhere(tmp_path: Path) -> None:
    # check_reasoning off: the reasoning carried back is the trace's, with the key masked (the
    # model's own words changed by the masking, which the strict fake would call a rewrite).
    with OtlpReceiver() as receiver, FakeProvider(responder, api_key=KEY, check_reasoning=False) as fake:
        task = tmp_path / "task.yaml"
        task.write_text(
            "task: Check the service with the key.\n"
            f"model: {{provider: custom, base_url: '{fake.base_url}', api_key_env: LLM_CRED}}\n"
            "tools: []\n"
            f"mcp: [{{name: loc, command: '{sys.executable}', args: ['{TOOLS_SERVER}'],"
            " env: {TOKEN: {from_env: MCP_CRED}}}]\n"
            "output: {report: true, format: md}\n"
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("OTEL_")},
            "LLM_CRED": KEY,
            "MCP_CRED": MCP_KEY,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            CAPTURE_CONTENT_ENV: "true",
        }
        store = str(tmp_path / "runs.db")
        run = agentkit("run", str(task), "--store", store, "--out", str(tmp_path / "out"), env=env, cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        assert fake.errors == []
        # live view (stderr: one line per step and tool call, with arguments and a result preview) and answer
        assert "-> loc__lookup" in run.stderr and "<- loc__lookup" in run.stderr
        assert "Done: the key *** works, the server token is ***." in run.stdout
        assert not [s for s in SECRETS if s in run.stdout + run.stderr]
        spans = receiver.spans()  # the exporter flushed at exit; every body it sent arrived before its answer

    # the key went to the provider in the Authorization header only: the history carried it masked
    after_tool = next(r for r in fake.requests if any(m["role"] == "tool" for m in r.messages))
    (assistant,) = [m for m in after_tool.messages if m["role"] == "assistant" and m.get("tool_calls")]
    assert assistant["reasoning_content"] == "The key is ***." and assistant["content"] == "Checking ***."
    assert not [r.body for r in fake.requests if any(s in json.dumps(r.body) for s in SECRETS)]

    assert receiver.bodies and not [b for b in receiver.bodies if any(s.encode() in b for s in SECRETS)]
    tool_span = next(s for s in spans if s.name == "execute_tool loc__lookup")
    assert "*** means" in tool_span.attributes["gen_ai.tool.call.result"]  # content captured, key masked
    assert "token=***" in tool_span.attributes["gen_ai.tool.call.result"]
    chats = [str(s.attributes.get("gen_ai.output.messages", "")) for s in spans if s.name.startswith("chat")]
    assert any("The key is ***." in c for c in chats)

    runs = json.loads(agentkit("runs", "--store", store, "--json", env=env, cwd=tmp_path).stdout)
    run_id = runs[0]["id"] if isinstance(runs, list) else runs["runs"][0]["id"]
    show = agentkit("show", run_id, "--store", store, "--json", env=env, cwd=tmp_path)
    assert show.returncode == 0 and "***" in show.stdout
    html = agentkit("report", run_id, "--store", store, "--format", "html", "-o", "r.html", env=env, cwd=tmp_path)
    view = agentkit("view", run_id, "--store", store, "-o", "v.html", env=env, cwd=tmp_path)
    assert html.returncode == 0 and view.returncode == 0, html.stderr + view.stderr
    for proc in (show, html, view):
        assert not [s for s in SECRETS if s in proc.stdout + proc.stderr]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "The service answered for ***; its token is ***." in report
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"runs.db", "report.md", "r.html", "v.html"} <= {p.name for p in files}
    for path in files:  # the trace store (and its WAL), the reports, the viewer page
        data = path.read_bytes()
        assert not [s for s in SECRETS if s.encode() in data], path


def test_log_records_never_show_a_key_agentkit_read(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "lc-log-3Jd8Qw1Zr6Tn"
    monkeypatch.setenv("LLM_CRED", key)
    OpenAICompatibleModel(provider="custom", base_url="http://127.0.0.1:9/v1", api_key_env="LLM_CRED")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger("agentkit.anything"), logging.getLogger("some.library")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        for logger in loggers:
            logger.warning("the server refused %s (key %r)", key, key)
            try:
                raise RuntimeError(f"401 for {key}")
            except RuntimeError:
                logger.exception("request failed")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.count("the server refused *** (key '***')") == 2 and text.count("RuntimeError: 401 for ***") == 2
    assert key not in text


def test_short_values_are_never_registered_and_stored_events_hold_none() -> None:
    register_secret("a" * (MIN_SECRET_LENGTH - 1), "true", "", None)
    assert mask_secrets("a" * (MIN_SECRET_LENGTH - 1) + " is true") == "a" * (MIN_SECRET_LENGTH - 1) + " is true"
    quoted = 'q"uo\\te-\u00e9-8Yx2'  # escaped in JSON: found in the encoded row all the same
    register_secret(quoted, "pw-overlap-1", "pw-overlap-12345")  # the longer one first
    event = ToolResultEvent(call_id="c1", name="t", text=f"{quoted} and pw-overlap-12345", step=1, meta={quoted: 1})
    row = encode_event(event)
    assert quoted not in row.data and "pw-overlap" not in row.data
    back = decode_event(row.data, row.refs, row.blobs)
    assert isinstance(back, ToolResultEvent) and back.text == "*** and ***" and back.meta == {"***": 1}
    long = ToolResultEvent(call_id="c2", name="t", text=("x" * 9000) + quoted, step=1)  # moved out to a blob
    row = encode_event(long, inline_limit=1024)
    assert row.blobs and not [b for b in row.blobs.values() if quoted.encode() in b]


@pytest.mark.anyio
async def test_a_key_given_in_python_is_masked_in_the_store_and_the_result(tmp_path: Path) -> None:
    key = "py-key-9Kd2Lm7Qx4Wz"

    @tool
    async def echo(text: str) -> str:
        """Say it back."""
        return f"you said {text}"

    def respond(req: FakeRequest) -> Turn:
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(content=f"Echoing {key}.", tool_calls=[call("echo", text=key)])
        return Turn(reasoning=f"It was {key}.", content=f"The key is {key}.")

    store = SQLiteStore(tmp_path / "s.db")
    with FakeProvider(respond, api_key=key) as fake:
        async with Agent(
            provider="custom", base_url=fake.base_url, api_key=key, tools=[echo], plan=False, store=store
        ) as agent:
            result = await agent.run(f"Repeat {key}.")
    assert result.status == "finished" and result.answer == "The key is ***."
    events = [e.event.model_dump_json() for e in await store.events(result.run_id)]
    assert any("you said ***" in e for e in events) and not [e for e in events if key in e]
    assert key not in (await store.get_run(result.run_id)).model_dump_json()
    await store.aclose()
    assert key.encode() not in (tmp_path / "s.db").read_bytes()


def test_the_postgresql_password_is_registered_when_the_url_is_read() -> None:
    from agentkit.store._pg_errors import parse_target

    parse_target("postgresql://agentkit:pg-pass-4Hq8Zr2Nw@127.0.0.1:5/db")
    assert mask_secrets("auth failed for pg-pass-4Hq8Zr2Nw") == "auth failed for ***"
