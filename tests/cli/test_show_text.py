"""`agentkit show` prints model and tool text as data: never as rich markup (the live view: test_live_view)."""

from __future__ import annotations

from pathlib import Path

import anyio
from typer.testing import CliRunner

from agentkit import Agent, tool
from agentkit.cli import app
from agentkit.store import SQLiteStore
from agentkit.testing import ScriptedModel, Turn, call

runner = CliRunner()


@tool
async def lookup(term: str) -> str:
    """Look a term up."""
    raise RuntimeError(f"no entry for [red]{term}[/]")


def test_show_prints_markup_like_text_literally(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    plan = "1. Run the code in [python]...[/python]\n2. Answer [bold]briefly[/bold]"
    script = [
        Turn(content=plan),
        Turn(tool_calls=[call("lookup", term="[/x]")]),
        Turn(content="The answer is [/] 42 [link=http://x]here[/link]."),
    ]

    async def make() -> str:
        async with SQLiteStore(db) as store:
            agent = Agent(llm=ScriptedModel(script), tools=[lookup], store=store)
            return (await agent.run("What is [cyan]x[/cyan]?")).run_id

    run_id = anyio.run(make)
    result = runner.invoke(app, ["show", run_id, "--store", str(db)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "[python]...[/python]" in text and "[bold]briefly[/bold]" in text  # the plan, verbatim
    assert "What is [cyan]x[/cyan]?" in text and "[/] 42 [link=http://x]here[/link]" in text
    assert "no entry for [red][/x][/]" in text  # a tool's error text
    assert "[bold]task[/]" not in text and "[cyan]step" not in text  # our own styling is not printed as tags
    assert "\ntask\n" in text and "step 1 lookup" in text
