"""The PostgreSQL store by URL, as a user gives it: ``open_store``, ``$AGENTKIT_STORE`` and
the CLI's ``--store`` (``agentkit run`` against the fake provider, ``runs``, ``show``)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from agentkit.cli import app
from agentkit.store import NoteAdded, open_store
from agentkit.store.postgres import PostgresStore
from agentkit.testing import FakeProvider, FakeRequest, Turn, call
from agentkit.testing.conformance import make_run

runner = CliRunner()


def one_clear_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    return " ".join(lines[0].split())


def store_schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(n) for (n,) in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}


@pytest.fixture
def page(pages: str) -> str:
    return f"{pages}/p14"  # "The measured value=42 units."


def reader(page: str) -> Any:
    def respond(req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Read the page.")
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(tool_calls=[call("fetch", url=page)])
        return Turn(content="value=42")

    return respond


@pytest.mark.anyio
async def test_open_store_takes_both_schemes_and_the_environment(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_store(postgres_url) as store:
        assert isinstance(store, PostgresStore)
        await store.create_run(make_run("r"))
    alias = postgres_url.replace("postgresql://", "postgres://", 1)
    monkeypatch.setenv("AGENTKIT_STORE", alias)
    async with open_store(None) as store:
        assert isinstance(store, PostgresStore)
        await store.append("r", NoteAdded(text="via the environment"))
    async with open_store(postgres_url, readonly=True) as store:
        assert [getattr(e.event, "text", "") for e in await store.events("r")] == ["via the environment"]


def test_runs_on_an_empty_database_says_there_is_no_store(postgres_url: str) -> None:
    result = runner.invoke(app, ["runs", "--store", postgres_url])
    line = one_clear_line(result)
    assert result.exit_code == 2
    assert line.startswith("error: no store at postgresql://agentkit:***@127.0.0.1:")
    assert line.endswith("the database holds no agentkit store (schema agentkit)")
    password = psycopg.conninfo.conninfo_to_dict(postgres_url)["password"]
    assert password not in result.output
    assert "agentkit" not in store_schemas(postgres_url)  # a reading command created nothing


def test_an_unreachable_store_is_one_line_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://alice:hunter2-secret@127.0.0.1:{port}/research"
    for args in (["runs"], ["show", "abc"]):
        result = runner.invoke(app, [*args, "--store", url])
        line = one_clear_line(result)
        assert result.exit_code == 2
        assert f"cannot reach the PostgreSQL store, database 'research' at 127.0.0.1:{port}" in line
        assert "hunter2-secret" not in result.output


def test_a_run_into_postgres_then_runs_and_show(
    postgres_url: str, page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTKIT_STORE", postgres_url)
    with FakeProvider(reader(page)) as fake:
        task = tmp_path / "task.yaml"
        task.write_text(
            f"task: 'What value does the page give?'\nmodel: {{provider: custom, base_url: '{fake.base_url}'}}\n"
            "tools: [fetch]\nfetch: {allow_private_hosts: true}\noutput: {report: false}\n"
        )
        result = runner.invoke(app, ["run", str(task), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "finished" and data["answer"] == "value=42"
    listed = runner.invoke(app, ["runs", "--store", postgres_url])  # the flag, as a user types it
    assert listed.exit_code == 0 and "Traceback" not in listed.output
    assert data["run_id"] in listed.output and "finished" in listed.output
    listed_json = json.loads(runner.invoke(app, ["runs", "--json"]).stdout)  # the environment
    assert [r["id"] for r in listed_json] == [data["run_id"]]
    shown = json.loads(runner.invoke(app, ["show", data["run_id"][:6], "--json"]).stdout)
    assert shown["status"] == "finished" and shown["answer"] == "value=42"
    assert sum(e["type"] == "tool_result" for e in shown["events"]) == 1


def test_an_unknown_run_in_a_postgres_store_is_named_without_the_password(postgres_url: str) -> None:
    import anyio

    async def create() -> None:
        async with PostgresStore(postgres_url) as store:
            await store.create_run(make_run("r1"))

    anyio.run(create)
    result = runner.invoke(app, ["show", "nope", "--store", postgres_url])
    line = one_clear_line(result)
    assert result.exit_code == 2 and "no run with id 'nope'" in line
    assert psycopg.conninfo.conninfo_to_dict(postgres_url)["password"] not in result.output


def test_run_files_of_a_database_store_stay_on_this_machine() -> None:
    from agentkit.store._location import work_root

    root = work_root("postgresql://u:secret@db.example/my.db")
    assert root.parent == Path.cwd() / ".agentkit" / "runs"
    assert root.name.startswith("postgresql-db.example-5432-my.db-agentkit-") and "secret" not in str(root)
