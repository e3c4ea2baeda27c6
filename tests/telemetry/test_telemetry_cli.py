"""The CLI exports when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: a run, and a run killed
mid-way (SIGKILL: no end recorded, spans still in the batch processor) then resumed, whose
every step reaches the collector, in one trace."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import anyio
import pytest

from agentkit.store import SQLiteStore
from agentkit.store.events import AssistantMessage, PlanUpdated, StoredEvent, ToolResultEvent
from agentkit.telemetry import CAPTURE_CONTENT_ENV
from agentkit.telemetry._ids import span_id_of, trace_id_of
from agentkit.telemetry._spans import DIED
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from tests.telemetry.messages import recorded, sent
from tests.telemetry.receiver import OtlpReceiver, Span

PAGES = 8


def respond(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Read the pages.\n2. Add the values.")
    values = [int(v) for m in req.messages if m["role"] == "tool" for v in re.findall(r"value=(\d+)", m["content"])]
    if len(values) < PAGES:
        base = req.body["messages"][1]["content"].split()[-1]
        return Turn(reasoning=f"page {len(values) + 1}", tool_calls=[call("fetch", url=f"{base}/p{len(values) + 1}")])
    return Turn(content=f"sum={sum(values)}")


def cli(
    args: list[str], tmp_path: Path, receiver: OtlpReceiver, otel: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("OTEL_")}
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "20", **(otel or {})})
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


class Gate:
    """Holds the answer to the ``at``-th model request until released: the run waits there,
    every event before that call committed and its spans made (not yet exported)."""

    def __init__(self, at: int) -> None:
        self.at, self.count = at, 0
        self.lock = threading.Lock()
        self.reached, self.release = threading.Event(), threading.Event()

    def __call__(self, req: FakeRequest) -> Turn:
        with self.lock:
            self.count += 1
            mine = self.count
        if mine == self.at:
            self.reached.set()
            self.release.wait(120)
        return respond(req)


@pytest.mark.parametrize("batch", [512, 3], ids=["nothing-exported", "some-batches-exported"])
def test_spans_a_killed_run_never_exported_come_with_its_resume(tmp_path: Path, pages: str, batch: int) -> None:
    """SIGKILL while the batch processor holds spans (never flushed on time: schedule delay of
    10 minutes; batches of ``batch`` spans go as they fill): after ``agentkit resume``, the
    receiver holds a chat span for every model call and an execute_tool span for every tool
    call in the store, under the session they belong to, in one trace; a span sent by both
    processes (exported, then the kill came before it was counted) is the same span twice."""
    db = tmp_path / "s.db"
    gate = Gate(at=5)  # the plan, then steps 1-3, then the 4th step's call waits
    held = {
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": str(batch),
        CAPTURE_CONTENT_ENV: "true",
    }
    with OtlpReceiver() as receiver, FakeProvider(gate) as fake:
        proc = cli(["run", str(task_file(tmp_path, fake, pages))], tmp_path, receiver, held)
        try:
            assert gate.reached.wait(120), "the run never reached the gated call"
            if batch < 512:  # the batches that filled up before the call reached the receiver
                receiver.wait_for(batch)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            gate.release.set()
        first = receiver.spans()
        run_id = events(db)[0].run_id
        resume = cli(["resume", run_id], tmp_path, receiver, {CAPTURE_CONTENT_ENV: "true"})
        out, err = resume.communicate(timeout=180)
        assert resume.returncode == 0, err[-2000:]
        spans = receiver.spans()
        requests = {f"chatcmpl-{r.index + 1}": r for r in fake.requests}
    assert json.loads(out)["answer"] == f"sum={sum(3 * n for n in range(1, PAGES + 1))}"
    calls_before = [s for s in first if s.name.startswith(("chat", "execute_tool"))]
    if batch == 512:
        assert not calls_before  # the killed process exported none of its steps
    else:
        assert calls_before  # some went before the kill

    stored = events(db)
    resumed_at = max(e.seq for e in stored if getattr(e.event, "status", None) == "running")
    session_of = {e.seq: span_id_of(run_id, 1 if e.seq < resumed_at else resumed_at) for e in stored}
    by_id: dict[int, list[Span]] = {}
    for s in spans:
        by_id.setdefault(s.span_id, []).append(s)
    assert {s.trace_id for s in spans} == {trace_id_of(run_id)}
    for copies in by_id.values():  # sent by both processes: the very same span
        assert all(_same(copies[0], other) for other in copies[1:])
    if batch == 512:
        assert all(len(copies) == 1 for copies in by_id.values())
    dead, resumed = by_id[span_id_of(run_id, 1)][0], by_id[span_id_of(run_id, resumed_at)][0]
    assert dead.attributes["agentkit.run.stop_reason"] == DIED and dead.parent_id is None
    assert resumed.links == [dead.span_id] and resumed.attributes["agentkit.run.status"] == "finished"

    calls = [e for e in stored if isinstance(e.event, AssistantMessage | PlanUpdated | ToolResultEvent)]
    assert len([e for e in calls if e.seq < resumed_at and isinstance(e.event, ToolResultEvent)]) == 3
    for e in calls:  # every step of both processes, under the session it belongs to
        (span, *_) = by_id[span_id_of(run_id, e.seq)]
        assert span.parent_id == session_of[e.seq], (e.seq, span.name)
        if isinstance(e.event, ToolResultEvent):
            assert span.name == "execute_tool fetch"
            assert span.attributes["gen_ai.tool.call.id"] == e.event.call_id
            continue
        request = requests[span.attributes["gen_ai.response.id"]]  # the call it was, and what it sent
        assert span.name == f"chat {request.body['model']}" == f"chat {span.attributes['gen_ai.request.model']}"
        limit = request.body.get("max_completion_tokens", request.body.get("max_tokens"))
        assert isinstance(limit, int) and span.attributes["gen_ai.request.max_tokens"] == limit
        assert recorded(span.attributes) == sent(request.messages)


def _same(a: Span, b: Span) -> bool:
    keys = ("name", "trace_id", "parent_id", "kind", "start_ns", "end_ns", "attributes", "status_code", "links")
    return all(getattr(a, k) == getattr(b, k) for k in keys)
