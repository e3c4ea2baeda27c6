"""Real exports: a heavy run through the SDK's OTLP/HTTP exporter to a receiver on loopback,
and the switch by environment (on with an exporter named, off and opentelemetry-free without)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentkit import Agent, RetryPolicy, telemetry, tool
from agentkit.ensembles.heavy import AGGREGATE_SYSTEM
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.telemetry import CAPTURE_CONTENT_ENV
from agentkit.telemetry._ids import trace_id_of
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from tests.telemetry.receiver import OtlpReceiver

pytestmark = pytest.mark.anyio
CANARY = "sk-canary-heavy-8d1e4a6b3c"
CITIES = ["Paris", "Paris", "Paris", "Paris", "Paris", "Lyon", "Marseille", "Nice"]
CLIENT, INTERNAL, ERROR = 3, 1, 2  # OTLP's SpanKind and StatusCode numbers


@tool
async def lookup(term: str) -> str:
    """Look a term up (its result quotes the request headers, key included)."""
    return f"{term}: see the atlas\nAuthorization: Bearer {CANARY}"


def heavy_responder(req: FakeRequest) -> Turn:
    if req.messages[0]["content"] == AGGREGATE_SYSTEM:
        return Turn(content="Paris. 5 of 8 trajectories agreed.")
    seed = int(req.body.get("seed") or 0)
    if not req.tools:
        return Turn(content="1. Look it up.\n2. Answer.")
    if not any(m["role"] == "tool" for m in req.messages):
        return Turn(reasoning=f"key {CANARY}?", tool_calls=[call("lookup", term=f"capital of France #{seed}")])
    return Turn(content=f"The answer is {CITIES[seed % 8]}.")


async def test_a_heavy_run_reaches_an_otlp_receiver_as_one_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")  # the hardest case for secrets: content on
    monkeypatch.setenv("MOONSHOT_API_KEY", CANARY)
    # check_reasoning off: the run's key is masked in the trace, so the reasoning carried back
    # reads "key ***?" rather than what the model produced
    with OtlpReceiver() as receiver, FakeProvider(heavy_responder, api_key=CANARY, check_reasoning=False) as fake:
        provider = TracerProvider(resource=Resource.create({"service.name": "heavy-test"}), shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")))
        telemetry.instrument(tracer_provider=provider)
        try:
            llm = OpenAICompatibleModel(
                provider="moonshot", base_url=fake.base_url, retry=RetryPolicy(initial_backoff=0.001, max_attempts=2)
            )
            async with Agent(llm=llm, tools=[lookup], heavy=8, aggregate="reflective") as agent:
                result = await agent.run("What is the capital of France?")
            assert telemetry.force_flush()  # what the batch processor holds goes now
        finally:
            telemetry.uninstrument()
            provider.shutdown()
    assert result.status == "finished" and result.answer.startswith("Paris")
    assert not [r for r in fake.requests if CANARY in str(r.body)]  # only ever in the Authorization header
    assert receiver.bodies and set(receiver.paths) == {"/v1/traces"}
    assert not [b for b in receiver.bodies if CANARY.encode() in b]  # not in any byte sent

    spans = receiver.spans()
    assert {s.trace_id for s in spans} == {trace_id_of(result.run_id)}
    assert not [i for i, n in Counter(s.span_id for s in spans).items() if n > 1]
    assert {s.resource["service.name"] for s in spans} == {"heavy-test"}
    (root,) = [s for s in spans if s.parent_id is None]
    assert root.name == "invoke_agent agentkit" and root.attributes["agentkit.ensembles.heavy.trajectories"] == 8
    trajectories = [s for s in spans if s.parent_id == root.span_id and s.name.startswith("invoke_agent")]
    assert sorted(s.name for s in trajectories) == [f"invoke_agent trajectory {i}" for i in range(8)]
    for traj in trajectories:
        under = [s for s in spans if s.parent_id == traj.span_id]
        assert sorted(s.name for s in under) == ["chat kimi-k3"] * 3 + ["execute_tool lookup"]
        assert traj.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert traj.attributes["agentkit.run.parent_id"] == result.run_id
        assert root.start_ns <= traj.start_ns <= traj.end_ns <= root.end_ns
        for chat in (s for s in under if s.name.startswith("chat")):
            assert chat.kind == CLIENT and chat.attributes["gen_ai.provider.name"] == "moonshot_ai"
            assert (
                chat.attributes["gen_ai.usage.input_tokens"] > 0 and chat.attributes["gen_ai.usage.output_tokens"] > 0
            )
            assert "gen_ai.usage.cache_read.input_tokens" in chat.attributes
            assert chat.attributes["gen_ai.request.model"] == "kimi-k3"
            assert chat.attributes["gen_ai.response.model"] == "kimi-k3"
        (tool_span,) = [s for s in under if s.name.startswith("execute_tool")]
        assert tool_span.kind == INTERNAL and tool_span.attributes["gen_ai.tool.call.id"]
        assert "Authorization: ***" in tool_span.attributes["gen_ai.tool.call.result"]
    (aggregate,) = [s for s in spans if s.attributes.get("agentkit.phase") == "aggregate"]
    assert aggregate.parent_id == root.span_id and aggregate.start_ns >= max(t.end_ns for t in trajectories)


def _python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


RUN = (
    "import sys\n"
    "from agentkit import Agent\n"
    "from agentkit.testing import ScriptedModel, Turn\n"
    "r = Agent(llm=ScriptedModel([Turn(content='ok')]), tools=[], plan=False).run_sync('q')\n"
    "assert r.status == 'finished', r\n"
    "print('MODULES', sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
)


def test_off_without_the_variables_and_imports_no_opentelemetry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = _python(RUN, env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MODULES []" in proc.stdout


def test_on_for_the_python_api_when_an_exporter_is_named(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, "OTEL_TRACES_EXPORTER": "console"}
    proc = _python(RUN, env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"name": "invoke_agent agentkit"' in proc.stdout and '"service.name": "agentkit"' in proc.stdout
    proc = _python(RUN, {**env, "OTEL_SERVICE_NAME": "research-bot"}, tmp_path)  # the standard variable wins
    assert '"service.name": "research-bot"' in proc.stdout and '"service.name": "agentkit"' not in proc.stdout


def test_the_variables_without_the_otel_extra_warn_once_and_the_run_goes_on(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
    hide = "import sys\nsys.modules['opentelemetry.sdk.trace'] = None  # as if the extra were not installed\n"
    proc = _python(hide + RUN, env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("pip install 'agentkit[otel]'") == 1
