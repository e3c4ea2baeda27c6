"""ReplayServer serves recorded bodies byte for byte over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest

from agentkit.testing import Recorded, ReplayServer

SSE = b'data: {"a":1}\n\ndata: {"b":2}\r\n\r\ndata: [DONE]\n\n'


def test_serves_recordings_in_order_and_keeps_request_bodies() -> None:
    first = Recorded(status=429, body=b'{"error":{"message":"slow down"}}', headers={"retry-after": "1"})
    second = Recorded(status=200, body=SSE, content_type="text/event-stream")
    with ReplayServer([first, second]) as server, httpx2.Client() as http:
        url = server.base_url + "/chat/completions"
        r1 = http.post(url, json={"n": 1})
        r2 = http.post(url, json={"n": 2, "stream": True})
        r3 = http.post(url, json={"n": 3})
        models = http.get(server.base_url + "/models")
    assert (r1.status_code, r1.content, r1.headers["retry-after"]) == (429, first.body, "1")
    assert (r2.status_code, r2.content) == (200, SSE)
    assert r2.headers["content-type"] == "text/event-stream"
    assert r3.status_code == 400 and "no recorded response left" in r3.json()["error"]["message"]
    assert models.status_code == 404
    assert server.requests == [{"n": 1}, {"n": 2, "stream": True}, {"n": 3}]


def test_models_listing_is_served_when_given() -> None:
    listing = Recorded(status=200, body=b'{"object":"list","data":[]}')
    with ReplayServer([], models=listing) as server, httpx2.Client() as http:
        assert http.get(server.base_url + "/models").content == listing.body


def test_events_concatenate_to_the_exact_body() -> None:
    rec = Recorded(status=200, body=SSE + b"data: tail-without-newline", content_type="text/event-stream")
    assert b"".join(rec.events()) == rec.body
    assert len(rec.events()) == 4


def test_load_reads_the_sidecar_and_demands_a_source(tmp_path: Path) -> None:
    (tmp_path / "x.sse").write_bytes(SSE)
    meta = {
        "body": "x.sse",
        "status": 200,
        "content_type": "text/event-stream",
        "source": "somewhere",
        "headers": {"h": 1},
    }
    (tmp_path / "x.meta.json").write_text(json.dumps(meta))
    for path in (tmp_path / "x.sse", tmp_path / "x.meta.json", tmp_path / "x"):
        rec = Recorded.load(path)
        assert (rec.status, rec.body, rec.is_stream, rec.headers, rec.source) == (
            200,
            SSE,
            True,
            {"h": "1"},
            "somewhere",
        )
    (tmp_path / "y.json").write_bytes(b"{}")
    (tmp_path / "y.meta.json").write_text(json.dumps({"body": "y.json", "status": 400}))
    with pytest.raises(ValueError, match="source"):
        Recorded.load(tmp_path / "y.json")
