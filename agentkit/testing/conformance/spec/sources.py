"""Capability ``sources``: the per-run source registry."""

from __future__ import annotations

from agentkit.store.base import RunNotFound
from agentkit.store.events import Source
from agentkit.testing.conformance._harness import Backend, raises, spec
from agentkit.testing.conformance.capabilities import Capability
from agentkit.testing.conformance.data import make_run

sources = spec(Capability.SOURCES)


@sources
async def sources_add_replace_list_get(backend: Backend) -> None:
    store = await backend.open()
    await store.create_run(make_run("src"))
    await store.create_run(make_run("other"))
    s1 = Source(
        id="S1",
        url="https://a.example/1",
        title="A",
        retrieved_at=1.5,
        content_hash="ab" * 32,
        kind="page",
        meta={"lang": "en", "pages": [1, 2]},
    )
    s2 = Source(id="S2", url="https://b.example/ü", title="B — ü", retrieved_at=2.5, kind="pdf")
    await store.add_source("src", s1)
    await store.add_source("src", s2)
    assert await store.list_sources("src") == [s1, s2]
    s1b = s1.model_copy(update={"title": "A (updated)", "content_hash": None})
    await store.add_source("src", s1b)
    listed = await store.list_sources("src")
    assert sorted(listed, key=lambda s: s.id) == [s1b, s2]
    assert await store.get_source("src", "S1") == s1b
    assert await store.get_source("src", "S3") is None
    assert await store.get_source("other", "S1") is None
    assert await store.list_sources("other") == []


@sources
async def add_source_to_unknown_run_raises(backend: Backend) -> None:
    store = await backend.open()
    with raises(RunNotFound):
        await store.add_source("ghost", Source(id="S1", url="https://x.example"))
