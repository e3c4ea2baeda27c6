"""Structured output (#22.7): ``Agent(output_type=...)`` / a task file's ``output.schema``.

Runs go through the real client over HTTP to the strict fake, which checks ``response_format``
as the Kimi docs describe it (MFJS schemas when strict, objects only, not on K2) and OpenAI's
strict rules for other models; the request bodies it received show where the schema was sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from agentkit import Agent, RetryPolicy, tool
from agentkit.cli import app
from agentkit.ensembles.heavy import AGGREGATE_SCHEMA_SYSTEM, SELECT_SYSTEM
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.run._output import RETRY_KIND, OutputContract, OutputInvalid
from agentkit.store import Aggregated, RunFinished, RunInfo, SQLiteStore, UserMessage
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.testing._mfjs_check import mfjs_problem

pytestmark = pytest.mark.anyio
runner = CliRunner()


class Source(BaseModel):
    id: str
    url: str | None = None


class Capital(BaseModel):
    """The capital of a country, with its evidence."""

    country: str
    capital: str
    population_millions: float = Field(ge=0)
    confidence: Literal["low", "medium", "high"] = "medium"
    sources: list[Source] = []


GOOD = {"country": "France", "capital": "Paris", "population_millions": 2.1, "sources": [{"id": "S1"}]}
BAD = {"country": "France", "capital": "Paris", "population_millions": "about two"}


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term}: the capital is Paris, population 2.1 million [S1]"


def model(fake: FakeProvider, name: str | None = None, provider: str = "moonshot") -> OpenAICompatibleModel:
    return OpenAICompatibleModel(
        name, provider, base_url=fake.base_url, api_key="k", retry=RetryPolicy(initial_backoff=0.001, max_attempts=2)
    )


def agent(fake: FakeProvider, *, name: str | None = None, provider: str = "moonshot", **kw: Any) -> Agent:
    return Agent(llm=model(fake, name, provider), tools=[lookup], plan=False, **kw)


def formats(fake: FakeProvider) -> list[Any]:
    return [r.body.get("response_format") for r in fake.requests]


async def test_a_valid_answer_first_time_needs_no_schema_on_the_wire() -> None:
    script = [Turn(tool_calls=[call("lookup", term="France")]), Turn(content=json.dumps(GOOD))]
    with FakeProvider(script) as fake:
        async with agent(fake, output_type=Capital) as a:
            result = await a.run("What is the capital of France?")
    assert fake.errors == [] and result.status == "finished"
    assert isinstance(result.output, Capital) and result.output == Capital.model_validate(GOOD)
    assert json.loads(result.answer) == GOOD
    # Ordinary turns may call tools: no response_format on them; the model knows the schema
    # from the system prompt instead.
    assert formats(fake) == [None, None]
    assert '"population_millions"' in fake.requests[0].messages[0]["content"]
    assert result.model_dump(mode="json")["output"]["capital"] == "Paris"


async def test_an_invalid_answer_is_asked_for_once_more_with_the_schema_and_fixed() -> None:
    script = [
        Turn(tool_calls=[call("lookup", term="France")]),
        Turn(content=f"Here it is:\n```json\n{json.dumps(BAD)}\n```"),
        Turn(content=json.dumps(GOOD)),
    ]
    notices: list[str] = []

    async def on_event(event: Any) -> None:
        if type(event).__name__ == "Notice":
            notices.append(event.message)

    with FakeProvider(script) as fake:
        async with agent(fake, output_type=Capital, on_event=on_event) as a:
            result = await a.run("What is the capital of France?")
    assert fake.errors == [], fake.errors
    assert result.status == "finished" and result.output == Capital.model_validate(GOOD)
    sent = formats(fake)
    assert sent[:2] == [None, None] and sent[2] is not None  # only on the re-ask
    spec = sent[2]["json_schema"]
    assert sent[2]["type"] == "json_schema" and spec["name"] == "Capital" and spec["strict"] is True
    assert mfjs_problem(spec["schema"]) is None  # pydantic's $defs/$ref/defaults rewritten into MFJS
    assert "$ref" not in json.dumps(spec["schema"]) and "$defs" not in spec["schema"]
    reask = fake.requests[2].body
    assert reask["tool_choice"] == "none" and reask["tools"]  # tools offered (cached prefix), not callable
    assert "population_millions" in reask["messages"][-1]["content"]  # the problem, by path
    events = [e.event for e in await a.store.events(result.run_id)]
    retries = [e for e in events if isinstance(e, UserMessage) and e.kind == RETRY_KIND]
    assert len(retries) == 1 and "population_millions" in (retries[0].reason or "")
    assert any("asking once more" in n for n in notices)


async def test_an_answer_still_invalid_after_the_reask_fails_the_run() -> None:
    script = [Turn(content=json.dumps(BAD)), Turn(content="Paris, roughly two million people.")]
    with FakeProvider(script) as fake:
        async with agent(fake, output_type=Capital) as a:
            result = await a.run("What is the capital of France?")
    assert len(fake.requests) == 2  # exactly one re-ask
    assert result.status == "failed" and result.output is None
    assert "after one re-ask" in (result.stop_reason or "") and "no JSON value" in (result.stop_reason or "")
    assert result.answer == "Paris, roughly two million people."  # the model's text is kept
    row = await a.store.get_run(result.run_id)
    assert row.status == "failed"


async def test_another_host_gets_the_plain_schema_not_strict() -> None:
    """OpenAI's strict mode refuses pydantic's schema (optional fields, open objects): the
    strict fake checks that rule, so the client must send it with strict: false."""
    with FakeProvider([Turn(content="{}"), Turn(content=json.dumps(GOOD))]) as fake:
        async with agent(fake, name="gpt-5", provider="openai", output_type=Capital) as a:
            result = await a.run("Capital of France?")
    assert fake.errors == [] and result.status == "finished" and result.output.capital == "Paris"
    spec = formats(fake)[1]["json_schema"]
    assert spec["strict"] is False and spec["schema"] == Capital.model_json_schema()


async def test_where_the_host_or_model_does_not_take_it_the_reask_goes_without() -> None:
    # Together's docs in the fact sheet say nothing of response_format: not sent (the fake,
    # as a host refusing the field, would answer 400 here); on the Kimi platform, which takes
    # it, K2 Thinking is not documented to (the fake refuses it for that model alone).
    cases = (("together", "kimi-k3", "reasoning", False), ("moonshot", "kimi-k2-thinking", "reasoning_content", True))
    for provider, name, field, host_takes_it in cases:
        script = [Turn(content="no JSON"), Turn(content=json.dumps(GOOD))]
        with FakeProvider(script, response_format=host_takes_it, reasoning_field=field) as fake:
            async with agent(fake, name=name, provider=provider, output_type=Capital) as a:
                result = await a.run("Capital of France?")
        assert fake.errors == [] and formats(fake) == [None, None], (provider, fake.errors)
        assert result.status == "finished" and result.output.capital == "Paris"


async def test_the_final_turn_at_the_step_limit_sends_the_schema() -> None:
    def respond(req: FakeRequest) -> Turn:
        if req.body.get("tool_choice") == "none":
            return Turn(content=json.dumps(GOOD))
        return Turn(tool_calls=[call("lookup", term=f"France {req.index}")])

    with FakeProvider(respond) as fake:
        async with agent(fake, output_type=Capital, max_steps=2) as a:
            result = await a.run("Capital of France?")
    assert fake.errors == []
    assert result.status == "stopped" and "max_steps" in (result.stop_reason or "")
    assert result.output == Capital.model_validate(GOOD)
    assert formats(fake)[:2] == [None, None] and formats(fake)[2]["json_schema"]["name"] == "Capital"


async def test_a_schema_outside_mfjs_goes_with_strict_false() -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{2}$"}},
        "required": ["code"],
    }
    with FakeProvider([Turn(content='{"code": "fr"}'), Turn(content='{"code": "FR"}')]) as fake:
        async with agent(fake, output_schema=schema) as a:
            result = await a.run("The ISO code of France?")
    assert fake.errors == [] and result.output == {"code": "FR"}
    spec = formats(fake)[1]["json_schema"]
    assert spec["strict"] is False and spec["schema"] == schema  # MFJS has no pattern
    assert "'fr' does not match" in fake.requests[1].messages[-1]["content"]


async def test_resume_of_a_finished_run_returns_the_same_output(tmp_path: Path) -> None:
    with FakeProvider([Turn(content=json.dumps(GOOD))]) as fake:
        async with agent(fake, output_type=Capital, store=SQLiteStore(tmp_path / "s.db")) as a:
            first = await a.run("Capital of France?")
        async with agent(fake, output_type=Capital, store=SQLiteStore(tmp_path / "s.db")) as b:
            again = await b.resume(first.run_id)
        assert len(fake.requests) == 1  # nothing asked again
    assert isinstance(again.output, Capital) and again.output == first.output
    assert again.answer == first.answer and again.status == "finished"
    events = [e.event for e in await b.store.events(first.run_id)]
    assert [e.output for e in events if isinstance(e, RunFinished)] == [GOOD]


def reask_responder(req: FakeRequest) -> Turn:
    """A tool call, then an answer that misses the schema, then (asked once more) a valid one:
    decided from the request alone, so a resumed run is answered as the first one was."""
    last = req.messages[-1]
    if last["role"] == "user" and "does not match the required JSON schema" in str(last["content"]):
        return Turn(content=json.dumps(GOOD))
    if not any(m["role"] == "tool" for m in req.messages):
        return Turn(tool_calls=[call("lookup", term="France")])
    return Turn(content=json.dumps(BAD))


async def test_a_run_cut_anywhere_resumes_to_the_same_output_with_at_most_one_reask(tmp_path: Path) -> None:
    """The trace of a run that needed the re-ask, cut after each of its events and resumed: the
    resumed run ends ``finished`` with the same output, stored on its RunFinished, and the model
    is never asked a second time (a re-ask committed before the cut is not repeated, and a
    cut after the valid answer asks nothing)."""
    async with SQLiteStore(tmp_path / "ref.db") as store:
        with FakeProvider(reask_responder) as fake:
            async with agent(fake, output_type=Capital, store=store) as a:
                ref = await a.run("What is the capital of France?")
        assert fake.errors == [] and ref.status == "finished" and len(fake.requests) == 3
        ref_events = [e.event for e in await store.events(ref.run_id)]
        info = await store.get_run(ref.run_id)
    assert [e.kind for e in ref_events if isinstance(e, UserMessage)] == [RETRY_KIND]
    for cut in range(1, len(ref_events)):
        async with SQLiteStore(tmp_path / f"cut{cut}.db") as store:
            await store.create_run(RunInfo(id=ref.run_id, task=info.task, config=info.config))
            await store.append_many(ref.run_id, ref_events[:cut])
            with FakeProvider(reask_responder) as fake:
                async with agent(fake, output_type=Capital, store=store) as b:
                    resumed = await b.resume(ref.run_id)
            events = [e.event for e in await store.events(ref.run_id)]
            row = await store.get_run(ref.run_id)
        assert fake.errors == [], (cut, fake.errors)
        assert resumed.status == row.status == "finished", (cut, resumed.stop_reason)
        assert isinstance(resumed.output, Capital) and resumed.output == ref.output, cut
        assert resumed.answer == ref.answer, cut
        assert [e.output for e in events if isinstance(e, RunFinished)] == [GOOD], cut
        retries = [e for e in events if isinstance(e, UserMessage) and e.kind == RETRY_KIND]
        assert len(retries) == 1, cut  # the model's bad answer is in every cut's history once
        reasks = [r for r in fake.requests if "does not match the required JSON schema" in str(r.messages[-1])]
        assert len(reasks) <= 1, cut


def test_lenient_reading_never_turns_prose_into_data() -> None:
    contract = OutputContract.of(Capital)
    assert contract is not None
    good = json.dumps(GOOD)
    for text in (
        good,
        f"```json\n{good}\n```",
        f"The answer, as asked:\n{good}\nThat is all [S1].",
        good[:-1] + ",}",  # a trailing comma: repaired
        "<|im_end|>" + good,
    ):
        assert contract.check(text).value == Capital.model_validate(GOOD), text
    for text in ("Paris.", "", "[S1] says Paris", '{"country": "France"}'):
        with pytest.raises(OutputInvalid):
            contract.check(text)
    with pytest.raises(ValueError, match="not a valid JSON schema"):
        OutputContract.of(output_schema={"type": "objekt"})


# -- heavy mode ---------------------------------------------------------------------------


def heavy_responder(answers: list[dict[str, Any]], aggregated: list[str]) -> Any:
    def respond(req: FakeRequest) -> Turn:
        system = req.messages[0]["content"]
        if system.startswith(AGGREGATE_SCHEMA_SYSTEM.split("{schema}")[0]):
            return Turn(content=aggregated[sum(m["role"] == "assistant" for m in req.messages)])
        if system == SELECT_SYSTEM:
            return Turn(content="3\nIt cites the atlas.")
        seed = int(req.body.get("seed") or 0)
        return Turn(content=orjson.dumps(answers[seed]).decode())

    return respond


async def test_heavy_mode_with_three_trajectories_aggregates_into_a_valid_object() -> None:
    answers = [GOOD, {**GOOD, "confidence": "high"}, {**GOOD, "capital": "Lyon"}]
    merged = json.dumps({**GOOD, "confidence": "high"})
    with FakeProvider(heavy_responder(answers, [merged])) as fake:
        async with agent(fake, output_type=Capital, heavy=3, aggregate="reflective") as a:
            result = await a.run("Capital of France?")
    assert fake.errors == []
    assert result.status == "finished" and isinstance(result.output, Capital) and result.output.confidence == "high"
    aggregation = [r for r in fake.requests if r.messages[0]["content"].startswith("You combine")]
    assert len(aggregation) == 1 and aggregation[0].body["response_format"]["json_schema"]["strict"] is True
    assert '"population_millions"' in aggregation[0].messages[0]["content"]
    kids = await a.store.list_runs(parent_id=result.run_id)
    assert len(kids) == 3 and all(k.status == "finished" for k in kids)


async def test_heavy_vote_compares_json_values_not_their_spelling() -> None:
    spelled = [GOOD, dict(reversed(list(GOOD.items()))), {**GOOD, "capital": "Lyon"}]
    with FakeProvider(heavy_responder(spelled, [])) as fake:
        async with agent(fake, output_type=Capital, heavy=3, aggregate="vote") as a:
            result = await a.run("Capital of France?")
    agg = next(e.event for e in await a.store.events(result.run_id) if isinstance(e.event, Aggregated))
    assert sorted(agg.votes.values()) == [1, 2]  # the two spellings of GOOD are one vote
    assert result.output == Capital.model_validate(GOOD) and agg.turn is None  # no model call


async def test_heavy_aggregate_invalid_twice_falls_back_to_the_valid_majority() -> None:
    answers = [GOOD, GOOD, {**GOOD, "capital": "Lyon"}]
    with FakeProvider(heavy_responder(answers, ["Paris!", json.dumps(BAD)])) as fake:
        async with agent(fake, output_type=Capital, heavy=3) as a:
            result = await a.run("Capital of France?")
    assert fake.errors == [] and result.status == "finished"
    assert result.output == Capital.model_validate(GOOD)
    aggregation = [r for r in fake.requests if r.messages[0]["content"].startswith("You combine")]
    assert len(aggregation) == 2  # one re-ask
    row = await a.store.get_run(result.run_id)
    assert row.usage.calls == 3 + 2  # the trajectories and both aggregation calls are charged


async def test_heavy_select_takes_a_valid_trajectory() -> None:
    answers = [GOOD, GOOD, {**GOOD, "capital": "Lyon"}]
    with FakeProvider(heavy_responder(answers, [])) as fake:
        async with agent(fake, output_type=Capital, heavy=3, aggregate="select") as a:
            result = await a.run("Capital of France?")
    assert result.output.capital == "Lyon"  # the pick (trajectory 3) wins, not the majority


# -- the task file and the CLI --------------------------------------------------------------

SCHEMA_YAML = """
  schema:
    type: object
    properties:
      capital: {type: string}
      population_millions: {type: number, minimum: 0}
    required: [capital, population_millions]
    additionalProperties: false
