"""What a newcomer reads is true: the README's first screen has the two commands of a fresh
machine (after the Python version and the venv step), `.ci/run` runs exactly the README's test
command, every link between the README, tasks/README.md and docs/ resolves, and tasks/README.md
names every provider profile and search backend the code knows."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

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


def code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_the_first_screen_has_the_python_version_the_venv_and_the_two_commands() -> None:
    text = README.read_text()
    first_screen = "\n".join(text.splitlines()[:40])
    requires = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert requires and f"Python {requires.group(1)} or newer" in first_screen
    assert "externally-managed-environment" in first_screen
    blocks = [b.strip() for b in code_blocks(first_screen, "bash")]
    venv = "python3 -m venv .venv && . .venv/bin/activate"
    assert blocks[:3] == [venv, DEMO_COMMAND, TEST_COMMAND], blocks


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert TEST_COMMAND in ci  # a line of its own, byte for byte
    assert [b.strip() for b in code_blocks(README.read_text(), "bash")].count(TEST_COMMAND) == 1


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


DOCS = [README, ROOT / "tasks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_link_between_the_docs_resolves() -> None:
    broken = []
    for page in DOCS:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor:
                headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken
    readme = README.read_text()
    assert all(f"(docs/{p.name})" in readme for p in DOCS[2:]), "every docs/ page is linked from the README"


def test_the_moved_reference_sections_keep_their_headings() -> None:
    """The README's reference sections live in docs/ under the headings they had there."""
    headings = {h for p in DOCS[2:] for h in re.findall(r"^#+ (.+)$", p.read_text(), re.M)}
    for moved in (
        "Point the same code at a real model",
        "Kimi models: K3 by default; K2.6, K2.7 Code, K2.5, K2 Thinking by name",
        "Python API",
        "Testing your own agents",
        "The command line",
        "What happens during a run",
        "Web search backends",
        "Sub-agents and the swarm",
        "Look at a run: `agentkit view`",
        "Evaluating on benchmarks: `agentkit eval`",
        "Stores: SQLite and PostgreSQL",
        "MCP servers",
        "Using an MCP server's tools",
        "agentkit as an MCP server",
        "Tracing (OpenTelemetry)",
        "Layout",
        "Benchmarks",
    ):
        assert moved in headings, moved


def test_the_readme_task_file_is_valid() -> None:
    from agentkit.task import Task

    (block,) = code_blocks(README.read_text(), "yaml")
    task = Task.from_mapping(yaml.safe_load(block), source="README.md")
    assert task.model.provider == "moonshot" and task.limits.max_cost_usd == 2
