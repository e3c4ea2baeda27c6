"""Counts given on the command line (#20.9): past their bound, one line and exit 2, never an
internal error from SQLite or a plan that fills memory before anything runs."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from agentkit.store import SQLiteStore

SUITE20 = Path(__file__).parents[1] / "fixtures" / "eval" / "suite20.jsonl"
HUGE = str(10**30)


def _capped_memory() -> None:
    """At most 4 GB of address space: a count that builds a plan of 10**30 attempts fails
    fast with MemoryError instead of taking the machine's memory."""
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))


def agentkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENTKIT_STORE"}
    return subprocess.run(
        [sys.executable, "-m", "agentkit", *args],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        preexec_fn=_capped_memory,
    )


def one_line(done: subprocess.CompletedProcess[str], said: str) -> None:
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stdout + done.stderr
    assert said in lines[0] and "internal error" not in lines[0], lines[0]


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--attempts", HUGE, "--attempts: must be between 1 and 1,000"),
        ("--attempts", "0", "--attempts: must be between 1 and 1,000"),
        ("--concurrency", HUGE, "--concurrency: must be between 1 and 1,024"),
    ],
)
def test_eval_counts_are_bounded(tmp_path: Path, flag: str, value: str, said: str) -> None:
    (tmp_path / "c.yaml").write_text("model: {provider: vllm}\n")
    done = agentkit("eval", str(SUITE20), "--config", "c.yaml", "--store", "s.db", flag, value, cwd=tmp_path)
    one_line(done, said)


def test_runs_limit_is_bounded(tmp_path: Path) -> None:
    async def make_store() -> None:
        async with SQLiteStore(tmp_path / "s.db"):
            pass

    anyio.run(make_store)  # a store to list: past 64 bits, its query raised OverflowError
    for value in (HUGE, "0"):
        one_line(agentkit("runs", "--store", "s.db", "--limit", value, cwd=tmp_path), "--limit: must be between 1")