"""


PLAN = Turn(content="1. Look it up.\n2. Answer.")


def cli_task(tmp_path: Path, fake: FakeProvider, schema: str = SCHEMA_YAML) -> Path:
    task = tmp_path / "task.yaml"
    task.write_text(
        "task: What is the capital of France?\n"
        f"model: {{provider: moonshot, base_url: '{fake.base_url}'}}\n"
        "tools: [fetch]\n"
        f"output:\n  report: false{schema}"
    )
    return task


def test_cli_run_json_prints_the_output_and_resume_and_show_give_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "k")
    store = str(tmp_path / "s.db")
    answer = '{"capital": "Paris", "population_millions": 2.1}'
    with FakeProvider([PLAN, Turn(content="Paris"), Turn(content=answer)]) as fake:
        result = runner.invoke(app, ["run", str(cli_task(tmp_path, fake)), "--store", store, "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["status"] == "finished" and data["output"] == {"capital": "Paris", "population_millions": 2.1}
        assert [r.body.get("response_format") is not None for r in fake.requests] == [False, False, True]
        assert fake.requests[2].body["response_format"]["json_schema"]["strict"] is True
        resumed = runner.invoke(app, ["resume", data["run_id"], "--store", store, "--json"])
        assert len(fake.requests) == 3
    assert json.loads(resumed.stdout)["output"] == data["output"]
    shown = json.loads(runner.invoke(app, ["show", data["run_id"], "--store", store, "--json"]).stdout)
    assert shown["output"] == data["output"]


def test_cli_a_schema_file_is_read_once_and_kept_with_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``output: {schema: answer.schema.json}`` is read relative to the task file; the run keeps
    the schema itself, so resuming needs the file no more."""
    monkeypatch.setenv("MOONSHOT_API_KEY", "k")
    store = str(tmp_path / "s.db")
    schema = {
        "type": "object",
        "properties": {"capital": {"type": "string"}, "population_millions": {"type": "number", "minimum": 0}},
        "required": ["capital", "population_millions"],
        "additionalProperties": False,
    }
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "answer.schema.json").write_text(json.dumps(schema))
    answer = '{"capital": "Paris", "population_millions": 2.1}'
    with FakeProvider([PLAN, Turn(content="Paris, 2.1 million"), Turn(content=answer)]) as fake:
        task = cli_task(tmp_path, fake, "\n  schema: schemas/answer.schema.json\n")
        monkeypatch.chdir(tmp_path.parent)  # relative to the task file, not to the working folder
        first = runner.invoke(app, ["run", str(task), "--store", store, "--json"])
        assert first.exit_code == 0, first.output
        assert fake.requests[2].body["response_format"]["json_schema"]["schema"] == schema
        (tmp_path / "schemas" / "answer.schema.json").unlink()
        data = json.loads(first.stdout)
        resumed = runner.invoke(app, ["resume", data["run_id"], "--store", store, "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["output"] == data["output"] == {"capital": "Paris", "population_millions": 2.1}
    info = json.loads(runner.invoke(app, ["show", data["run_id"], "--store", store, "--json"]).stdout)
    assert info["config"]["task_spec"]["output"]["schema"] == schema


def test_cli_an_answer_that_never_matches_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "k")
    with FakeProvider([PLAN, Turn(content="Paris"), Turn(content='{"capital": "Paris"}')]) as fake:
        task = cli_task(tmp_path, fake)
        result = runner.invoke(app, ["run", str(task), "--store", str(tmp_path / "s.db"), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "failed" and data["output"] is None
    assert "population_millions" in data["stop_reason"]


def test_cli_a_bad_output_schema_exits_2_naming_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "k")
    bad = "\n  schema:\n    type: object\n    properties:\n      capital: {type: strin}\n"
    with FakeProvider([]) as fake:
        result = runner.invoke(app, ["run", str(cli_task(tmp_path, fake, bad)), "--store", str(tmp_path / "s.db")])
        assert fake.requests == []
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "output.schema.properties.capital.type: not a valid JSON schema" in " ".join(result.output.split())


async def test_a_delegated_sub_agent_answers_in_prose(tmp_path: Path) -> None:
    """The lead's output type is not its sub-agents': their answers go back to the lead."""

    def respond(req: FakeRequest) -> Turn:
        system = req.messages[0]["content"]
        if "population_millions" not in system:  # a sub-agent
            return Turn(content="Paris has about 2.1 million people.")
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(tool_calls=[call("delegate", question="Find the population of Paris.")])
        return Turn(content=json.dumps(GOOD))

    with FakeProvider(respond) as fake:
        llm = model(fake)
        async with Agent(llm=llm, tools=[lookup], plan=False, delegate=True, output_type=Capital) as a:
            result = await a.run("Capital of France?")
    assert fake.errors == [] and result.status == "finished" and result.output.capital == "Paris"
    kids = await a.store.list_runs(parent_id=result.run_id)
    assert [k.answer for k in kids] == ["Paris has about 2.1 million people."]
