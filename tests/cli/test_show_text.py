"""`agentkit show` prints model and tool text as data: never as rich markup (the live view: test_live_view)."""

from __future__ import annotations

import re
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


def test_show_cuts_long_arguments_on_a_boundary_and_marks_the_cut(tmp_path: Path) -> None:
    """A long argument is cut after a whole word (never inside one, nor inside an escape such as
    ``\\n``), ends with ``…`` and the count of characters left out; short ones are shown whole."""
    db = tmp_path / "s.db"
    code = "import statistics\n\nvalues = [" + ", ".join(str(1000 + i) for i in range(60)) + "]\nprint(values)"
    script = [
        Turn(content="1. Look it up."),
        Turn(tool_calls=[call("lookup", term=code), call("lookup", term="short")]),
        Turn(content="done"),
    ]

    async def make() -> str:
        async with SQLiteStore(db) as store:
            agent = Agent(llm=ScriptedModel(script), tools=[lookup], store=store)
            return (await agent.run("Look up the code.")).run_id

    run_id = anyio.run(make)
    result = runner.invoke(app, ["show", run_id, "--store", str(db)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("step 1 "))
    full = 'term="' + code.replace("\n", "\\n")
    shown, rest = line.removeprefix("step 1 lookup(").split("… +", 1)
    assert full.startswith(shown) and full[len(shown)] in " ,"  # cut where a word ended
    left_out = int(rest.split(" chars)", 1)[0].replace(",", ""))
    assert len(shown) + left_out == len(full) + 1  # + the closing quote
    assert rest.endswith(' chars), lookup(term="short")')
    error = next(x for x in result.output.splitlines() if "lookup error:" in x)
    assert re.search(r"no entry for \[red\]import statistics.*… \+[\d,]+ chars$", error.rstrip()), error
