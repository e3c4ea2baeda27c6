"""Spans of one run against the fake provider over loopback: tree, GenAI attributes, times
taken from the trace events, content only on opt-in, and no credential in any span."""

from __future__ import annotations

import random
import re
from collections import Counter

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from agentkit import Agent, tool
from agentkit._redact import Redactor
from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.store.events import AssistantMessage, BudgetDecision, ErrorEvent, PlanUpdated, RunStarted, ToolResultEvent
from agentkit.store.memory import MemoryStore
from agentkit.telemetry import CAPTURE_CONTENT_ENV
from agentkit.telemetry._ids import span_id_of, trace_id_of
from agentkit.telemetry._ledger import NAMESPACE
from agentkit.telemetry._spans import RunTracer
from agentkit.testing import FakeProvider, FakeRequest, HttpError, Turn, call
from tests.telemetry.conftest import Spans
from tests.telemetry.messages import recorded, sent

pytestmark = pytest.mark.anyio
CANARY = "sk-canary-otel-5e2b7c9d1f"
CONTENT = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")
TOOL_CONTENT = ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result")


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: 42"


def script() -> list[Turn]:
    return [
        Turn(content="1. Look it up.\n2. Answer."),
        Turn(reasoning="need a lookup", tool_calls=[call("lookup", term="answer")]),
        Turn(content="The answer is 42."),
    ]


def ns(ts: float) -> int:
    return int(ts * 1e9)


def every_string(span: ReadableSpan) -> str:
    parts = [span.name, str(dict(span.attributes or {})), span.status.description or ""]
    parts += [str(dict(e.attributes or {})) for e in span.events]
    parts += [str(dict(span.resource.attributes))]
    return "\n".join(parts)


async def test_a_run_is_one_trace_of_agent_chat_and_tool_spans_timed_by_its_events(spans: Spans) -> None:
    with FakeProvider(script()) as fake:
        async with Agent(provider="custom", base_url=fake.base_url, tools=[lookup], seed=7) as agent:
            result = await agent.run("What is the answer?")
    assert result.status == "finished"
    events = await agent.store.events(result.run_id)
    seq_of = {type(e.event): e.seq for e in events}
    by_type = {type(e.event): e.event for e in events}

    (root,) = spans.named("invoke_agent")
    chats = spans.named("chat ")
    (tool_span,) = spans.named("execute_tool")
    assert len(spans.all) == 5 and len(chats) == 3
    # one trace, ids derived from the run (root run id; run id and event seq)
    assert {s.context.trace_id for s in spans.all} == {trace_id_of(result.run_id)}
    assert root.parent is None and root.context.span_id == span_id_of(result.run_id, seq_of[RunStarted])
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in [*chats, tool_span])
    assert tool_span.context.span_id == span_id_of(result.run_id, seq_of[ToolResultEvent])

    assert root.name == "invoke_agent agentkit" and root.kind == SpanKind.INTERNAL
    assert root.attributes is not None
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.conversation.id"] == result.run_id
    assert root.attributes["gen_ai.provider.name"] == "custom"
    assert root.attributes["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert root.attributes["agentkit.run.status"] == "finished"
    assert root.status.status_code == StatusCode.UNSET

    plan, first, last = sorted(chats, key=lambda s: s.start_time or 0)
    assert [c.attributes["agentkit.phase"] for c in (plan, first, last) if c.attributes] == ["plan", *["execute"] * 2]
    turn = [e.event for e in events if isinstance(e.event, AssistantMessage)][-1].turn
    attrs = last.attributes or {}
    assert last.name == "chat kimi-k3" and last.kind == SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "kimi-k3" and attrs["gen_ai.response.model"] == turn.model
    assert attrs["gen_ai.usage.input_tokens"] == turn.usage.prompt_tokens == fake.prompt_tokens[-1]
    assert attrs["gen_ai.usage.output_tokens"] == turn.usage.completion_tokens > 0
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == turn.usage.cached_tokens == fake.cached_tokens[-1] > 0
    assert attrs["gen_ai.request.seed"] == 7 and attrs["server.address"] == "127.0.0.1"
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]

    tool_attrs = tool_span.attributes or {}
    assert tool_span.name == "execute_tool lookup"
    assert tool_attrs["gen_ai.tool.name"] == "lookup" and tool_attrs["gen_ai.tool.call.id"] == "lookup:0"
    assert "error.type" not in tool_attrs
    # times are the events': a call ends when its turn is committed and began at the run's
    # previous event; a tool ran for its measured duration up to its result's commit
    result_event = by_type[ToolResultEvent]
    assert isinstance(result_event, ToolResultEvent)
    assert tool_span.end_time == ns(result_event.ts)
    assert tool_span.start_time == ns(result_event.ts - result_event.duration_s)
    assert plan.start_time == ns(by_type[RunStarted].ts) and plan.end_time == ns(by_type[PlanUpdated].ts)
    assert last.start_time == ns(result_event.ts) and last.end_time == ns(by_type[AssistantMessage].ts)
    assert root.start_time == ns(by_type[RunStarted].ts)
    assert all(
        (root.start_time or 0) <= (s.start_time or 0) <= (s.end_time or 0) <= (root.end_time or 0) for s in spans.all
    )
    # content is opt-in: off by default
    assert not any(k in (s.attributes or {}) for s in spans.all for k in (*CONTENT, *TOOL_CONTENT))


