"""What a newcomer reads is true: the README's first screen has the two commands of a fresh
machine (after the Python version and the venv step), `.ci/run` runs exactly the README's test
command, every link between the README, tasks/README.md and docs/ resolves, and tasks/README.md
names every provider profile and search backend the code knows."""

from __future__ import annotations

import re
from pathlib import Path

from agentkit.llm.profiles import PROFILES
from agentkit.task.sections import SEARCH_BACKENDS, SEARCH_KEY_VARS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEMO_COMMAND = "pip install -e . && agentkit demo"
TEST_COMMAND = 'pip install -e ".[dev]" && python -m pytest'


def test_tasks_readme_names_every_provider_and_search_backend() -> None:
    text = (ROOT / "tasks" / "README.md").read_text()
    missing = [p for p in PROFILES if f"`{p}`" not in text]
    missing += [b for b in SEARCH_BACKENDS if f"`{b}`" not in text]
    missing += [v for names in SEARCH_KEY_VARS.values() for v in names if f"`{v}`" not in text]
    assert not missing, f"tasks/README.md does not name: {missing}"
