"""Capability ``lease_visibility`` (optional): ``is_leased`` tells whether a run is driven."""

from __future__ import annotations

from agentkit.testing.conformance._harness import Backend, NotApplicable, spec
from agentkit.testing.conformance.capabilities import Capability


@spec(Capability.LEASE_VISIBILITY)
async def lease_holder_is_visible_without_taking_the_lease(backend: Backend) -> None:
    store = await backend.open()
    if await store.is_leased("r") is None:
        raise NotApplicable("the backend cannot tell whether a run is driven")
    assert await store.is_leased("r") is False
    async with store.lease("r"):
        assert await store.is_leased("r") is True
        assert await store.is_leased("r") is True  # asking does not take or break it
        assert await store.is_leased("other") is False
    assert await store.is_leased("r") is False
