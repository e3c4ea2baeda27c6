"""`agentkit --help` and every command's `--help` read as help should (issue #23, "the first
hour"): a flag shows no value type (`--json`, not `--json <bool>`), the usage line names arguments
as `SUITE [ADDRESS]` (not `{SUITE} [[ADDRESS]]`), the command list gives each command's whole
first sentence on its row, and `run` and `eval` name the offline model."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.cli._help import HelpCommand

runner = CliRunner()
OFFLINE = "python -m agentkit.testing --responder agentkit.testing.offline:researcher --port 8765"
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def help_of(*args: str, columns: int = 100) -> str:
    result = runner.invoke(app, [*args, "--help"], prog_name="agentkit", env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_uses_the_help_command() -> None:
    group = typer.main.get_command(app)
    assert len(COMMANDS) >= 10
    assert all(isinstance(c, HelpCommand) for c in group.commands.values())  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_flags_show_no_value_type_and_the_usage_line_is_plain(command: str) -> None:
    text = help_of(*([command] if command else []))
    assert "<bool>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "[[" not in usage, usage
    assert not re.search(r"\b[a-z_]+_id\b", usage), usage  # arguments in capitals: RUN_ID


def test_the_usage_lines_name_arguments_as_usual() -> None:
    assert "Usage: agentkit eval [OPTIONS] SUITE [ADDRESS]" in help_of("eval")
    assert "Usage: agentkit view [OPTIONS] RUN_ID" in help_of("view")
    assert "Usage: agentkit run [OPTIONS] TASK_FILE" in help_of("run")
    assert re.search(r"--json\s+Print one JSON object", help_of("runs"))


def test_the_command_list_gives_each_description_whole_on_its_row() -> None:
    """Wide enough not to wrap, each command's row holds its whole first paragraph (a docstring's
    line break used to cut `view` and `mcp` mid-sentence)."""
    rows = {}
    for line in help_of(columns=400).splitlines():
        found = re.match(r"│ (\w+)\s+(.*?)\s*│$", line)
        if found:
            rows[found.group(1)] = found.group(2)
    group = typer.main.get_command(app)
    for name in COMMANDS:
        command = group.commands[name]  # type: ignore[attr-defined]
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert rows[name] == first, (name, rows.get(name))
        assert first.endswith((".", ")")), first
    assert rows["view"].endswith("The page works offline.")
    assert rows["mcp"].endswith("never from a run's work dir.")


@pytest.mark.parametrize("command", ["run", "eval"])
def test_run_and_eval_name_the_offline_model(command: str) -> None:
    text = " ".join(help_of(command, columns=200).split())
    assert OFFLINE in text and "tasks/offline.yaml" in text
