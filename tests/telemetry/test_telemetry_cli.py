"""The CLI exports when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: a run, and a run killed
mid-way (SIGKILL: no end recorded) then resumed, land in one trace with no span twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio

from agentkit.store import SQLiteStore
from agentkit.store.events import StoredEvent, ToolResultEvent
from agentkit.telemetry._ids import span_id_of, trace_id_of
from agentkit.telemetry._spans import DIED
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from tests.telemetry.receiver import OtlpReceiver

PAGES = 8


def respond(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Read the pages.\n2. Add the values.")
    values = [int(v) for m in req.messages if m["role"] == "tool" for v in re.findall(r"value=(\d+)", m["content"])]
    if len(values) < PAGES:
        base = req.body["messages"][1]["content"].split()[-1]
        return Turn(reasoning=f"page {len(values) + 1}", tool_calls=[call("fetch", url=f"{base}/p{len(values) + 1}")])
    return Turn(content=f"sum={sum(values)}")


def cli(args: list[str], tmp_path: Path, receiver: OtlpReceiver) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("OTEL_")}
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "20"})
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit", *args, "--store", str(tmp_path / "s.db"), "--json"],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def task_file(tmp_path: Path, fake: FakeProvider, pages: str) -> Path:
    task = tmp_path / "task.yaml"
    task.write_text(
        f"task: 'Add the values on the pages at {pages}'\n"
        f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
        "tools: [fetch]\nfetch: {allow_private_hosts: true}\noutput: {report: false}\n"
    )
    return task


async def _events(db: Path) -> list[StoredEvent]:
    store = SQLiteStore(db)
    try:
        runs = await store.list_runs()
        return await store.events(runs[0].id) if runs else []
    finally:
        await store.aclose()


def events(db: Path) -> list[StoredEvent]:
    try:
        return anyio.run(_events, db) if db.exists() else []
    except Exception:  # the other process is creating the store
        return []


def test_the_cli_exports_a_run_to_the_endpoint(tmp_path: Path, pages: str) -> None:
    with OtlpReceiver() as receiver, FakeProvider(respond) as fake:
        proc = cli(["run", str(task_file(tmp_path, fake, pages))], tmp_path, receiver)
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        spans = receiver.spans()  # the process flushed them at exit
    run_id = json.loads(out)["run_id"]
    assert {s.trace_id for s in spans} == {trace_id_of(run_id)}
    assert {s.resource["service.name"] for s in spans} == {"agentkit"}
    names = Counter(s.name for s in spans)
    assert names == {"invoke_agent agentkit": 1, "chat kimi-k3": PAGES + 2, "execute_tool fetch": PAGES}
    (root,) = [s for s in spans if s.parent_id is None]
    assert root.span_id == span_id_of(run_id, 1) and root.attributes["agentkit.run.status"] == "finished"


def test_a_run_killed_mid_way_and_resumed_is_one_trace_without_repeats(tmp_path: Path, pages: str) -> None:
    db = tmp_path / "s.db"
    with OtlpReceiver() as receiver, FakeProvider(respond, latency_s=0.05) as fake:
        proc = cli(["run", str(task_file(tmp_path, fake, pages))], tmp_path, receiver)
        try:  # kill once a few steps are committed and some spans exported: no end is recorded
            deadline = time.monotonic() + 120
            while not (len(events(db)) >= 8 and receiver.spans()):
                assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the kill"
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        first = receiver.spans()
        run_id = events(db)[0].run_id
        resume = cli(["resume", run_id], tmp_path, receiver)
        out, err = resume.communicate(timeout=180)
        assert resume.returncode == 0, err[-2000:]
        spans = receiver.spans()
    assert json.loads(out)["answer"] == f"sum={sum(3 * n for n in range(1, PAGES + 1))}"
    assert {s.trace_id for s in spans} == {trace_id_of(run_id)}
    assert not [i for i, n in Counter(s.span_id for s in spans).items() if n > 1]  # nothing exported twice
    assert all(s.name != "invoke_agent agentkit" for s in first)  # the killed process never ended its span
    dead, resumed = sorted((s for s in spans if s.name == "invoke_agent agentkit"), key=lambda s: s.start_ns)
    assert dead.span_id == span_id_of(run_id, 1) and dead.attributes["agentkit.run.stop_reason"] == DIED
    assert resumed.links == [dead.span_id] and resumed.attributes["agentkit.run.status"] == "finished"
    # every tool span is a result in the store, made once; the resumed process made all of its own
    stored = events(db)
    results = {e.seq: e.event.call_id for e in stored if isinstance(e.event, ToolResultEvent)}
    tool_spans = [s for s in spans if s.name == "execute_tool fetch"]
    assert {s.attributes["gen_ai.tool.call.id"] for s in tool_spans} <= set(results.values())
    resumed_at = max(e.seq for e in stored if getattr(e.event, "status", None) == "running")
    after = {span_id_of(run_id, seq) for seq in results if seq > resumed_at}
    assert after and after <= {s.span_id for s in tool_spans if s.parent_id == resumed.span_id}
