"""Capability ``cache``: values kept by namespace and key (a web search's results by its
normalised query, say); the last write wins."""

from __future__ import annotations

from typing import cast

import anyio

from agentkit.testing.conformance._harness import Backend, spec
from agentkit.testing.conformance.capabilities import Capability

cache = spec(Capability.CACHE)


@cache
async def cached_values_by_namespace_and_key_last_write_wins(backend: Backend) -> None:
    store = await backend.open()
    assert await store.get_cached("search", "q") is None
    await store.put_cached("search", "q", b"first")
    assert await store.get_cached("search", "q") == b"first"
    await store.put_cached("search", "q", b"second")
    assert await store.get_cached("search", "q") == b"second"
    assert await store.get_cached("other", "q") is None  # namespaces are independent
    assert await store.get_cached("search", "Q") is None  # keys match exactly
    await store.put_cached("other", "q", b"")
    assert await store.get_cached("other", "q") == b""  # an empty value is a value, not a miss
    assert await store.get_cached("search", "q") == b"second"


@cache
async def any_bytes_under_any_text_key(backend: Backend) -> None:
    store = await backend.open()
    values = {
        "weather in Zürich 漢字 🙂": bytes(range(256)) * 4,
        "nul\x00inside": b"\x00\x00",
        "line\nbreak 'quoted' \"double\" %s ?": b"q",
        "k" * 10_000: b"long key",
        "": b"empty key",
        "big": bytes(range(256)) * 8_000,  # 2 MB
    }
    for key, value in values.items():
        await store.put_cached("ns", key, value)
    for key, value in values.items():
        got = await store.get_cached("ns", key)
        assert got == value and type(got) is bytes, key[:40]
    # a separator inside the namespace or the key cannot make two entries one
    await store.put_cached("a", "b\x00c", b"1")
    await store.put_cached("a\x00b", "c", b"2")
    await store.put_cached("a:b", "c", b"3")
    await store.put_cached("a", "b:c", b"4")
    found = [
        await store.get_cached(ns, key) for ns, key in [("a", "b\x00c"), ("a\x00b", "c"), ("a:b", "c"), ("a", "b:c")]
    ]
    assert found == [b"1", b"2", b"3", b"4"]


@cache
async def cached_value_is_a_copy_and_bad_unicode_keys_work(backend: Backend) -> None:
    store = await backend.open()
    value = bytearray(b"original")
    await store.put_cached("ns", "k", cast(bytes, value))  # bytes-like, as a caller may pass
    value[:] = b"changed!"
    assert await store.get_cached("ns", "k") == b"original"
    await store.put_cached("ns", "lone \ud800", b"v")  # stored as "lone \ufffd"
    assert await store.get_cached("ns", "lone \ud800") == b"v"
    assert await store.get_cached("ns", "lone \ufffd") == b"v"


@cache
async def concurrent_puts_all_land(backend: Backend) -> None:
    store = await backend.open()

    async def put(i: int) -> None:
        await store.put_cached("c", f"k{i}", f"v{i}".encode())
        await store.put_cached("c", "shared", f"v{i}".encode())

    async with anyio.create_task_group() as tg:
        for i in range(backend.concurrency):
            tg.start_soon(put, i)
    for i in range(backend.concurrency):
        assert await store.get_cached("c", f"k{i}") == f"v{i}".encode()
    assert await store.get_cached("c", "shared") in {f"v{i}".encode() for i in range(backend.concurrency)}
