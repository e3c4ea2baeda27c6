"""The quickstart's `--live` without an API key: one clear line naming the variable, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.py"


def test_live_without_a_key_says_so_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MOONSHOT_API_KEY"}
    proc = subprocess.run(
        [sys.executable, str(QUICKSTART), "--live"], capture_output=True, text=True, env=env, timeout=120
    )
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and "MOONSHOT_API_KEY" in lines[0], lines
