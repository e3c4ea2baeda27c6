"""`agentkit demo`: the whole product offline, and `agentkit report` from the store."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.store import SQLiteStore
from agentkit.store.events import BudgetDecision, ToolResultEvent

runner = CliRunner()


def test_demo_runs_end_to_end_and_the_report_regenerates_offline(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "out"), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "SCRIPTED DEMO" in result.output
    md = (tmp_path / "out" / "report.md").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    assert "## References" in md and "Annual Report 2024" in md
    assert "[[1]](#ref-1)" in md and "S0badc0de" in md  # the invented id was removed and reported
    # the planted claims, and only they, are marked: every other cited sentence is supported
    assert "| supported | 6 |" in md and "| weak | 0 |" in md and "| unsupported | 2 |" in md
    assert md.count("\\[unsupported\\]") == 1 and md.count("\\[unsupported: no citation\\]") == 1
    # the invented id leaves a mark where it was, and its sentence, now without a citation, is flagged
    assert (
        "The scheme is the largest in the region \\[citation removed: unknown source S0badc0de\\]. "
        "\\[unsupported: no citation\\]" in md
    )
    assert "students commuting to the campus [[3]](#ref-3)\\[unsupported\\]" in md
    assert "<script" not in html and 'id="ref-1"' in html and "data:image/png;base64," in html
    run_id = re.search(r"agentkit show (\w+)", result.output).group(1)  # type: ignore[union-attr]

    async def trace() -> list[object]:
        s = SQLiteStore(store)
        try:
            return [e.event for e in await s.events(run_id)]
        finally:
            await s.aclose()

    events = anyio.run(trace)
    assert any(isinstance(e, BudgetDecision) and e.action == "prune" for e in events)
    python = [e for e in events if isinstance(e, ToolResultEvent) and e.name == "python"]
    assert python and python[0].attachments and "139%" in python[0].text
    again = runner.invoke(
        app, ["report", run_id[:8], "--store", str(store), "--format", "html", "-o", str(tmp_path / "again.html")]
    )
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.html").read_text() == html
    missing = runner.invoke(app, ["report", "nope", "--store", str(store)])
    assert missing.exit_code == 2
