"""The PostgreSQL password never reaches what `agentkit eval` prints (issue #20, item 5).

When an eval stops early (SIGTERM, Ctrl-C, an internal error) it says how to resume: the same
command with its ``--store``. That hint was built from the raw flag, password and all. Here a
real ``agentkit eval`` process runs against the real throwaway PostgreSQL server as a role with
a password of its own, is stopped by a real signal while an attempt waits on the model (the
test waits for that request, not for time), and its output is searched for the password.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agentkit.testing import FakeProvider, FakeRequest, Turn
from agentkit.testing.postgres_server import PostgresServer

QUESTION = "What is 6 * 7?"


@pytest.fixture
def store_url(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """``(url, password)``: a new database owned by a new login role with its own password
    (which needs percent-encoding in a URL, as real ones often do)."""
    import psycopg
    from psycopg import sql

    role = f"eval_{secrets.token_hex(4)}"
    password = f"pw/{secrets.token_hex(8)}@!"
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(role), sql.Identifier(role)))
    where = f"{postgres_server.host}:{postgres_server.port}/{role}"
    yield f"postgresql://{role}:{quote(password, safe='')}@{where}", password


class WaitsOnTheModel:
    """The model: its first request blocks until the test releases it (the eval is busy when
    signalled); every request after that answers."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()

    def __call__(self, req: FakeRequest) -> Turn:
        if not self.asked.is_set():
            self.asked.set()
            self.release.wait(120)
        return Turn(content="42") if req.tools else Turn(content="1. Multiply.")


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith(("AGENTKIT_", "PG"))}


def setup(tmp_path: Path, fake: FakeProvider) -> tuple[Path, Path]:
    suite = tmp_path / "suite.jsonl"
    suite.write_text(f'{{"id": "t1", "question": "{QUESTION}", "answer": "42"}}\n')
    config = tmp_path / "eval.yaml"
    config.write_text(f"model: {{provider: custom, base_url: '{fake.base_url}'}}\ntools: []\n")
    return suite, config


def assert_no_password(output: str, url: str, password: str) -> None:
    for secret in (password, quote(password, safe="")):
        assert secret not in output, output[-3000:]
    role = url.split("://", 1)[1].split(":", 1)[0]
    host = url.rsplit("@", 1)[1]
    assert f"--store postgresql://{role}@{host}" in output, output[-3000:]  # the command, less the password


@pytest.mark.parametrize(
    ("how", "code", "said"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted (Ctrl-C)")],
)
def test_a_stopped_eval_says_how_to_resume_without_the_password(
    tmp_path: Path, store_url: tuple[str, str], how: signal.Signals, code: int, said: str
) -> None:
    url, password = store_url
    model = WaitsOnTheModel()
    with FakeProvider(model) as fake:
        suite, config = setup(tmp_path, fake)
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentkit", "eval", str(suite), "--config", str(config), "--store", url],
            cwd=tmp_path,
            env=env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert model.asked.wait(120), "the eval never asked the model"
            proc.send_signal(how)
            out, err = proc.communicate(timeout=120)
        finally:
            model.release.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == code, err[-3000:]
    text = " ".join((out + err).split())
    assert said in text and "run the same command" in text and "Traceback" not in text
    assert_no_password(text, url, password)
    assert "set PGPASSWORD" in text


def test_an_internal_error_says_how_to_resume_without_the_password(tmp_path: Path, store_url: tuple[str, str]) -> None:
    url, password = store_url
    (tmp_path / "out" / "summary.html").mkdir(parents=True)  # the summary cannot be written: not an input error
    model = WaitsOnTheModel()
    model.release.set()
    with FakeProvider(model) as fake:
        suite, config = setup(tmp_path, fake)
        done = subprocess.run(
            [sys.executable, "-m", "agentkit", "eval", str(suite), "--config", str(config), "--store", url,
             "--out", "out"],
            cwd=tmp_path, env=env(), text=True, capture_output=True, timeout=300,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    text = " ".join((done.stdout + done.stderr).split())
    assert "internal error: IsADirectoryError" in text and "to resume" in text
    assert_no_password(text, url, password)