async def test_content_is_recorded_with_the_variable_and_credentials_never_are(
    spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    monkeypatch.setenv("MOONSHOT_API_KEY", CANARY)
    spans.instrument()  # the variable is read when tracing starts

    @tool
    async def leaky(what: str) -> str:
        """A tool whose result holds the key (an echoed request, a printed environment)."""
        return f"{what}\nAuthorization: Bearer {CANARY}\nMOONSHOT_API_KEY={CANARY}\nhttps://u:{CANARY}@example.org/x"

    def respond(req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Check.")
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(reasoning=f"the key is {CANARY}", tool_calls=[call("leaky", what=f"key={CANARY}")])
        return Turn(content=f"Done; the header was Authorization: Bearer {CANARY}")

    # The fake demands the key (it was sent). Its verbatim-reasoning check is off: the run's own
    # key is masked in the trace, so the reasoning carried back reads "the key is ***".
    with FakeProvider(respond, api_key=CANARY, check_reasoning=False) as fake:
        async with Agent(provider="moonshot", base_url=fake.base_url, tools=[leaky]) as agent:
            result = await agent.run("Check the headers.")
    assert result.status == "finished"
    assert [m.get("reasoning_content") for m in fake.requests[-1].messages if m.get("tool_calls")] == ["the key is ***"]
    assert spans.all and not [s.name for s in spans.all if CANARY in every_string(s)]
    (root,) = spans.named("invoke_agent")
    (tool_span,) = spans.named("execute_tool")
    attrs, tool_attrs = root.attributes or {}, tool_span.attributes or {}
    assert attrs["gen_ai.provider.name"] == "moonshot_ai"
    assert all(k in attrs for k in CONTENT) and "Check the headers." in str(attrs["gen_ai.input.messages"])
    assert "Authorization: ***" in str(tool_attrs["gen_ai.tool.call.result"])
    assert "MOONSHOT_API_KEY=***" in str(tool_attrs["gen_ai.tool.call.result"])
    assert "key=***" in str(tool_attrs["gen_ai.tool.call.arguments"])
    chat = next(s for s in spans.named("chat") if "leaky" in str((s.attributes or {}).get("gen_ai.output.messages")))
    assert '"type":"tool_call"' in str((chat.attributes or {})["gen_ai.output.messages"])


async def test_a_failed_run_ends_its_span_with_the_error(spans: Spans) -> None:
    with FakeProvider([HttpError(404, "model not found")]) as fake:
        async with Agent(provider="custom", base_url=fake.base_url, tools=[lookup], plan=False) as agent:
            result = await agent.run("Anything?")
    assert result.status == "failed"
    (root,) = spans.named("invoke_agent")
    assert root.status.status_code == StatusCode.ERROR
    (error,) = [e.event for e in await agent.store.events(result.run_id) if isinstance(e.event, ErrorEvent)]
    assert (root.attributes or {})["error.type"] == error.kind
    assert (root.attributes or {})["agentkit.run.status"] == "failed"
    assert not spans.named("chat")  # no turn was committed: no call to show


def test_the_redactor_masks_credentials_it_was_not_told_about() -> None:
    scrub = Redactor(env={})  # no variable holds these: the shapes give them away
    text = scrub(
        f"Authorization: Bearer {CANARY}\nproxy-authorization: Basic dXNlcjpwYXNz\n"
        f'{{"api_key": "{CANARY}", "password": "hunter2hunter2"}}\n'
        f"curl -H 'Authorization: token {CANARY}' https://me:pw123456@host/x?token=abcdef123&q=ok\n"
        "key AIzaSyA1234567890abcdefghijklmnopqrstuv and ghp_0123456789abcdefghijklmnopqrstuvwxyz"
    )
    for secret in (CANARY, "dXNlcjpwYXNz", "hunter2", "pw123456", "abcdef123", "AIzaSy", "ghp_0123"):
        assert secret not in text, (secret, text)
    assert "q=ok" in text and "https://***@host/x" in text
    assert Redactor(["a-key-passed-in-code"], env={})("use a-key-passed-in-code now") == "use *** now"


async def test_delegated_sub_agents_are_child_spans_of_the_lead_run(spans: Spans) -> None:
    questions = ["population of Lyon", "population of Nice"]

    def respond(req: FakeRequest) -> Turn:
        task = req.messages[1]["content"]
        if any(task.startswith(q) for q in questions):
            return Turn(content=f"{task.split(chr(10))[0]} is large.")
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(tool_calls=[call("delegate", question=q) for q in questions])
        return Turn(content="Both are large.")

    with FakeProvider(respond) as fake:
        async with Agent(provider="custom", base_url=fake.base_url, tools=[lookup], plan=False, delegate=True) as agent:
            result = await agent.run("Compare Lyon and Nice.")
    assert result.status == "finished"
    (lead,) = [s for s in spans.named("invoke_agent") if s.parent is None]
    subs = [s for s in spans.named("invoke_agent") if s.parent is not None]
    assert sorted(s.name for s in subs) == ["invoke_agent delegate"] * 2
    assert all(s.parent and s.parent.span_id == lead.context.span_id for s in subs)
    assert {s.context.trace_id for s in spans.all} == {trace_id_of(result.run_id)}
    delegate_calls = spans.named("execute_tool delegate")
    assert len(delegate_calls) == 2
    children = {(s.attributes or {})["agentkit.run.id"] for s in subs}
    assert {(s.attributes or {})["agentkit.child_run"] for s in delegate_calls} == children
    for sub in subs:  # each sub-agent ran inside its delegate call
        (call_span,) = [
            s
            for s in delegate_calls
            if (s.attributes or {})["agentkit.child_run"] == (sub.attributes or {})["agentkit.run.id"]
        ]
        assert (call_span.start_time or 0) <= (sub.start_time or 0) <= (sub.end_time or 0) <= (call_span.end_time or 0)
        assert len([s for s in spans.named("chat") if s.parent and s.parent.span_id == sub.context.span_id]) == 1


async def test_a_summary_call_of_the_context_builder_is_a_chat_span(spans: Spans) -> None:
    window, reads = 8192, 12

    def respond(req: FakeRequest) -> Turn:
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content="- read some pages; nothing found")
        done = sum(1 for m in req.messages if m["role"] == "tool")
        last = max([int(n) for n in re.findall(r"page (\d+):", req.text())], default=0)
        if last < reads and done < 3 * reads:
            return Turn(reasoning=f"next {last + 1}", tool_calls=[call("read", n=last + 1)])
        return Turn(content="done")

    @tool
    def read(n: int) -> str:
        """Read page n."""
        rng = random.Random(n)
        return f"page {n}: " + " ".join(f"t{rng.randrange(10**5)}" for _ in range(900))

    with FakeProvider(respond, context_window=window) as fake:
        agent = Agent(provider="moonshot", base_url=fake.base_url, api_key="k", tools=[read], plan=False)
        agent.context_window, agent.max_tokens = window, 1024
        async with agent:
            result = await agent.run("Read the pages.")
    assert result.status == "finished", result.error
    summaries = [e for e in await agent.store.events(result.run_id) if isinstance(e.event, BudgetDecision)]
    summaries = [e for e in summaries if isinstance(e.event.detail.get("usage"), dict)]
    assert summaries  # the window forced a summary
    spans_of = [s for s in spans.named("chat") if (s.attributes or {}).get("agentkit.phase") == "summary"]
    assert {s.context.span_id for s in spans_of} == {span_id_of(result.run_id, e.seq) for e in summaries}
    for span, stored in zip(sorted(spans_of, key=lambda s: s.end_time or 0), summaries, strict=True):
        assert span.end_time == ns(stored.event.ts) and (span.attributes or {})["gen_ai.usage.input_tokens"] > 0


async def test_a_failing_span_never_breaks_the_run(
    spans: Spans, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("exporter bug")

    monkeypatch.setattr(RunTracer, "_chat", broken)
    with FakeProvider(script()) as fake:
        async with Agent(provider="custom", base_url=fake.base_url, tools=[lookup]) as agent:
            result = await agent.run("What is the answer?")
    assert result.status == "finished" and result.answer == "The answer is 42."
    warnings = [r for r in caplog.records if r.name == "agentkit.telemetry" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "RuntimeError: exporter bug" in warnings[0].getMessage()
    assert not warnings[0].exc_info  # no traceback for the user
    assert [s.name for s in spans.all] == ["execute_tool lookup", "invoke_agent agentkit"]


def pages_read(req: FakeRequest, reads: int) -> Turn:
    """Read pages 1..``reads`` one per turn (the latest page number in the view says where it is)."""
    if req.messages[0]["content"] == SUMMARY_SYSTEM:
        return Turn(content="- read some pages; nothing found")
    if not req.tools:
        return Turn(content="1. Read the pages.\n2. Say so.")
    done = sum(1 for m in req.messages if m["role"] == "tool")
    last = max([int(n) for n in re.findall(r"page (\d+):", req.text())], default=0)
    if last < reads and done < 3 * reads:
        thoughts = " ".join(f"r{last}.{i}" for i in range(200))  # long: the budget elides it later
        return Turn(reasoning=f"next {last + 1}: {thoughts}", tool_calls=[call("read", n=last + 1)])
    return Turn(content="done")


@tool(name="read")
def read_page(n: int) -> str:
    """Read page n."""
    rng = random.Random(n)
    return f"page {n}: " + " ".join(f"t{rng.randrange(10**5)}" for _ in range(300))


async def test_chat_spans_say_what_each_request_sent(spans: Spans) -> None:
    """The request attributes are the body's, call by call: ``max_tokens`` as fitted to each
    prompt, no temperature where none was sent; and the provider's response id."""
    window = 16_384
    with FakeProvider(lambda req: pages_read(req, 14), context_window=window, strict=False) as fake:
        agent = Agent(provider="openai", base_url=fake.base_url, api_key="sk-test-0", tools=[read_page], seed=5)
        agent.context_window, agent.max_tokens = window, 8192
        async with agent:
            result = await agent.run("Read the pages.")
    assert result.status == "finished", result.error
    bodies = {f"chatcmpl-{r.index + 1}": r.body for r in fake.requests}
    chats = spans.named("chat")
    assert len(chats) == len(fake.requests) > 8
    for chat in chats:
        attrs = chat.attributes or {}
        body = bodies[str(attrs["gen_ai.response.id"])]
        assert "temperature" not in body and "gen_ai.request.temperature" not in attrs  # none was sent
        assert attrs["gen_ai.request.max_tokens"] == body["max_tokens"]
        assert attrs["gen_ai.request.seed"] == body["seed"] == 5
        assert attrs["gen_ai.request.model"] == body["model"] and chat.name == f"chat {body['model']}"
        assert attrs["gen_ai.request.stream"] is True
        names = tuple(t["function"]["name"] for t in body.get("tools", []))
        assert tuple(attrs.get("agentkit.request.tools", ())) == names  # type: ignore[arg-type]
    fitted = {(c.attributes or {})["gen_ai.request.max_tokens"] for c in chats}
    assert len(fitted) > 1 and max(fitted) == 8192  # each request's own, not the configured value


async def test_input_messages_are_what_each_call_sent(spans: Spans, monkeypatch: pytest.MonkeyPatch) -> None:
    """With content on, a chat span holds the messages its request sent, in order: the system
    message (in ``gen_ai.input.messages``, where the conventions put instructions that are part
    of a chat-completions history), then the view as the model saw it (tool results hidden and reasoning elided
    by the context budget, the pinned summary), not just what was new since the last call;
    also when the span is made by another process, which builds that view again from the trace
    (here: the run is interrupted, its watermark lost, and resumed under a fresh tracer)."""
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    spans.instrument()
    window, store = 8192, MemoryStore()
    reached = anyio.Event()

    @tool(name="read")
    async def read_slowly(n: int) -> str:
        """Read page n (page 9, the first time: never returns; the run is interrupted meanwhile)."""
        if n == 9 and not reached.is_set():
            reached.set()
            await anyio.sleep_forever()
        return str(read_page.fn(n))

    def make_agent(base_url: str) -> Agent:
        # K2 Thinking: a model whose earlier reasoning the service ignores, so the budget elides it
        agent = Agent(
            provider="moonshot",
            model="kimi-k2-thinking",
            base_url=base_url,
            api_key="k",
            tools=[read_slowly],
            store=store,
        )
        agent.context_window, agent.max_tokens, agent.keep_tool_results = window, 1024, 2
        return agent

    with FakeProvider(lambda req: pages_read(req, 12), context_window=window) as fake:
        async with make_agent(fake.base_url) as agent, anyio.create_task_group() as tg:
            tg.start_soon(agent.run, "Read the pages.")
            await reached.wait()
            tg.cancel_scope.cancel()
        (info,) = await store.list_runs()
        await store.put_cached(NAMESPACE, f"exported:{info.id}", b"0")  # as if never counted
        first, asked = len(spans.all), len(fake.requests)
        spans.instrument()  # another process: its own tracer
        async with make_agent(fake.base_url) as agent:
            result = await agent.resume(info.id)
    assert result.status == "finished", result.error
    by_id = {f"chatcmpl-{r.index + 1}": r for r in fake.requests}
    before = {f"chatcmpl-{r.index + 1}" for r in fake.requests[:asked]}
    again = [s for s in spans.all[first:] if (s.attributes or {}).get("gen_ai.response.id") in before]
    assert len(again) > 8  # the first session's calls, made again from the trace by the second tracer
    checked = Counter[str]()
    for chat in spans.named("chat"):  # turns, the plan, and the context builder's summary calls
        attrs = chat.attributes or {}
        request = by_id[str(attrs["gen_ai.response.id"])]
        assert recorded(attrs) == sent(request.messages), attrs["agentkit.phase"]
        checked[str(attrs["agentkit.phase"])] += 1
    assert checked.total() == len(fake.requests) + len(again)  # each call's span; the first session's twice
    summaries = [r for r in fake.requests if r.messages[0]["content"] == SUMMARY_SYSTEM]
    assert checked["summary"] > len(summaries) >= 2  # a summary rebuilt by the second tracer too
    assert any("Earlier summary:" in str(r.messages) for r in summaries)  # one carrying the previous on
    views = [sent(r.messages) for r in fake.requests]  # the budget did change what was sent
    assert any("result hidden to save context" in m[1] for v in views[:asked] for m in v)
    assert any("reasoning of this earlier turn elided" in m[2] for v in views[:asked] for m in v)
    assert any(m[1].startswith("Summary of the first") for v in views[:asked] for m in v)


def test_request_attributes_are_the_settings_sent_and_only_those() -> None:
    from agentkit.telemetry._attributes import request_attributes

    scrub = Redactor(env={})
    sent_body = {
        "model": "kimi-k2.6",
        "max_completion_tokens": 4096,
        "thinking": {"type": "enabled", "keep": "all"},
        "reasoning_effort": "high",
        "tool_choice": "auto",
        "tools": ["read", "note"],
        "stream": True,
        "n": 1,
        "stop": "END",
        "response_format": {"type": "json_schema", "json_schema": {"name": "a"}},
        "prompt_cache_key": f"run-{CANARY}",
    }
    attrs = request_attributes(sent_body, scrub)
    assert attrs == {
        "gen_ai.request.model": "kimi-k2.6",
        "gen_ai.request.max_tokens": 4096,
        "agentkit.request.max_completion_tokens": 4096,
        "agentkit.request.thinking": '{"type":"enabled","keep":"all"}',
        "agentkit.request.reasoning_effort": "high",
        "agentkit.request.tool_choice": "auto",
        "agentkit.request.tools": ["read", "note"],
        "gen_ai.request.stream": True,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.output.type": "json",
        "agentkit.request.response_format": '{"type":"json_schema","json_schema":{"name":"a"}}',
        "agentkit.request.prompt_cache_key": "run-***",
    }
    assert request_attributes({"temperature": 0.6, "max_tokens": 100, "seed": 3}, scrub) == {
        "gen_ai.request.temperature": 0.6,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.seed": 3,
    }
