"""The Store conformance suite against the bundled backends."""

from collections.abc import Callable
from pathlib import Path

import pytest

from agentkit.store import MemoryStore, SQLiteStore, Store
from agentkit.store.conformance import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        return MemoryStore


class TestSQLiteStoreNormal(StoreConformance):
    reopen = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SQLiteStore(tmp_path / "store" / "agentkit.db")


class TestSQLiteStoreFull(StoreConformance):
    reopen = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SQLiteStore(tmp_path / "agentkit.db", synchronous="FULL")


class TestSQLiteStoreInMemory(StoreConformance):
    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        return lambda: SQLiteStore(":memory:")
