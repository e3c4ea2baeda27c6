"""The offline model the README, tasks/offline.yaml and `agentkit run --help` / `eval --help`
document: started as documented (`python -m agentkit.testing --responder
agentkit.testing.offline:researcher`), `agentkit run tasks/offline.yaml` and `agentkit eval
tasks/eval/sample.jsonl --config tasks/offline.yaml` work against it, offline, from the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPE = "python -m agentkit.testing --responder agentkit.testing.offline:researcher --port 8765"


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


@pytest.fixture
def offline_model() -> Iterator[str]:
    """The documented command, on a port the system picks (8765 may be taken here)."""
    args = RECIPE.replace("python", sys.executable, 1).replace("--port 8765", "--port 0").split()
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env())
    assert proc.stdout is not None and proc.stdin is not None
    ready = proc.stdout.readline()  # blocks until the server listens
    assert ready.startswith("READY http://127.0.0.1:"), ready
    try:
        yield ready.split()[1]
    finally:
        proc.stdin.close()  # the server ends when its stdin closes
        proc.wait(timeout=30)


def offline_task(tmp_path: Path, base_url: str) -> Path:
    """tasks/offline.yaml and its corpus, pointed at the port the model got."""
    shutil.copytree(ROOT / "tasks" / "offline-corpus", tmp_path / "offline-corpus")
    text = (ROOT / "tasks" / "offline.yaml").read_text()
    assert "http://127.0.0.1:8765/v1" in text and RECIPE in text  # the file says how to start the model
    task = tmp_path / "offline.yaml"
    task.write_text(text.replace("http://127.0.0.1:8765/v1", base_url))
    return task


def agentkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit", *args], cwd=cwd, env=env(), text=True, capture_output=True, timeout=600
    )


def test_the_documented_offline_model_runs_a_task_file(tmp_path: Path, offline_model: str) -> None:
    task = offline_task(tmp_path, offline_model)
    done = agentkit("run", str(task), "--store", "s.db", "--out", "out", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "finished" and result["tool_calls"] == 2
    assert result["answer"].startswith("At standard sea-level pressure, water boils at 100 degrees Celsius")
    assert "212 degrees Fahrenheit. [S" in result["answer"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| supported | 1 |" in report and "| unsupported | 0 |" in report


def test_the_documented_offline_model_runs_an_eval(tmp_path: Path, offline_model: str) -> None:
    task = offline_task(tmp_path, offline_model)
    suite = ROOT / "tasks" / "eval" / "sample.jsonl"
    done = agentkit(
        "eval", str(suite), "--config", str(task), "--limit", "2", "--store", "s.db", "--out", "ev", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert (summary["tasks"], summary["runs"], summary["graded"], summary["failed"]) == (2, 2, 2, 0)
    assert summary["complete"] and summary["cost_usd"] == 0
    results = [json.loads(line) for line in (tmp_path / summary["results"]).read_text().splitlines()]
    assert [(r["status"], r["grade"]) for r in results] == [("finished", "incorrect")] * 2  # it knows nothing
    assert "212 degrees Fahrenheit" in {r["id"]: r for r in results}["boiling-point"]["answer"]
    assert (tmp_path / "ev" / "summary.html").is_file()


def test_the_task_file_is_a_valid_task_and_the_docs_give_the_recipe() -> None:
    spec = yaml.safe_load((ROOT / "tasks" / "offline.yaml").read_text())
    assert spec["model"] == {"provider": "custom", "base_url": "http://127.0.0.1:8765/v1"}
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert RECIPE in readme and "agentkit run tasks/offline.yaml" in readme
