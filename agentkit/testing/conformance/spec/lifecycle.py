"""Capability ``lifecycle``: opening and closing."""

from __future__ import annotations

from agentkit.testing.conformance._harness import Backend, open_from, spec
from agentkit.testing.conformance.capabilities import Capability
from agentkit.testing.conformance.data import make_run


@spec(Capability.LIFECYCLE)
async def usable_as_async_context_manager(backend: Backend) -> None:
    async with await open_from(backend.factory) as store:
        await store.create_run(make_run("ctx"))
        assert (await store.get_run("ctx")).id == "ctx"
    await store.aclose()  # closing twice is harmless
