"""Preserved Thinking counted as the service counts it, and the cost target
(``context.max_prompt_tokens``) against the strict fake provider (issue #22.3, #22.4)."""

from __future__ import annotations

import gc
import random
import re
from pathlib import Path

import orjson
import pytest
import yaml

from agentkit import Agent, RetryPolicy, tool
from agentkit.context.builder import ContextBuilder, current_cut
from agentkit.context.policy import ViewCut
from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.profiles import Prices
from agentkit.run._collector import EVERY
from agentkit.run._from_task import model_from_task
from agentkit.store.fold import RunState
from agentkit.task import load_task
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.testing._turns import as_read

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_backoff=0.001)
FIELD = "reasoning_content"


def page(n: int) -> str:
    rng = random.Random(n)
    return f"page {n}: " + " ".join(f"t{rng.randrange(10**5)}" for _ in range(700))


@tool
def read(n: int) -> str:
    """Read page n."""
    return page(n)


def reader(total: int, *, empty_at: frozenset[int] = frozenset()) -> object:
    """Reads pages in order; a summary names the last page; an empty reply at ``empty_at``
    (agentkit then asks again: a user message in the middle of the run)."""
    emptied: set[int] = set()

    def respond(req: FakeRequest) -> Turn:
        done = max((int(n) for n in re.findall(r"page (\d+):", req.text())), default=0)
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(content=f"- page {done}: the last page read")
        if done in empty_at and done not in emptied:
            emptied.add(done)
            return Turn(reasoning="Hmm.", content="")
        if done < total:
            return Turn(reasoning=f"Page {done} read; next {done + 1}. " * 30, tool_calls=[call("read", n=done + 1)])
        return Turn(reasoning="All read.", content=f"read {done} pages")

    return respond


def model(fake: FakeProvider, name: str, **options: object) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(name, "moonshot", base_url=fake.base_url, api_key="k", retry=FAST, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["kimi-k3", "kimi-k2.6"])
async def test_a_users_max_prompt_tokens_is_never_exceeded(name: str) -> None:
    with FakeProvider(reader(90), keep_requests=True) as fake:
        agent = Agent(llm=model(fake, name), tools=[read], plan=False, max_steps=120, max_prompt_tokens=12_000)
        result = await agent.run("Read pages 1..90.")
        await agent.aclose()
    assert fake.errors == [] and result.status == "finished" and result.answer == "read 90 pages"  # no restart
    summaries = [r for r in fake.requests if r.messages[0]["content"] == SUMMARY_SYSTEM]
    assert summaries  # the target was reached by condensing turns
    assert len(fake.prompt_tokens) == len(fake.requests) > 90
    assert max(fake.prompt_tokens) <= 12_000  # every request, summaries included, as the service counted it
    # The summary says where the condensed material stays.
    pinned = next(str(m["content"]) for m in fake.requests[-1].messages if "Summary of the first" in str(m["content"]))
    assert "source id" in pinned and "step" in pinned


async def test_the_default_cost_target_is_for_models_priced_like_k3() -> None:
    k3 = Agent(llm=OpenAICompatibleModel("kimi-k3", "moonshot", api_key="k"), plan=False)
    assert k3.max_prompt_tokens == 66_666  # $0.20 of prompt at K3's $3 per million
    cheap = Agent(llm=OpenAICompatibleModel("kimi-k2-thinking", "moonshot", api_key="k"), plan=False)
    assert cheap.max_prompt_tokens is not None and cheap.max_prompt_tokens > cheap.context_window  # the window binds
    local = Agent(llm=OpenAICompatibleModel("qwen", "vllm", base_url="http://127.0.0.1:9/v1"), plan=False)
    assert local.max_prompt_tokens is None  # unpriced: the window is the only bound
    dear = OpenAICompatibleModel("m", "custom", base_url="http://127.0.0.1:9/v1", prices=Prices(input_miss=100.0))
    assert Agent(llm=dear, plan=False).max_prompt_tokens == 32_768  # never squeezed below a step's needs
    assert Agent(llm=k3.llm, plan=False, max_prompt_tokens=200_000).max_prompt_tokens == 200_000
    with pytest.raises(ValueError):
        Agent(llm=k3.llm, plan=False, max_prompt_tokens=0)


async def _state_of(name: str, **options: object) -> tuple[RunState, list[FakeRequest]]:
    """A finished run with an ask-again notice in its middle, folded again from its trace."""
    with FakeProvider(reader(24, empty_at=frozenset({12})), keep_requests=True) as fake:
        agent = Agent(llm=model(fake, name, **options), tools=[read], plan=False, max_steps=60)
        result = await agent.run("Read pages 1..24.")
        await agent.aclose()
    assert fake.errors == [] and result.answer == "read 24 pages"
    state = RunState(run_id=result.run_id)
    for e in await agent.store.events(result.run_id):
        state.apply(e.event)
    return state, fake.requests


