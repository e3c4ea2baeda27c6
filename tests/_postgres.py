"""The PostgreSQL fixtures: one real throwaway cluster per test session
(:class:`agentkit.testing.postgres_server.PostgresServer`, started on first use and stopped at
the end), and a new empty database on it per test.

``postgres_url`` is the fixture to use: ``postgresql://agentkit:PASSWORD@127.0.0.1:PORT/db_x``,
a database of its own for the test. Without the server binaries (or psycopg) it skips with
the reason; CI installs them, and there a skip is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentkit.testing.postgres_server import FAST_SETTINGS, PostgresServer, PostgresServerError, find_bin_dir

MISSING_BINARIES = "PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's cluster (fsync off: it is thrown away)."""
    if find_bin_dir() is None:
        pytest.skip(MISSING_BINARIES)
    pytest.importorskip("psycopg", reason='psycopg is not installed (pip install "agentkit[postgres]")')
    server = PostgresServer(settings=FAST_SETTINGS)
    try:
        server.start()
    except PostgresServerError as exc:
        pytest.fail(f"the throwaway PostgreSQL cluster did not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A URL to a new, empty database on the session's cluster (with its password)."""
    return postgres_server.create_database()


__all__ = ["MISSING_BINARIES", "postgres_server", "postgres_url"]
