"""What a spec is and what it is given: the backend under test, a way to expect an
exception, and a way to say the spec does not apply. No pytest here: the specs run under
the pytest suite and under :func:`~agentkit.testing.conformance.validate` alike."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from agentkit.store.base import Store
from agentkit.testing.conformance.capabilities import Capability

StoreFactory = Callable[[], Store | Awaitable[Store]]
"""Builds a store (or an awaitable of one) over the same backing data every time it is called."""

E = TypeVar("E", bound=BaseException)


class NotApplicable(Exception):
    """Raised by a spec that cannot apply to this backend (reported, never a failure)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def open_from(factory: StoreFactory) -> Store:
    made = factory()
    store = await made if inspect.isawaitable(made) else made
    assert isinstance(store, Store), f"store_factory returned {type(store).__name__}, not a Store"
    return store


@dataclass
class Backend:
    """The backend under test, as one spec sees it: ``factory`` builds stores over data that
    is empty when the spec starts."""

    factory: StoreFactory
    reopen: bool = False
    """True for persistent backends: data must survive ``aclose()`` and a new instance."""
    concurrency: int = 50
    """Concurrent appending tasks in the gapless-seq spec."""
    _open: list[Store] = field(default_factory=list)

    async def open(self) -> Store:
        """A new store over the backend's data, closed after the spec unless closed by it."""
        store = await open_from(self.factory)
        self._open.append(store)
        return store

    async def close(self, store: Store) -> None:
        """Close a store opened by :meth:`open` now (a spec that checks reopening)."""
        self._open.remove(store)
        await store.aclose()

    async def close_all(self) -> None:
        while self._open:
            await self._open.pop().aclose()


SpecFn = Callable[[Backend], Awaitable[None]]


@dataclass(frozen=True)
class Spec:
    """One check of one capability."""

    capability: Capability
    name: str
    run: SpecFn = field(repr=False)
    doc: str = ""

    @property
    def id(self) -> str:
        return f"{self.capability.value}-{self.name}"


_REGISTERED: list[Spec] = []


def spec(capability: Capability) -> Callable[[SpecFn], SpecFn]:
    """Register the decorated ``async def name(backend)`` as a spec of ``capability``."""

    def register(fn: SpecFn) -> SpecFn:
        _REGISTERED.append(Spec(capability, fn.__name__, fn, inspect.getdoc(fn) or ""))
        return fn

    return register


def registered() -> tuple[Spec, ...]:
    """Every registered spec, grouped by capability in the order capabilities are listed."""
    order = list(Capability)
    return tuple(sorted(_REGISTERED, key=lambda s: order.index(s.capability)))


class Raised(Generic[E]):
    """The exception a :func:`raises` block raised (``.value``)."""

    value: E


@contextmanager
def raises(kind: type[E]) -> Iterator[Raised[E]]:
    """Expect the block to raise ``kind`` (as ``pytest.raises``, without needing pytest)."""
    info: Raised[E] = Raised()
    try:
        yield info
    except kind as exc:
        info.value = exc
        return
    raise AssertionError(f"expected {kind.__name__} to be raised, and nothing was")


__all__ = [
    "Backend",
    "NotApplicable",
    "Raised",
    "Spec",
    "SpecFn",
    "StoreFactory",
    "open_from",
    "raises",
    "registered",
    "spec",
]
