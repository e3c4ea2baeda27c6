"""Capability ``blobs``: content-addressed bytes."""

from __future__ import annotations

from agentkit.store.base import blob_key
from agentkit.testing.conformance._harness import Backend, spec
from agentkit.testing.conformance.capabilities import Capability


@spec(Capability.BLOBS)
async def blobs_are_content_addressed(backend: Backend) -> None:
    store = await backend.open()
    data = bytes(range(256)) * 40_000  # ~10 MB, not UTF-8
    key = await store.put_blob(data)
    assert key == blob_key(data)
    assert await store.put_blob(data) == key
    assert await store.get_blob(key) == data
    assert await store.put_blob(b"") == blob_key(b"")
    assert await store.get_blob(blob_key(b"")) == b""
    assert await store.get_blob("0" * 64) is None
    small = "ü漢🙂".encode()
    assert await store.get_blob(await store.put_blob(small)) == small
