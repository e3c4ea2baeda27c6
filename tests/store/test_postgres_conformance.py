"""The Store conformance suite against PostgresStore on a real throwaway cluster: every
spec gets a schema of its own in the session's database (``?schema=`` in the URL)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

import pytest

from agentkit.store import Store
from agentkit.store.postgres import PostgresStore
from agentkit.testing.conformance import CAPABILITIES, StoreConformance, validate
from agentkit.testing.postgres_server import PostgresServer

_schemas = count()


@pytest.fixture(scope="module")
def conformance_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()


class TestPostgresStore(StoreConformance):
    reopen = True

    @pytest.fixture
    def store_factory(self, conformance_url: str) -> Callable[[], Store]:
        url = f"{conformance_url}?schema=spec{next(_schemas)}"
        return lambda: PostgresStore(url)


class TestPostgresStoreDefaultSchemaViaOpenStore(StoreConformance):
    """The URL as a user gives it, through ``open_store``, in a database of its own."""

    reopen = True

    @pytest.fixture
    def store_factory(self, postgres_url: str) -> Callable[[], Store]:
        from agentkit.store import open_store

        return lambda: open_store(postgres_url)


@pytest.mark.anyio
async def test_report_passes_every_capability(conformance_url: str) -> None:
    def fresh() -> Callable[[], Store]:
        url = f"{conformance_url}?schema=report{next(_schemas)}"
        return lambda: PostgresStore(url)

    report = await validate(fresh, name="PostgresStore", reopen=True)
    assert report.conforms(), report.summary()
    assert report.passed == list(CAPABILITIES)
