"""An API key is used for requests but reaches no trace, output or sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agentkit.testing import FakeProvider, FakeRequest, Turn, call

CANARY = "sk-canary-7f3a9e1b2c4d"


def responder(req: FakeRequest) -> Turn:
    if not req.tools:
        return Turn(content="1. Check the environment.")
    results = [m["content"] for m in req.messages if m["role"] == "tool"]
    if not results:
        return Turn(
            tool_calls=[
                call(
                    "python",
                    code="import os\nprint(sorted(k for k in os.environ if 'KEY' in k))"
                    f"\nprint(any('{CANARY[:9]}' in v for v in os.environ.values()))",
                )
            ]
        )
    return Turn(content=f"sandbox saw: {results[-1]}")


def test_key_never_reaches_store_output_or_sandbox(tmp_path: Path) -> None:
    with FakeProvider(responder, api_key=CANARY) as fake:  # the fake demands the key
        task = tmp_path / "t.yaml"
        task.write_text(f"task: check\nmodel: {{provider: moonshot, base_url: '{fake.base_url}'}}\ntools: [python]\n")
        env = {**{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}, "MOONSHOT_API_KEY": CANARY}
        proc = subprocess.run(
            [sys.executable, "-m", "agentkit", "run", str(task), "--store", str(tmp_path / "s.db"), "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sandbox saw: []\nFalse" in proc.stdout.replace("\\n", "\n")
    assert CANARY not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
