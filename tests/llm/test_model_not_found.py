"""A model id the host does not serve (withdrawn, misspelt, or not open to the key) fails at once
in one line naming the model and, where the host lists its models (``GET /models``), the nearest
ids it does serve: never a retry. The hosts' answers are recorded real bodies
(tests/fixtures/recorded/, sources in the README there), replayed through the real client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.llm.errors import ModelNotFound, RetryNotice, observing_retries
from agentkit.llm.types import ModelRequest
from agentkit.testing import Recorded, ReplayServer

pytestmark = pytest.mark.anyio
RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded"
Q = [{"role": "user", "content": "question"}]

# (recording, the id it refused)
REFUSALS = [
    ("moonshot/model_not_found_404.json", "kimi-k2.5"),
    ("moonshot/model_not_found_thinking_preview_404.json", "kimi-thinking-preview"),
    ("openrouter/invalid_model_id_400.json", "minimax-m2.5:free"),
    ("openrouter/no_endpoints_404.json", "stepfun/step-3.5-flash:free"),
    ("together/model_not_found_404.json", "togethercomputer/evo-1-131k-base"),
]


def listing(*ids: str) -> Recorded:
    """A ``GET /models`` answer in the OpenAI list shape every one of these hosts uses."""
    data = [{"id": i, "object": "model", "created": 1760000000, "owned_by": "moonshot"} for i in ids]
    return Recorded(200, orjson.dumps({"object": "list", "data": data}))


KIMI_HOST = listing("kimi-k3", "kimi-k3.1-pro", "kimi-k2.6", "kimi-k2.7-code", "moonshot-v1-8k")


def upstream_message(recording: Recorded) -> str:
    return str(json.loads(recording.body)["error"]["message"])


@dataclass
class Refusal:
    served: int
    """Chat requests the host answered."""
    url: str
    retries: list[RetryNotice]


async def refuse(
    recording: Recorded, model: str, *, models: Recorded | None = None, stream: bool = True
) -> tuple[ModelNotFound, Refusal]:
    seen: list[RetryNotice] = []
    with ReplayServer([recording] * 8, models=models) as server:  # a retry would get the same answer
        url = server.base_url
        llm = OpenAICompatibleModel(model, "custom", base_url=url, api_key="test", stream=stream)
        try:
            with observing_retries(seen.append), pytest.raises(ModelNotFound) as info:
                await llm.complete(ModelRequest(messages=Q))
        finally:
            await llm.aclose()
    return info.value, Refusal(server.served, url, seen)


@pytest.mark.parametrize(("name", "model"), REFUSALS)
async def test_a_model_the_host_does_not_serve_fails_at_once_in_one_line_naming_it(name: str, model: str) -> None:
    recording = Recorded.load(RECORDED / name)
    err, server = await refuse(recording, model)
    assert server.served == 1 and err.attempts == 1 and server.retries == []  # the default policy would allow 8
    line = str(err)
    assert "\n" not in line
    assert line.startswith(f"the model {model!r} is not served at {server.url} (HTTP {recording.status}: ")
    assert upstream_message(recording) in line
    assert (err.model, err.status, err.served) == (model, recording.status, [])  # no listing to name ids from


@pytest.mark.parametrize("stream", [True, False])
async def test_the_nearest_ids_the_host_serves_are_named(stream: bool) -> None:
    recording = Recorded.load(RECORDED / "moonshot/model_not_found_404.json")
    err, server = await refuse(recording, "kimi-k2.5", models=KIMI_HOST, stream=stream)
    assert server.served == 1 and server.retries == []
    assert err.served[0] == "kimi-k2.6" and "moonshot-v1-8k" not in err.served
    assert str(err).endswith(f"; nearest ids it serves: {', '.join(err.served)}")


async def test_an_openrouter_style_id_is_matched_without_its_suffix_or_vendor() -> None:
    recording = Recorded.load(RECORDED / "openrouter/invalid_model_id_400.json")
    models = listing("minimax/minimax-m2.5", "minimax/minimax-m2", "qwen/qwen3-235b-a22b", "openai/gpt-5")
    err, _ = await refuse(recording, "minimax-m2.5:free", models=models)
    assert err.served[:2] == ["minimax/minimax-m2.5", "minimax/minimax-m2"] and "openai/gpt-5" not in err.served


async def test_an_id_the_host_lists_but_refuses_says_the_key_may_lack_access() -> None:
    """Moonshot's text is "Not found the model X or Permission denied": when its listing has X,
    the key is the likelier cause, and the line says so instead of suggesting other ids."""
    recording = Recorded.load(RECORDED / "moonshot/model_not_found_404.json")
    err, _ = await refuse(recording, "kimi-k2.5", models=listing("kimi-k2.5", "kimi-k2.6"))
    assert str(err).endswith("; the host lists 'kimi-k2.5' among its models, so the API key may not have access to it")


async def test_a_listing_with_nothing_near_says_where_to_look() -> None:
    recording = Recorded.load(RECORDED / "moonshot/model_not_found_404.json")
    err, server = await refuse(recording, "kimi-k2.5", models=listing("gpt-5", "o3"))
    assert err.served == [] and str(err).endswith(f"; it serves 2 other model(s): see GET {server.url}/models")


def test_the_cli_run_fails_with_the_one_line_and_exit_1_as_for_a_rejected_key(tmp_path: Path) -> None:
    """Like a rejected API key, an unknown model is the user's configuration: the run fails
    (exit 1, the store says ``failed``) with the line as its reason, no traceback, no retry."""
    recording = Recorded.load(RECORDED / "moonshot/model_not_found_404.json")
    with ReplayServer([recording] * 8, models=KIMI_HOST) as server:
        url = server.base_url
        task = tmp_path / "t.yaml"
        task.write_text(f"task: What is 2+2?\nmodel: {{provider: custom, name: kimi-k2.5, base_url: '{url}'}}\n")
        db = str(tmp_path / "s.db")
        result = CliRunner().invoke(app, ["run", str(task), "--store", db])
        served = server.served
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("failed run ") and lines[-1].endswith(
        f": the model 'kimi-k2.5' is not served at {url} (HTTP 404: Not found the model kimi-k2.5 or "
        "Permission denied); nearest ids it serves: kimi-k2.6, kimi-k3, kimi-k2.7-code"
    ), result.output
    assert served == 1 and "Traceback" not in result.output
    assert not any("retry" in line for line in lines)
    listed = CliRunner().invoke(app, ["runs", "--store", db, "--json"])
    assert [r["status"] for r in json.loads(listed.output)] == ["failed"]
