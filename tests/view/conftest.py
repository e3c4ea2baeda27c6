"""Runs built once per session (the real loop against the fake provider, a real SQLite store)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit.store import SQLiteStore

from .runs import Forked, forked_runs, heavy_run, hostile_run, long_run


@dataclass(frozen=True)
class Built:
    store: Path
    run_id: str


def _build(path: Path, make: Callable[[SQLiteStore], Coroutine[Any, Any, str]]) -> Built:
    async def go() -> str:
        store = SQLiteStore(path)
        try:
            return await make(store)
        finally:
            await store.aclose()

    return Built(path, anyio.run(go))


@pytest.fixture(scope="session")
def long_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("long") / "s.db", long_run)


@pytest.fixture(scope="session")
def heavy_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("heavy") / "s.db", lambda s: heavy_run(s, 3))


@pytest.fixture(scope="session")
def hostile_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("hostile")
    return _build(tmp / "s.db", lambda s: hostile_run(s, tmp))


@pytest.fixture(scope="session")
def demo_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    from agentkit.cli._demo import run_demo

    tmp = tmp_path_factory.mktemp("demo")

    async def make(store: SQLiteStore) -> str:
        return (await run_demo(tmp / "out", store, tmp / "runs")).result.run_id

    return _build(tmp / "s.db", make)


@dataclass(frozen=True)
class BuiltForks:
    store: Path
    runs: Forked


@pytest.fixture(scope="session")
def forks_built(tmp_path_factory: pytest.TempPathFactory) -> BuiltForks:
    path = tmp_path_factory.mktemp("forks") / "s.db"

    async def go() -> Forked:
        store = SQLiteStore(path)
        try:
            return await forked_runs(store)
        finally:
            await store.aclose()

    return BuiltForks(path, anyio.run(go))
