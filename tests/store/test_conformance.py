"""The Store conformance suite against the bundled backends, and its runner's report."""

from collections.abc import Callable
from itertools import count
from pathlib import Path

import pytest

from agentkit.store import MemoryStore, RunInfo, SQLiteStore, Store
from agentkit.testing.conformance import (
    CAPABILITIES,
    SPECS,
    Capability,
    StoreConformance,
    StoreFactory,
    validate,
)


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


# -- the suite's shape and its runner ----------------------------------------------------


def test_every_capability_has_specs_and_every_spec_a_unique_id() -> None:
    assert {s.capability for s in SPECS} == set(CAPABILITIES)
    assert len({s.id for s in SPECS}) == len(SPECS)


def sqlite_files(root: Path) -> Callable[[], StoreFactory]:
    """A factory over a new, empty store file per spec."""
    numbers = count()

    def fresh() -> StoreFactory:
        path = root / f"spec{next(numbers)}" / "agentkit.db"
        return lambda: SQLiteStore(path)

    return fresh


@pytest.mark.anyio
async def test_report_of_a_persistent_backend_passes_every_capability(tmp_path: Path) -> None:
    report = await validate(sqlite_files(tmp_path), name="SQLiteStore", reopen=True)
    assert report.conforms(), report.summary()
    assert report.passed == list(CAPABILITIES)
    assert len(report.results) == len(SPECS)
    assert report.summary().splitlines()[0] == "Store conformance of SQLiteStore: conforms"


@pytest.mark.anyio
async def test_report_says_persistence_does_not_apply_to_a_memory_store() -> None:
    report = await validate(lambda: MemoryStore, name="MemoryStore")
    assert report.conforms(), report.summary()
    assert report.not_applicable == [Capability.PERSISTENCE]
    assert report.failed == []
    assert "persistence" in report.summary() and "not applicable" in report.summary()


class OldestFirstStore(MemoryStore):
    """A real backend with one bug: it lists runs oldest first."""

    async def list_runs(self, *, parent_id: str | None = None, limit: int = 100) -> list[RunInfo]:
        runs = [r for r in self._runs.values() if r.parent_id == parent_id]
        runs.sort(key=lambda r: r.created_at)
        return [r.model_copy(deep=True) for r in runs[:limit]]


@pytest.mark.anyio
async def test_report_names_the_failing_capability_spec_and_line() -> None:
    report = await validate(lambda: OldestFirstStore, name="OldestFirstStore")
    assert not report.conforms()
    assert report.failed == [Capability.RUNS]
    assert [c for c in CAPABILITIES if c not in report.failed and c not in report.not_applicable] == report.passed
    (failure,) = report.failures
    assert failure.name == "list_runs_newest_first_with_parent_filter"
    assert "AssertionError" in failure.detail and "spec/runs.py:" in failure.detail
    assert "store.list_runs()" in failure.detail
    assert "DOES NOT CONFORM" in report.summary()


@pytest.mark.anyio
async def test_runner_checks_only_the_capabilities_asked_for() -> None:
    report = await validate(lambda: MemoryStore, capabilities=[Capability.BLOBS, Capability.LEASES])
    assert {r.capability for r in report.results} == {Capability.BLOBS, Capability.LEASES}
    assert report.passed == [Capability.BLOBS, Capability.LEASES]
    assert not report.conforms()  # the other required capabilities were not checked


class NamespaceBlindStore(MemoryStore):
    """A real backend with one bug: its cache ignores the namespace."""

    async def get_cached(self, namespace: str, key: str) -> bytes | None:
        return await super().get_cached("", key)

    async def put_cached(self, namespace: str, key: str, value: bytes) -> None:
        await super().put_cached("", key, value)


@pytest.mark.anyio
async def test_a_cache_that_mixes_namespaces_fails_the_cache_capability() -> None:
    report = await validate(lambda: NamespaceBlindStore, name="NamespaceBlindStore")
    assert report.failed == [Capability.CACHE]
    assert {f.name for f in report.failures} == {
        "cached_values_by_namespace_and_key_last_write_wins",
        "any_bytes_under_any_text_key",
    }
