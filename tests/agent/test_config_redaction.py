"""Credentials given to an Agent reach the provider and the tools but never the stored trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import Agent
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.run._from_task import task_of_run
from agentkit.store import SQLiteStore
from agentkit.store.events import RunStarted
from agentkit.testing import FakeProvider, Turn

pytestmark = pytest.mark.anyio


async def test_secret_settings_stay_out_of_the_trace(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with FakeProvider([Turn(content="42")], api_key="sk-passed-directly") as fake:  # checks the header
        llm = OpenAICompatibleModel("kimi-k2-thinking", "custom", base_url=fake.base_url, api_key="sk-passed-directly")
        settings = {
            "search": {"backend": "searxng", "url": "http://searx.local/?token=tok-in-setting"},
            "webhook_token": "tok-loose-setting",
            "api_key_env": "MY_KEY_VAR",
        }
        async with SQLiteStore(db) as store:
            agent = Agent(llm=llm, store=store, plan=False, settings=settings)
            result = await agent.run("What is six times seven?")
            await agent.aclose()
            started = next(e.event for e in await store.events(result.run_id) if isinstance(e.event, RunStarted))
        assert result.status == "finished", result.error
        assert result.answer == "42"  # the real call went through with the key
    config = started.config
    assert config["settings"]["search"]["url"] == "http://searx.local/?token=***"
    assert config["settings"]["webhook_token"] == "***"
    assert config["settings"]["api_key_env"] == "MY_KEY_VAR"  # a variable's name is not a secret
    assert agent.settings["webhook_token"] == "tok-loose-setting"  # the tools still get the real value
    raw = b"".join(p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file())  # noqa: ASYNC240
    for secret in (b"sk-passed-directly", b"tok-in-setting", b"tok-loose-setting"):
        assert secret not in raw


def test_url_credentials_are_masked_in_the_stored_config() -> None:
    llm = OpenAICompatibleModel("m", "custom", base_url="https://bob:hunter2@gpu-box.example/v1", api_key="k")
    config = Agent(llm=llm).describe()
    assert config["base_url"] == "https://***@gpu-box.example/v1"
    assert "hunter2" not in str(config)


async def test_cli_resume_refuses_a_run_whose_url_credentials_were_masked(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "runs.db") as store:
        from agentkit.testing.conformance import make_run

        await store.create_run(make_run("r1"))
        spec = {"task": "x", "model": {"provider": "vllm", "base_url": "http://***@gpu-box:8000/v1"}}
        await store.append("r1", RunStarted(task="x", config={"task_spec": spec}))
        with pytest.raises(ValueError, match=r"run r1: model\.base_url held credentials.*Agent\.resume"):
            await task_of_run(store, "r1")
