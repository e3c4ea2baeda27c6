"""Task files the CLI tests run: the model is the fake, the one tool fetches loopback pages."""

from __future__ import annotations

from pathlib import Path

from agentkit.testing import FakeProvider


def pages_task(
    tmp_path: Path,
    fake: FakeProvider,
    pages: str,
    *,
    question: str = "Read the page at",
    extra: str = "",
    name: str = "task.yaml",
) -> Path:
    """The question ends with the pages URL (the scripted responders read it from there)."""
    path = tmp_path / name
    path.write_text(
        f"task: '{question} {pages}'\n"
        f"model: {{provider: custom, base_url: '{fake.base_url}'}}\n"
        "tools: [fetch]\nfetch: {allow_private_hosts: true}\noutput: {report: false}\n" + extra
    )
    return path
