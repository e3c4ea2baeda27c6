"""`agentkit run` with no model named runs a current model (kimi-k3 on moonshot), and the
request obeys K3's rules at the strict fake."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.testing import FakeProvider, Turn


def test_a_task_file_naming_no_model_runs_kimi_k3(tmp_path: Path) -> None:
    with FakeProvider([Turn(content="1. Answer."), Turn(content="42", reasoning="easy")]) as fake:
        task = tmp_path / "t.yaml"
        task.write_text(
            f"task: q\nmodel: {{provider: moonshot, base_url: '{fake.base_url}', api_key_env: KIMI_KEY}}\n"
            "tools: [note]\noutput: {report: false}\n"
        )
        result = CliRunner().invoke(
            app, ["run", str(task), "--store", str(tmp_path / "s.db"), "--json"], env={"KIMI_KEY": "k"}
        )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] == "42"
    assert fake.errors == [] and {r.body["model"] for r in fake.requests} == {"kimi-k3"}
    assert all("temperature" not in r.body and "max_completion_tokens" in r.body for r in fake.requests)
