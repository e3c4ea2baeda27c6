"""How the client under test posts: over aiohttp (its default) or through the openai SDK with
an ``httpx2`` client the caller gave it. Failure handling must not depend on which."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

WIRES = ("aiohttp", "httpx2 via the SDK")


def wire_kwargs(wire: str) -> dict[str, Any]:
    """Keyword arguments for a new ``OpenAICompatibleModel`` that choose the wire."""
    return {} if wire == "aiohttp" else {"http_client": httpx2.AsyncClient()}


@pytest.fixture(params=WIRES)
def wire(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def via(wire: str) -> dict[str, Any]:
    """For one client: its keyword arguments that choose the wire."""
    return wire_kwargs(wire)
