"""Vertex AI: the endpoint from the environment, and Google access tokens from Application
Default Credentials, for real: a service-account key file whose ``token_uri`` is a loopback
token server, ``GOOGLE_APPLICATION_CREDENTIALS`` pointing at it, google-auth signing and
exchanging the JWT, and a loopback chat endpoint that records what each request carried.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agentkit.llm._vertex import vertex_base_url
from agentkit.llm.client import ConfigurationError, OpenAICompatibleModel, RetryPolicy
from agentkit.llm.errors import AuthenticationFailed
from agentkit.llm.types import ModelRequest
from agentkit.testing._http import LoopbackServer

pytestmark = pytest.mark.anyio
Q = [{"role": "user", "content": "question"}]
OPENAPI = "/v1/projects/my-project/locations/global/endpoints/openapi"
ANSWER = (
    b'data: {"model":"moonshotai/kimi-k2-thinking-maas","choices":[{"index":0,'
    b'"delta":{"role":"assistant","reasoning_content":"hm","content":"ok"},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


@dataclass
class Google:
    """The loopback token endpoint and Vertex endpoint, and what they saw."""

    expires_in: int = 3600
    token_status: int = 200
    grants: list[dict[str, list[str]]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(google: Google) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with google.lock:
                if self.path == "/token":
                    google.grants.append(parse_qs(raw.decode()))
                    n = len(google.grants)
                    if google.token_status != 200:
                        self._reply(google.token_status, b'{"error":"invalid_grant","error_description":"revoked"}')
                        return
                    token = {"access_token": f"ya29.token-{n}", "expires_in": google.expires_in, "token_type": "Bearer"}
                    self._reply(200, orjson.dumps(token))
                    return
                google.paths.append(self.path)
                google.authorizations.append(self.headers.get("Authorization", ""))
                google.bodies.append(json.loads(raw))
            self._reply(200, ANSWER, "text/event-stream")

    return Handler


@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Google, str]]:
    state = Google()
    server = LoopbackServer(_handler(state), name="fake-google")
    server.start()
    root = f"http://127.0.0.1:{server.port}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    credentials = {
        "type": "service_account",
        "project_id": "my-project",
        "private_key_id": "key-1",
        "private_key": pem.decode(),
        "client_email": "agent@my-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{root}/token",
    }
    path = tmp_path / "adc.json"
    path.write_text(json.dumps(credentials))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield state, f"{root}{OPENAPI}"
    finally:
        server.stop()


async def test_requests_carry_an_adc_token_that_is_reused_while_fresh(google: tuple[Google, str]) -> None:
    state, url = google
    llm = OpenAICompatibleModel("kimi-k2-thinking", "vertex", base_url=url)
    first = await llm.complete(ModelRequest(messages=Q))
    await llm.complete(ModelRequest(messages=Q))
    await llm.aclose()
    assert state.authorizations == ["Bearer ya29.token-1", "Bearer ya29.token-1"]
    assert len(state.grants) == 1
    assert state.grants[0]["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert state.paths == [f"{OPENAPI}/chat/completions"] * 2
    assert state.bodies[0]["model"] == "moonshotai/kimi-k2-thinking-maas"
    assert (first.content, first.reasoning, first.model) == ("ok", "hm", "moonshotai/kimi-k2-thinking-maas")
    assert "ya29" not in repr(vars(llm))


async def test_a_token_near_its_expiry_is_refreshed_before_the_request(google: tuple[Google, str]) -> None:
    state, url = google
    state.expires_in = 120  # inside google-auth's 3 min 45 s refresh margin: stale at once
    llm = OpenAICompatibleModel("kimi-k2-thinking", "vertex", base_url=url)
    await llm.complete(ModelRequest(messages=Q))
    await llm.complete(ModelRequest(messages=Q))
    await llm.aclose()
    assert state.authorizations == ["Bearer ya29.token-1", "Bearer ya29.token-2"]
    assert len(state.grants) == 2


async def test_the_probe_sends_the_token_too(google: tuple[Google, str]) -> None:
    state, url = google
    llm = OpenAICompatibleModel("kimi-k2-thinking", "vertex", base_url=url)
    assert await llm.probe_context_window() is None  # this endpoint has no /models
    await llm.aclose()
    assert len(state.grants) == 1


async def test_a_refused_refresh_is_an_authentication_error(google: tuple[Google, str]) -> None:
    state, url = google
    state.token_status = 400
    llm = OpenAICompatibleModel("kimi-k2-thinking", "vertex", base_url=url, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(AuthenticationFailed, match="Application Default Credentials") as info:
        await llm.complete(ModelRequest(messages=Q))
    await llm.aclose()
    assert "revoked" in str(info.value) and state.authorizations == []


def test_the_endpoint_comes_from_the_project_and_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT"):
        OpenAICompatibleModel(provider="vertex")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p1")
    llm = OpenAICompatibleModel(provider="vertex")
    assert llm.base_url == "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/endpoints/openapi"
    assert llm.model_name == "moonshotai/kimi-k2-thinking-maas"
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    assert vertex_base_url() == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/p1/locations/us-central1/endpoints/openapi"
    )
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps({"type": "service_account", "project_id": "from-file"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    assert "/projects/from-file/locations/us-central1/" in vertex_base_url()