@pytest.mark.parametrize(
    ("name", "options", "retention"),
    [
        ("kimi-k3", {}, "all"),
        ("kimi-k2.6", {"thinking": True, "preserve_thinking": True}, "all"),
        ("kimi-k2.6", {"thinking": True}, "current_turn"),
    ],
)
async def test_the_budget_counts_exactly_what_the_service_reads(
    name: str, options: dict[str, object], retention: str
) -> None:
    state, requests = await _state_of(name, **options)
    assert any(r.notices for r in state.records)  # a user message after the first turns: a new turn
    builder = ContextBuilder(system_prompt="s", reasoning_field=FIELD, retention=retention, tools_bytes=0)  # type: ignore[arg-type]
    n = len(state.records)
    cuts = [ViewCut()] + [
        ViewCut(hide_before=h, elide_before=e, drop_before=d, summary="- earlier pages" if d else None)
        for h, e, d in [(5, 0, 0), (10, 8, 0), (n, n - 2, 0), (14, 14, 3), (20, 18, 13), (n, n, n - 1)]
    ]
    preserved = retention == "all"
    for cut in cuts:
        view = builder.render(state, cut)
        read_bytes = sum(len(orjson.dumps(m)) for m in as_read(view.messages, FIELD, preserved))
        assert view.n_bytes == read_bytes, cut  # nothing the service ignores, nothing it reads left out
        if preserved:  # reasoning kept as context goes back as it was, never elided
            assert not any("elided" in str(m.get(FIELD, "")) for m in view.messages)
    # What was sent is what the builder renders from the trace (the view is append-only between prunes).
    assert builder.render(state, current_cut(state)).messages[1:-1] == requests[-1].messages[1:]  # but the answer


async def test_without_preserved_thinking_earlier_reasoning_is_not_counted() -> None:
    kept, _ = await _state_of("kimi-k2.6", thinking=True, preserve_thinking=True)
    builder = ContextBuilder(system_prompt="s", reasoning_field=FIELD, retention="all")
    ignored = ContextBuilder(system_prompt="s", reasoning_field=FIELD, retention="current_turn")
    full, counted = builder.render(kept, ViewCut()), ignored.render(kept, ViewCut())
    # The messages sent are alike in both (the request stays append-only); the count is not:
    # without keep the service ignores the reasoning of the dozen turns before the notice.
    assert counted.n_bytes < full.n_bytes - 12 * len("Page 1 read; next 2. " * 30)


async def test_a_run_freezes_what_its_steps_kept_and_unfreezes_at_the_end() -> None:
    frozen: list[int] = []

    @tool
    def look(n: int) -> str:
        """Look."""
        frozen.append(gc.get_freeze_count())
        return page(n)

    def respond(req: FakeRequest) -> Turn:
        done = sum(1 for m in req.messages if m["role"] == "tool")
        if done < 2 * EVERY + 1:
            return Turn(reasoning="go", tool_calls=[call("look", n=done + 1)])
        return Turn(reasoning="done", content="looked")

    assert gc.get_freeze_count() == 0
    with FakeProvider(respond) as fake:
        agent = Agent(llm=model(fake, "kimi-k3"), tools=[look], plan=False)
        result = await agent.run("Look a few times.")
        await agent.aclose()
    assert result.answer == "looked"
    assert frozen[0] > 0  # the heap there was when the run started, from its first step
    assert frozen[EVERY] > frozen[EVERY - 1] and frozen[2 * EVERY] > frozen[2 * EVERY - 1]  # then what steps kept
    assert gc.get_freeze_count() == 0  # nothing is held out of the collector's sight after the run


@pytest.mark.parametrize(
    ("task_model", "keep"),
    [
        ({"name": "kimi-k2.6"}, "all"),  # agent runs keep K2.6's reasoning across turns by default
        ({"name": "kimi-k2.6", "preserve_thinking": False}, None),
        ({"name": "kimi-k2.6", "thinking": False}, None),
        ({"name": "kimi-k3"}, None),  # always on: no thinking field at all
    ],
)
async def test_preserved_thinking_is_the_default_for_k26_agent_runs(
    tmp_path: Path, task_model: dict[str, object], keep: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "k")
    with FakeProvider(reader(2), keep_requests=True) as fake:
        path = tmp_path / "task.yaml"
        spec = {"task": "Read pages 1..2.", "model": {**task_model, "base_url": fake.base_url}, "tools": []}
        path.write_text(yaml.safe_dump(spec))
        llm = model_from_task(load_task(path, env={"MOONSHOT_API_KEY": "k"}))
        agent = Agent(llm=llm, tools=[read], plan=False)
        result = await agent.run("Read pages 1..2.")
        await agent.aclose()
        direct = Agent(model=str(task_model["name"]), base_url=fake.base_url, api_key="k")
        await direct.aclose()
    assert fake.errors == [] and result.answer == "read 2 pages"
    assert all((r.body.get("thinking") or {}).get("keep") == keep for r in fake.requests)
    if len(task_model) == 1:  # the Python API chooses alike
        assert direct.llm.rules.preserve_thinking == (True if keep else None)
